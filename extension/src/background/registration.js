// Registers the content script dynamically, only for the allowlisted sites that are enabled
// and whose host permission the user has granted. Sites that are not on the list never get
// the content script at all.

import "../shared/sites.js";

const { matchPatterns } = globalThis.CloakerSites;

export const SCRIPT_ID = "cloaker-uploads";
export const CONTENT_FILES = [
  "shared/sites.js",
  "shared/bytes.js",
  "content/overlay.js",
  "content/intercept.js",
];
/** The main-world hook (page-hook.js): reports file inputs, hides what we cannot swap. */
export const PAGE_SCRIPT_ID = "cloaker-page-hook";
export const PAGE_FILES = ["content/page-hook.js"];

/** The match patterns the content script should run on, given the settings and permissions. */
export async function wantedMatches(settings, permissions) {
  const out = [];
  for (const entry of settings.sites) {
    if (!entry.enabled) continue;
    const patterns = matchPatterns(entry.host);
    if (await permissions.contains({ origins: patterns })) out.push(...patterns);
  }
  return [...new Set(out)].sort();
}

/**
 * The two scripts for `matches`: the isolated content script and the main-world hook, both at
 * document_start in every frame, including about:blank, srcdoc and blob: frames of a listed
 * site (matchOriginAsFallback: they match by the origin that created them).
 */
export function scriptsFor(matches) {
  const common = {
    matches,
    runAt: "document_start",
    allFrames: true,
    matchOriginAsFallback: true,
    persistAcrossSessions: true,
  };
  return [
    { id: PAGE_SCRIPT_ID, js: PAGE_FILES, world: "MAIN", ...common },
    { id: SCRIPT_ID, js: CONTENT_FILES, ...common },
  ];
}

/** Bring the registered content scripts in line with `settings`. */
export async function syncRegistration(scripting, permissions, settings) {
  const matches = await wantedMatches(settings, permissions);
  const ids = [PAGE_SCRIPT_ID, SCRIPT_ID];
  const current = await scripting.getRegisteredContentScripts({ ids });
  if (matches.length === 0) {
    if (current.length) await scripting.unregisterContentScripts({ ids: current.map((s) => s.id) });
    return matches;
  }
  const same = (s) => JSON.stringify([...(s.matches || [])].sort()) === JSON.stringify(matches);
  if (current.length === ids.length && current.every(same)) return matches;
  // Re-register both: a partial set (an older version registered only one) is replaced whole.
  if (current.length) await scripting.unregisterContentScripts({ ids: current.map((s) => s.id) });
  await scripting.registerContentScripts(scriptsFor(matches));
  return matches;
}

/** Inject the content script into an already open tab (the user just switched its site on). */
export async function injectNow(scripting, tabId) {
  const target = { tabId, allFrames: true };
  await scripting.executeScript({ target, files: PAGE_FILES, world: "MAIN" });
  await scripting.executeScript({ target, files: CONTENT_FILES });
}
