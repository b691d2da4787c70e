// Drives firefox-esr through the zoo's cases, one browser for a whole test module, with
// puppeteer-core over WebDriver BiDi: the extension installed as a temporary add-on, HOME
// pointed at a folder whose .mozilla/native-messaging-hosts/ holds the real host manifest.
// Commands on stdin (see driver.mjs). Run headful under xvfb-run: the paste cases need a real
// clipboard (headless Firefox's carries text only).
//
//   xvfb-run -a node tests/e2e/zoo/firefox.mjs CONFIG.json
//
// CONFIG: {firefox, extension, home, profile, extensionId, extensionUuid, timeoutMs,
//   secureHosts: [hosts], clipboardOrigin: "http://127.0.0.1:PORT", waitSites: [hosts]}
//
// What BiDi cannot do alone is done as tests/e2e/firefox.mjs does it (its header and
// tests/e2e/README.md explain why): extension state read from the chrome window
// (--remote-allow-system-access), a privileged process script that tells whether the content
// script is in a page and dispatches a trusted drop, with the drag session's DataTransfer,
// after a real WebDriver drag from a draggable element the driver adds to the page.

import { readFileSync } from "node:fs";
import { basename } from "node:path";

import puppeteer from "puppeteer-core";

import { WIDGETS, outcome, pageState, reply, serve, until } from "./driver.mjs";

const config = JSON.parse(readFileSync(process.argv[2], "utf8"));
const TIMEOUT = config.timeoutMs ?? 180000;

const browser = await puppeteer.launch({
  browser: "firefox",
  protocol: "webDriverBiDi",
  executablePath: config.firefox,
  headless: false,
  args: ["--remote-allow-system-access"],
  env: { ...process.env, HOME: config.home },
  defaultViewport: { width: 900, height: 800 },
  timeout: 120000,
  protocolTimeout: TIMEOUT + 60000,
  userDataDir: config.profile,
  extraPrefsFirefox: {
    "extensions.webextensions.uuids": JSON.stringify({ [config.extensionId]: config.extensionUuid }),
    "extensions.webextensions.keepUuidOnUninstall": true,
    "extensions.webextensions.keepStorageOnUninstall": true,
    "network.dns.forceResolve": "127.0.0.1",
    "dom.security.https_first": false,
    "dom.security.https_first_schemeless": false,
    "dom.security.https_only_mode": false,
    // The zoo's hosts are secure contexts, as the HTTPS sites they stand for are.
    "dom.securecontext.allowlist": config.secureHosts.join(","),
  },
});

// ---- privileged helpers (as in tests/e2e/firefox.mjs) ----
const bidi = browser.connection;
let chromeContext = null;

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

