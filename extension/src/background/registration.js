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

/** Bring the registered content script in line with `settings`. */
export async function syncRegistration(scripting, permissions, settings) {
  const matches = await wantedMatches(settings, permissions);
  const current = await scripting.getRegisteredContentScripts({ ids: [SCRIPT_ID] });
  if (matches.length === 0) {
    if (current.length) await scripting.unregisterContentScripts({ ids: [SCRIPT_ID] });
    return matches;
  }
  const script = {
    id: SCRIPT_ID,
    js: CONTENT_FILES,
    matches,
    runAt: "document_start",
    allFrames: true,
    persistAcrossSessions: true,
  };
  if (current.length === 0) {
    await scripting.registerContentScripts([script]);
  } else if (JSON.stringify([...(current[0].matches || [])].sort()) !== JSON.stringify(matches)) {
    await scripting.updateContentScripts([script]);
  }
  return matches;
}

/** Inject the content script into an already open tab (the user just switched its site on). */
export async function injectNow(scripting, tabId) {
  await scripting.executeScript({ target: { tabId, allFrames: true }, files: CONTENT_FILES });
}
