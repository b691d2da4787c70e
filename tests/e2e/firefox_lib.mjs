// What the Firefox drivers (firefox.mjs, patterns_firefox.mjs, zoo/firefox.mjs) share: the
// launch, and the privileged helpers that do what WebDriver BiDi cannot do alone (firefox.mjs's
// header and tests/e2e/README.md say why): the extension's state read from the chrome window,
// and a privileged process script that tells whether the content script is in a page and
// dispatches a trusted drop after a real WebDriver drag.

import { readFileSync } from "node:fs";
import { basename } from "node:path";

import puppeteer from "puppeteer-core";

import { until } from "./common.mjs";

/**
 * firefox-esr with the module's profile and HOME (config: firefox, home, profile, extensionId,
 * extensionUuid). `prefs` are added to the common ones.
 */
export function launchFirefox(config, { headless, height, timeout, prefs = {} }) {
  return puppeteer.launch({
    browser: "firefox",
    protocol: "webDriverBiDi",
    executablePath: config.firefox,
    headless,
    args: ["--remote-allow-system-access"],
    env: { ...process.env, HOME: config.home },
    defaultViewport: { width: 900, height },
    timeout: 120000,
    protocolTimeout: timeout + 60000,
    // One profile for the whole test module, as a user's: storage.local (the settings the
    // daemon sent earlier) outlives the temporary add-on, which Firefox removes at shutdown.
    userDataDir: config.profile,
    extraPrefsFirefox: {
      "extensions.webextensions.uuids": JSON.stringify({ [config.extensionId]: config.extensionUuid }),
      "extensions.webextensions.keepUuidOnUninstall": true,
      "extensions.webextensions.keepStorageOnUninstall": true,
      // The test site answers under several names (social.test, other.test): resolve them all
      // to 127.0.0.1, as Chromium's --host-resolver-rules does.
      "network.dns.forceResolve": "127.0.0.1",
      "dom.security.https_first": false,
      "dom.security.https_first_schemeless": false,
      "dom.security.https_only_mode": false,
      ...prefs,
    },
  });
}

// Runs in every content process, with system privileges. Answers "cloaker-e2e:ask" for the
// document of browsing context `bc`: whether the extension's content script lives in it, or
// a trusted drop on `selector` at client point (x, y), carrying the drag session's data.
const PROCESS_SCRIPT = `
addMessageListener("cloaker-e2e:ask", ({ data }) => {
  const bc = BrowsingContext.get(data.bc);
  if (!bc || !bc.docShell) return; // another process hosts it
  const win = bc.docShell.domWindow;
  const reply = (answer) => sendAsyncMessage("cloaker-e2e:answer", { rid: data.rid, ...answer });
  try {
    if (data.kind === "injected") {
      const { ExtensionContent } = ChromeUtils.importESModule(
        "resource://gre/modules/ExtensionContent.sys.mjs");
      reply({ injected: Boolean(ExtensionContent.getContextByExtensionId(data.extensionId, win)) });
    } else if (data.kind === "drop") {
      const session = win.windowUtils.dragSession;
      if (!session) return reply({ error: "no drag session" });
      const target = win.document.querySelector(data.selector);
      const dt = session.dataTransfer.mozCloneForEvent("drop");
      dt.dropEffect = session.dataTransfer.dropEffect;
      // Dispatched through the PresShell, the event's client point is recomputed from its
      // widget-relative point, which initDragEvent takes from its screen arguments: pass the
      // drop point offset by where the content area sits in the window, so that page code
      // reading clientX/pageX (FilePond does) sees the drop where it happened.
      const x = Math.round(data.x);
      const y = Math.round(data.y);
      const dx = Math.round(win.mozInnerScreenX - win.screenX);
      const dy = Math.round(win.mozInnerScreenY - win.screenY);
      const event = win.document.createEvent("DragEvent");
      event.initDragEvent("drop", true, true, win, 0, x + dx, y + dy, x, y,
        false, false, false, false, 0, null, dt);
      reply({ notCancelled: win.windowUtils.dispatchDOMEventViaPresShellForTesting(target, event) });
    }
  } catch (err) {
    reply({ error: String(err) });
  }
});
`;

/**
 * The privileged helpers for `browser`, once the process script is loaded:
 * {bidi, ask, extensionState, waitReady, waitSites, waitProtection, dropFiles}.
 */