const PROCESS_SCRIPT = `
addMessageListener("cloaker-zoo:ask", ({ data }) => {
  const bc = BrowsingContext.get(data.bc);
  if (!bc || !bc.docShell) return; // another process hosts it
  const win = bc.docShell.domWindow;
  const reply = (answer) => sendAsyncMessage("cloaker-zoo:answer", { rid: data.rid, ...answer });
  try {
    if (data.kind === "injected") {
      const { ExtensionContent } = ChromeUtils.importESModule(
        "resource://gre/modules/ExtensionContent.sys.mjs");
      reply({ injected: Boolean(ExtensionContent.getContextByExtensionId(data.extensionId, win)) });
    } else if (data.kind === "drop") {
      const session = win.windowUtils.dragSession;
      if (!session) return reply({ error: "no drag session" });
      const target = win.document.querySelector(data.selector);
      const box = target.getBoundingClientRect();
      const dt = session.dataTransfer.mozCloneForEvent("drop");
      dt.dropEffect = session.dataTransfer.dropEffect;
      // Dispatched through the PresShell, the event's client point is recomputed from its
      // widget-relative point, which initDragEvent takes from its screen arguments: pass the
      // target's centre offset by where the content area sits in the window, so that page
      // code reading clientX/pageX (FilePond does) sees the drop where it happened.
      const x = Math.round(box.left + box.width / 2);
      const y = Math.round(box.top + box.height / 2);
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

await chromeEval(`(() => {
  const pending = new Map();
  globalThis.cloakerZoo = { pending, rid: 0 };
  Services.ppmm.addMessageListener("cloaker-zoo:answer", {
    receiveMessage: ({ data }) => pending.get(data.rid)?.(data),
  });
  Services.ppmm.loadProcessScript("data:," + encodeURIComponent(${JSON.stringify(PROCESS_SCRIPT)}), true);
  return "true";
})()`);

function ask(page, kind, data = {}) {
  return chromeEval(`(async () => {
    const browser = gBrowser.browsers.find((b) => b.currentURI.spec === ${JSON.stringify(page.url())});
    if (!browser) throw new Error("no tab shows " + ${JSON.stringify(page.url())});
    const rid = ++cloakerZoo.rid;
    const answer = new Promise((resolve, reject) => {
      cloakerZoo.pending.set(rid, resolve);
      setTimeout(() => reject(new Error("no answer from the content process")), 15000);
    }).finally(() => cloakerZoo.pending.delete(rid));
    Services.ppmm.broadcastAsyncMessage("cloaker-zoo:ask",
      { ...${JSON.stringify(data)}, kind: ${JSON.stringify(kind)}, rid, bc: browser.browsingContext.id });
    return JSON.stringify(await answer);
  })()`);
}

function extensionState() {
  return chromeEval(`(async () => {
    const policy = WebExtensionPolicy.getByID(${JSON.stringify(config.extensionId)});
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

// ---- the extension, then the commands ----
const extensionId = await browser.installExtension(config.extension);
await until("the helper to be connected with models ready", async () => {
  const h = (await extensionState())?.helper;
  return h?.connection === "connected" && h.state === "ready";
}, TIMEOUT);
await until("the content script to be registered for the test site", async () => {
  const matches = (await extensionState())?.matches ?? [];
  return config.waitSites.every((host) => matches.includes(`*://*.${host}/*`));
}, 60000);
reply("READY", { extensionId });

async function dropFiles(page, selector, paths) {
  // A draggable "photo" in a corner; its dragstart puts the files in the drag data, as a
  // file manager would. The drag is real; the drop is dispatched trusted (see the header).
  const photos = paths.map((path) => ({
    name: basename(path),
    data: readFileSync(path).toString("base64"),
    type: /\.png$/i.test(path) ? "image/png" : "image/jpeg",
  }));
  await page.evaluate(async (list) => {
    const files = await Promise.all(list.map(async ({ name, data, type }) =>
      new File([await (await fetch(`data:${type};base64,${data}`)).blob()], name, { type })));
    const source = document.createElement("div");
    source.id = "zoo-drag-source";
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
  const from = await (await page.$("#zoo-drag-source")).boundingBox();
  const to = await target.boundingBox();
  await page.mouse.move(from.x + from.width / 2, from.y + from.height / 2);
  await page.mouse.down();
  await page.mouse.move(from.x + from.width / 2 + 10, from.y + from.height / 2 - 10, { steps: 3 });
  await page.mouse.move(to.x + to.width / 2, to.y + to.height / 2, { steps: 10 });
  const dropped = await ask(page, "drop", { selector });
  if (dropped.error) throw new Error(`drop failed: ${dropped.error}`);
  await page.mouse.up(); // ends the drag session (dragend)
  await page.evaluate(() => document.getElementById("zoo-drag-source").remove());
}

async function pastePhoto(page, focus, png) {
  const writer = await browser.newPage();
  await writer.goto(`${config.clipboardOrigin}/index.html`);
  await writer.evaluate(async (data) => {
    const blob = await (await fetch(`data:image/png;base64,${data}`)).blob();
    await navigator.clipboard.write([new ClipboardItem({ "image/png": blob })]);
  }, readFileSync(png).toString("base64"));
  await writer.close();
  await page.bringToFront();
  if (focus) await page.focus(focus);
  await page.keyboard.down("Control");
  await page.keyboard.press("v");
  await page.keyboard.up("Control");
}

async function handOver(page, spec, c) {
  if (c.flow === "pick") {
    // Firefox has no showOpenFilePicker: every widget opens an <input>'s file chooser.
    // Under WebDriver BiDi (153 ESR, headless and headful) Firefox fires a trusted `cancel`
    // at the input before input.setFiles puts the files in; a user's pick fires none, and
    // browser-fs-access takes `cancel` for the end of the dialog. Page script is kept from
    // that one event during the hand-over (counted in the result as cancelsHeld).
    await page.evaluate(() => {
      window.__zooCancels = 0;
      window.__zooHoldCancel = (event) => {
        if (event.target instanceof HTMLInputElement && event.target.type === "file") {
          window.__zooCancels += 1;
          event.stopImmediatePropagation();
        }
      };
      window.addEventListener("cancel", window.__zooHoldCancel, true);
    });
    const [chooser] = await Promise.all([page.waitForFileChooser({ timeout: 15000 }), page.click(spec.pick)]);
    await chooser.accept(c.files);
    return "input";
  }
  if (c.flow === "drop") await dropFiles(page, spec.drop, c.files);
  else if (c.flow === "paste") await pastePhoto(page, spec.paste, c.pastePng);
  else throw new Error(`unknown flow ${c.flow}`);
  return null;
}

async function runCase(c) {
  const spec = WIDGETS[c.widget];
  if (!(c.flow in spec)) throw new Error(`${c.widget} has no ${c.flow} flow`);
  const page = await browser.newPage();
  const events = [];
  page.on("console", (m) => events.push(`console ${m.text()}`));
  page.on("pageerror", (e) => events.push(`pageerror ${e.message}`));
  try {
    await page.goto(c.url);
    await until("the page's widget", async () => (await pageState(page)).ready, 15000);
    await page.waitForSelector(spec[c.flow] ?? "body", { timeout: 15000 });
    const injected = (await ask(page, "injected", { extensionId: config.extensionId })).injected;
    const handedAt = Date.now();
    const via = await handOver(page, spec, c);
    const count = c.count ?? c.files.length;
    let end = await outcome(page, { count, timeoutMs: TIMEOUT, handedAt });
    if (c.answer === "original" && end.outcome === "notice") {
      if (c.screenshot) await page.screenshot({ path: c.screenshot });
      const clickedAt = Date.now();
      await (await page.$("[data-cloaker-overlay] >>> button.primary")).click(); // trusted
      end = { ...(await outcome(page, { count, timeoutMs: TIMEOUT, handedAt: clickedAt })), notice: end };
    }
    const cancelsHeld = await page.evaluate(() => {
      if (window.__zooHoldCancel) window.removeEventListener("cancel", window.__zooHoldCancel, true);
      return window.__zooCancels ?? 0;
    });
    if (c.screenshot && !end.notice) await page.screenshot({ path: c.screenshot });
    return { ...end, via, injected, cancelsHeld, log: events };
  } finally {
    await page.close();
  }
}

async function protection(value) {
  await until("the extension to hear of the new protection setting", async () => {
    const state = await extensionState();
    return state?.settings?.protection === value;
  }, 15000);
  return { protection: value };
}

try {
  await serve((c) => (c.cmd === "protection" ? protection(c.value) : runCase(c)));
} finally {
  await browser.close().catch(() => {});
}
