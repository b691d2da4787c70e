// The options page: the allowlist, with add, remove and on/off per site. The daemon owns the
// list; this page sends settings.set and redraws from the daemon's answer and pushes.

import {
  describeError,
  hasAccess,
  requestSite,
  setSettings,
  Sites,
  watchState,
} from "../pages/client.js";

const $ = (id) => document.getElementById(id);
let state = null;

function show(message) {
  $("message").hidden = !message;
  $("message").textContent = message || "";
}

function change(data) {
  show("");
  return setSettings(data).catch((err) => show(describeError(err)));
}

function siteRow({ host, enabled }) {
  const li = document.createElement("li");
  li.dataset.host = host;
  li.className = enabled ? "on" : "off";
  const toggle = document.createElement("input");
  toggle.type = "checkbox";
  toggle.className = "switch";
  toggle.checked = enabled;
  toggle.setAttribute("aria-label", `Protect ${host}`);
  toggle.addEventListener("change", () => {
    if (!toggle.checked) {
      change({ site: { host, enabled: false } });
      return;
    }
    requestSite(host).then((granted) => {
      if (!granted) {
        show(`Access to ${host} was not granted.`);
        toggle.checked = false;
        return;
      }
      li.classList.remove("no-access");
      change({ site: { host, enabled: true } });
    });
  });
  const name = document.createElement("span");
  name.className = "host";
  name.textContent = host;
  const remove = document.createElement("button");
  remove.type = "button";
  remove.textContent = "Remove";
  remove.addEventListener("click", () => {
    const sites = state.settings.sites.filter((s) => s.host !== host);
    change({ sites }).then(() =>
      // Optional permissions can be given back; a default site's permission stays (required).
      chrome.permissions.remove({ origins: Sites.matchPatterns(host) }).catch(() => {}),
    );
  });
  const note = document.createElement("span");
  note.className = "muted access";
  note.textContent = "no access yet: switch on to allow";
  li.append(toggle, name, note, remove);
  if (enabled) {
    // An entry the helper lists but the browser has not let Cloaker into: not protected.
    hasAccess(host).then((granted) => {
      if (granted) return;
      li.classList.add("no-access");
      toggle.checked = false;
    });
  }
  return li;
}

function render(next) {
  state = next;
  const connected = state.helper.connection === "connected";
  $("sites").replaceChildren(...state.settings.sites.map(siteRow));
  for (const control of document.querySelectorAll("input, button")) control.disabled = !connected;
  $("status").textContent = connected
    ? `${state.settings.sites.length} site${state.settings.sites.length === 1 ? "" : "s"}`
    : "The Cloaker helper is not connected: the list below is the last one it sent.";
}

$("add").addEventListener("submit", (event) => {
  event.preventDefault();
  const host = Sites.normalizeSite($("new-site").value);
  if (!host) {
    show("That is not a site name (for example: example.com).");
    return;
  }
  // The permission prompt must open inside this submit: no await before it.
  requestSite(host).then((granted) => {
    if (!granted) {
      show(`Cloaker needs access to ${host} to protect uploads there.`);
      return;
    }
    change({ site: { host, enabled: true } }).then(() => {
      $("new-site").value = "";
    });
  });
});

watchState(render);
