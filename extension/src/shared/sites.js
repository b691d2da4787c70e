// Site matching for the allowlist. Pure functions, no browser APIs (unit-tested under node).
//
// Written as a classic script that sets `globalThis.CloakerSites`, so the same file serves the
// content script (classic scripts only) and the ES modules of the background, popup and
// options pages (`import "../shared/sites.js"` for its side effect).
//
// The daemon owns the allowlist (PROTOCOL.md, section 6): a list of {host, enabled}. An entry
// covers its host and every subdomain of it ("facebook.com" covers "www.facebook.com"); an
// IP address or "localhost" covers exactly that host, on any port. A host is protected when
// protection is on and the most specific entry that covers it is enabled.

globalThis.CloakerSites ??= (() => {
  const IPV4 = /^\d{1,3}(\.\d{1,3}){3}$/;
  const LABEL = /^(?!-)[a-z0-9-]{1,63}(?<!-)$/;

  function isIpOrLocal(host) {
    return IPV4.test(host) || host === "localhost";
  }

  /** True when `host` is a syntactically valid allowlist entry. */
  function isValidSite(host) {
    if (typeof host !== "string" || host.length === 0 || host.length > 253) return false;
    if (IPV4.test(host)) return host.split(".").every((n) => Number(n) <= 255);
    if (host === "localhost") return true;
    const labels = host.split(".");
    return labels.length >= 2 && labels.every((l) => LABEL.test(l));
  }

  /**
   * Turn what a user typed, or a page's address, into an allowlist entry, or null.
   * Accepts "https://www.Example.com/path", "example.com", "*.example.com", "example.com:8080".
   * A leading "www." is dropped so that one entry covers the whole site.
   */
  function normalizeSite(input) {
    if (typeof input !== "string") return null;
    let text = input.trim().toLowerCase();
    if (!text) return null;
    if (!/^[a-z][a-z0-9+.-]*:\/\//.test(text)) text = `http://${text.replace(/^\*\./, "")}`;
    let url;
    try {
      url = new URL(text);
    } catch {
      return null;
    }
    if (url.protocol !== "http:" && url.protocol !== "https:") return null;
    let host = url.hostname.replace(/\.$/, "");
    if (host.startsWith("www.") && host.split(".").length > 2) host = host.slice(4);
    return isValidSite(host) ? host : null;
  }

  /** The host name of an http(s) URL, or null. */
  function hostOf(url) {
    try {
      const parsed = new URL(url);
      if (parsed.protocol !== "http:" && parsed.protocol !== "https:") return null;
      return parsed.hostname.replace(/\.$/, "").toLowerCase();
    } catch {
      return null;
    }
  }

  /** True when `host` is covered by the entry `site`. */
  function hostMatches(host, site) {
    const h = String(host).toLowerCase().replace(/\.$/, "");
    if (h === site) return true;
    return !isIpOrLocal(site) && h.endsWith(`.${site}`);
  }

  /** The most specific entry of `sites` ([{host, enabled}]) that covers `host`, or null. */
  function entryFor(host, sites) {
    let best = null;
    for (const entry of sites || []) {
      if (!entry || !hostMatches(host, entry.host)) continue;
      if (!best || entry.host.length > best.host.length) best = entry;
    }
    return best;
  }

  /** True when photos uploaded on `host` must be cloaked under `settings`. */
  function isProtected(host, settings) {
    if (!host || !settings || !settings.protection) return false;
    const entry = entryFor(host, settings.sites);
    return Boolean(entry && entry.enabled);
  }

  /** Match patterns (content scripts, host permissions) covering what the entry covers. */
  function matchPatterns(site) {
    return isIpOrLocal(site) ? [`*://${site}/*`] : [`*://*.${site}/*`];
  }

  return { entryFor, hostMatches, hostOf, isProtected, isValidSite, matchPatterns, normalizeSite };
})();
