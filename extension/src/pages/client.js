// What the popup and the options page share: talking to the background and reading the
// settings it mirrors into storage.local.

import "../shared/sites.js";

export const Sites = globalThis.CloakerSites;

/** Ask the background; rejects with an Error carrying `.code` when it answers an error. */
export async function ask(message) {
  const reply = await chrome.runtime.sendMessage(message);
  if (reply?.error) throw Object.assign(new Error(reply.error.message), { code: reply.error.code });
  return reply;
}

/** Change the daemon's settings (PROTOCOL.md, settings.set). */
export function setSettings(data) {
  return ask({ type: "settings.set", data });
}

/** Call `render({settings, helper, known})` now and on every change. */
export async function watchState(render) {
  let state = await ask({ type: "state" });
  render(state);
  chrome.storage.onChanged.addListener((changes, area) => {
    if (area !== "local" || (!changes.settings && !changes.helper)) return;
    state = {
      ...state,
      settings: changes.settings?.newValue ?? state.settings,
      helper: changes.helper?.newValue ?? state.helper,
    };
    render(state);
  });
  ask({ type: "refresh" }).catch(() => {});
}

/**
 * Ask for the host permission a site needs. Must be called synchronously from a click or
 * submit handler (the browser only shows its prompt during a user gesture).
 */
export function requestSite(host) {
  return chrome.permissions.request({ origins: Sites.matchPatterns(host) });
}

/** Whether Cloaker may run on `host` (its host permission is granted). */
export function hasAccess(host) {
  return chrome.permissions.contains({ origins: Sites.matchPatterns(host) });
}

/** Words for an error code. */
export function describeError(err) {
  if (["disconnected", "not_connected", "daemon_unavailable", "daemon_lost"].includes(err.code)) {
    return "The Cloaker helper is not connected, so settings cannot be changed now.";
  }
  return err.message || String(err);
}

/**
 * What the popup says about a helper that is not connected: {text, install} (install: show
 * the "how to install" link), or null when it is connected. The browsers' own words for a
 * missing host ("Specified native messaging host not found.", "No such native application
 * com.cloaker.host") are not shown: they tell the user nothing they can act on.
 */
export function helperProblem(helper) {
  if (!helper || helper.connection === "connected") return null;
  const error = helper.error;
  const raw = String(error?.message || "");
  const missing = /native messaging host not found|no such native application|not allowed|access to the specified native messaging host is forbidden/i.test(raw);
  if (missing || (error?.code === "not_connected" && !raw)) {
    return {
      text: 'The Cloaker helper is not installed for this browser. Run "cloaker install" on this computer, then restart the browser.',
      install: true,
    };
  }
  if (error?.code === "not_connected") {
    return { text: `The Cloaker helper could not start (${raw}). Running "cloaker install" again may fix it.`, install: true };
  }
  if (helper.connection === "connecting") return { text: "Connecting to the Cloaker helper…", install: false };
  return {
    text: raw ? `The Cloaker helper stopped (${raw}). Cloaker is trying again.` : "The Cloaker helper is not connected.",
    install: false,
  };
}