export async function privileged(browser, extensionId) {
  const bidi = browser.connection;
  let chromeContext = null;

  /** Evaluate `expression` (returning a JSON string, or a promise of one) in the chrome window. */
  async function chromeEval(expression) {
    if (!chromeContext) {
      const tree = await bidi.send("browsingContext.getTree", { "moz:scope": "chrome" });
      chromeContext = tree.result.contexts[0].context;
    }
    const { result: r } = await bidi.send("script.evaluate", {
      expression,
      target: { context: chromeContext },
      awaitPromise: true,
      resultOwnership: "none",
    });
    if (r.type !== "success") throw new Error(`chrome script failed: ${JSON.stringify(r.exceptionDetails)}`);
    return JSON.parse(r.result.value);
  }

  await chromeEval(`(() => {
    const pending = new Map();
    globalThis.cloakerE2E = { pending, rid: 0 };
    Services.ppmm.addMessageListener("cloaker-e2e:answer", {
      receiveMessage: ({ data }) => pending.get(data.rid)?.(data),
    });
    Services.ppmm.loadProcessScript("data:," + encodeURIComponent(${JSON.stringify(PROCESS_SCRIPT)}), true);
    return "true";
  })()`);

  /** Ask the content process that hosts `page` something (see PROCESS_SCRIPT). */
  function ask(page, kind, data = {}) {
    return chromeEval(`(async () => {
      const browser = gBrowser.browsers.find((b) => b.currentURI.spec === ${JSON.stringify(page.url())});
      if (!browser) throw new Error("no tab shows " + ${JSON.stringify(page.url())});
      const rid = ++cloakerE2E.rid;
      const answer = new Promise((resolve, reject) => {
        cloakerE2E.pending.set(rid, resolve);
        setTimeout(() => reject(new Error("no answer from the content process")), 15000);
      }).finally(() => cloakerE2E.pending.delete(rid));
      Services.ppmm.broadcastAsyncMessage("cloaker-e2e:ask",
        { ...${JSON.stringify(data)}, kind: ${JSON.stringify(kind)}, rid, bc: browser.browsingContext.id });
      return JSON.stringify(await answer);
    })()`);
  }

  /** What the extension knows: storage.local ({helper, settings}) and its content scripts. */
  function extensionState() {
    return chromeEval(`(async () => {
      const policy = WebExtensionPolicy.getByID(${JSON.stringify(extensionId)});
      if (!policy) return JSON.stringify(null);
      const { ExtensionStorageIDB } = ChromeUtils.importESModule(
        "resource://gre/modules/ExtensionStorageIDB.sys.mjs");
      const db = await ExtensionStorageIDB.open(ExtensionStorageIDB.getStoragePrincipal(policy.extension));
      const store = await db.get(["helper", "settings"]);
      return JSON.stringify({
        helper: store.helper ?? null,
        settings: store.settings ?? null,
        matches: policy.contentScripts.flatMap((s) => s.matches.patterns.map((p) => p.pattern)),
      });
    })()`);
  }

  const waitReady = (timeout) =>
    until("the helper to be connected with models ready", async () => {
      const h = (await extensionState())?.helper;
      return h?.connection === "connected" && h.state === "ready";
    }, timeout);

  /** Wait until the content script is registered for every host (`times` scripts each, if given). */
  const waitSites = (hosts, times = null) =>
    until("the content script to be registered for the test site", async () => {
      const matches = (await extensionState())?.matches ?? [];
      const count = (host) => matches.filter((m) => m === `*://*.${host}/*`).length;
      return hosts.every((host) => (times === null ? count(host) > 0 : count(host) === times));
    }, 60000);

  const waitProtection = (value) =>
    until("the extension to hear of the new protection setting", async () => {
      const state = await extensionState();
      return state?.settings?.protection === value;
    }, 15000);

  /**
   * A real WebDriver drag from a draggable "photo" the page gets in a corner (its dragstart
   * puts the files in the drag data, as a file manager's would), then the trusted drop on
   * `selector`, at its centre, where the drag ended.
   */
  async function dropFiles(page, selector, paths) {
    const photos = paths.map((path) => ({
      name: basename(path),
      data: readFileSync(path).toString("base64"),
      type: /\.png$/i.test(path) ? "image/png" : "image/jpeg",
    }));
    await page.evaluate(async (list) => {
      const files = await Promise.all(list.map(async ({ name, data, type }) =>
        new File([await (await fetch(`data:${type};base64,${data}`)).blob()], name, { type })));
      const source = document.createElement("div");
      source.id = "cloaker-e2e-drag-source";
      source.draggable = true;
      source.textContent = "photo (drag source)";
      source.style.cssText = "position:fixed;left:8px;bottom:8px;padding:12px;background:#eef;border:1px solid #99c;z-index:10";
      source.addEventListener("dragstart", (e) => {
        for (const file of files) e.dataTransfer.items.add(file);
        e.dataTransfer.effectAllowed = "copy";
      });
      document.body.append(source);
    }, photos);
    const target = await page.$(selector);
    await target.scrollIntoView();
    const from = await (await page.$("#cloaker-e2e-drag-source")).boundingBox();
    const to = await target.boundingBox();
    const at = { x: to.x + to.width / 2, y: to.y + to.height / 2 };
    await page.mouse.move(from.x + from.width / 2, from.y + from.height / 2);
    await page.mouse.down();
    await page.mouse.move(from.x + from.width / 2 + 10, from.y + from.height / 2 - 10, { steps: 3 });
    await page.mouse.move(at.x, at.y, { steps: 10 });
    const dropped = await ask(page, "drop", { selector, ...at });
    if (dropped.error) throw new Error(`drop failed: ${dropped.error}`);
    await page.mouse.up(); // ends the drag session (dragend)
    await page.evaluate(() => document.getElementById("cloaker-e2e-drag-source").remove());
  }

  return { bidi, ask, extensionState, waitReady, waitSites, waitProtection, dropFiles };
}

/** Ctrl+V, as a user presses it (puppeteer's keyboard has no "Control+V" shorthand). */
export async function pressPaste(page) {
  await page.keyboard.down("Control");
  await page.keyboard.press("v");
  await page.keyboard.up("Control");
}
