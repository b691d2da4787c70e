// The daemon's default settings (PROTOCOL.md, section 6), used until the helper has answered
// once. The manifests' host_permissions cover exactly these sites (a unit test checks it).

export const DEFAULT_SITES = [
  "facebook.com",
  "instagram.com",
  "threads.net",
  "x.com",
  "twitter.com",
  "linkedin.com",
  "tiktok.com",
  "reddit.com",
  "pinterest.com",
  "tumblr.com",
  "flickr.com",
  "vk.com",
  "bsky.app",
  "mastodon.social",
  "snapchat.com",
  "weibo.com",
  "ok.ru",
  "vsco.co",
  "500px.com",
  "okcupid.com",
];

export const DEFAULT_SETTINGS = {
  version: 1,
  protection: true,
  mode: "mid",
  sites: DEFAULT_SITES.map((host) => ({ host, enabled: true })),
};

export const MODES = ["low", "mid", "high"];
