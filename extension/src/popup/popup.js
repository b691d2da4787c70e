// The toolbar popup: this site on/off, protection on/off (the same switch as the tray), mode,
// and the helper's status. Settings belong to the daemon: every switch sends settings.set
// and the page redraws from the daemon's push, never from its own guess.

import {
  ask,
  describeError,
  helperProblem,
  hasAccess,
  requestSite,
  setSettings,
  Sites,
  watchState,
} from "../pages/client.js";

const $ = (id) => document.getElementById(id);
let state = null;
let tab = null; // {id, url} of the tab the popup is about
let site = null; // allowlist entry for that tab, or null for pages that cannot be protected
let granted = null; // whether Cloaker may run on that site (null: not known yet)

function show(message) {
  $("message").hidden = !message;
  $("message").textContent = message || "";
}

function render(next) {
  state = next;
  const { settings, helper } = state;
  const connected = helper.connection === "connected";
  const host = tab && Sites.hostOf(tab.url);
  const entry = host ? Sites.entryFor(host, settings.sites) : null;
  site = entry ? entry.host : host && Sites.normalizeSite(tab.url);
  $("site").textContent = site || "this page";
  $("site-switch").checked = Boolean(entry?.enabled) && granted !== false;
  $("site-switch").disabled = !site || !connected;
  $("protection-switch").checked = settings.protection;
  $("protection-switch").disabled = !connected;
  $("mode").value = settings.mode;
  $("mode").disabled = !connected;
  $("connection").textContent = connected ? "connected" : "not connected";
  $("connection").className = connected ? "ok" : "error";
  const models = { ready: "ready", warming: "loading…", failed: "failed to load" };
  $("models").textContent = connected ? models[helper.state] || "…" : "–";
  $("models").className = helper.state === "failed" ? "error" : "";
  $("device").textContent = connected ? helper.device || "…" : "–";
  const on = connected && settings.protection && Sites.isProtected(host || "", settings);
  $("badge").textContent = connected ? (on ? "protecting this site" : "not protecting this site") : "";
  const problem = helperProblem(helper);
  $("install").hidden = !problem?.install;
  if (problem) show(problem.text);
  else if (entry?.enabled && granted === false) {
    show(`${site} is on the list, but Cloaker has no access to it yet: switch it on to allow.`);
  }
}

function change(data) {
  show("");
  return setSettings(data).catch((err) => {
    show(describeError(err));
    render(state);
  });
}

$("site-switch").addEventListener("change", (event) => {
  const host = site;
  if (!event.target.checked) {
    change({ site: { host, enabled: false } });
    return;
  }
  // The permission prompt must open inside this click: no await before it.
  requestSite(host).then((ok) => {
    granted = ok;
    if (!ok) {
      show(`Cloaker needs access to ${host} to protect uploads there.`);
      render(state);
      return;
    }
    change({ site: { host, enabled: true } }).then(() =>
      tab ? ask({ type: "inject", tabId: tab.id }).catch(() => {}) : null,
    );
  });
});
$("protection-switch").addEventListener("change", (e) => change({ protection: e.target.checked }));
$("mode").addEventListener("change", (e) => change({ mode: e.target.value }));

async function currentTab() {
  // ?tab=<id> lets a test (or another page) open the popup for a given tab.
  const wanted = Number(new URLSearchParams(location.search).get("tab"));
  if (wanted) return chrome.tabs.get(wanted);
  const [active] = await chrome.tabs.query({ active: true, currentWindow: true });
  return active || null;
}

currentTab()
  .catch(() => null)
  .then((t) => {
    tab = t && t.url ? { id: t.id, url: t.url } : null;
    const host = tab && Sites.normalizeSite(tab.url);
    return host ? hasAccess(host) : null;
  })
  .then((access) => {
    granted = access;
    return watchState(render);
  })
  .then(() => setInterval(() => ask({ type: "refresh" }).catch(() => {}), 2000));
