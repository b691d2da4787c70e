// The background's entry point: wires the transport, the settings cache, the badge, the
// content-script registration, the cloak jobs and the pages' API together. No logic here.

import { badgeState, showBadge } from "./badge.js";
import { PageApi } from "./api.js";
import { needsPoll, StatusPoll } from "./poll.js";
import { syncRegistration } from "./registration.js";
import { SettingsCache } from "./settings.js";
import { Transport } from "./transport.js";
import { UploadJobs } from "./uploads.js";

const log = (...args) => console.log("[cloaker]", ...args);
const HELP_PAGES = { cloaking: "pages/cloaking.html", install: "pages/install.html" };

/** A content script's "what cloaking does" link: open our own page, nothing else. */
function openHelp(message, sender) {
  if (message?.type !== "help" || !sender?.tab || !HELP_PAGES[message.page]) return false;
  chrome.tabs.create({ url: chrome.runtime.getURL(HELP_PAGES[message.page]), index: sender.tab.index + 1 });
  return false;
}

let registration = Promise.resolve();
function resync(settings) {
  registration = registration
    .then(() => syncRegistration(chrome.scripting, chrome.permissions, settings))
    .then((matches) => log("content script on", matches.join(" ") || "(no site)"))
    .catch((err) => log("registration failed:", err?.message || err));
}

let lastSites = null;
let poll = null;
const cache = new SettingsCache({
  storage: chrome.storage.local,
  onChange: (c) => {
    showBadge(chrome.action, badgeState(c)).catch(() => {});
    poll?.kick();
    const sites = JSON.stringify(c.settings.sites);
    if (sites !== lastSites) {
      lastSites = sites;
      resync(c.settings);
    }
  },
});

async function refresh() {
  const [status, settings] = await Promise.all([
    transport.call("status"),
    transport.call("settings.get"),
  ]);
  const s = status.message.data;
  await cache.setHelper({
    state: s.state,
    device: s.device,
    version: s.version,
    limits: s.limits || null,
    error: s.error || null,
  });
  await cache.setSettings(settings.message.data);
}

const transport = new Transport({
  runtime: chrome.runtime,
  onPush: (message) => {
    if (message.type === "settings.changed") cache.setSettings(message.data);
    else log("message from the helper:", JSON.stringify(message));
  },
  onState: (connection, error) => {
    log("helper", connection, error ? `(${error.code}: ${error.message})` : "");
    // A retry ("connecting") keeps the last error: the popup goes on saying why (e.g. the
    // helper is not installed) instead of flickering to "connecting".
    const fields = { connection };
    if (connection !== "connecting") fields.error = error ? { code: error.code, message: error.message } : null;
    cache.setHelper(connection === "connected" ? fields : { ...fields, state: null });
    if (connection === "connecting") refresh().catch((err) => log("refresh failed:", err.message));
  },
});

poll = new StatusPoll({ refresh, wanted: () => needsPoll(cache.helper) });

const jobs = new UploadJobs({ transport, cache, onJobs: (n) => cache.setHelper({ jobs: n }) });
const api = new PageApi({
  transport,
  cache,
  refresh,
  scripting: chrome.scripting,
  extensionOrigin: chrome.runtime.getURL(""),
});

chrome.runtime.onConnect.addListener((port) => jobs.accept(port));
chrome.runtime.onMessage.addListener(api.listener);
chrome.runtime.onMessage.addListener(openHelp);
chrome.permissions.onAdded.addListener(() => resync(cache.settings));
chrome.permissions.onRemoved.addListener(() => resync(cache.settings));

cache.load().then(() => transport.connect());
