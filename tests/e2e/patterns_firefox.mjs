// Drives firefox-esr through a list of plain-pattern cases (site/p-*.html) in ONE browser,
// headful under xvfb-run (the paste case needs a real clipboard): the extension as a
// temporary add-on, HOME with the real native host manifest, the real daemon.
// Called by test_patterns_firefox.py, which owns the site, the daemon and the assertions.
// The launch and the privileged helpers (extension state, trusted drop) are those of
// firefox.mjs, whose header explains them.
//
//   node tests/e2e/patterns_firefox.mjs CONFIG.json   (prints one line: RESULT {...})
//
// CONFIG: {firefox, extension, home, profile, extensionId, extensionUuid, timeoutMs,
//   clipboardOrigin, waitSites, cases: [as patterns_chromium.mjs]}

import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { basename } from "node:path";

import puppeteer from "puppeteer-core";

const config = JSON.parse(readFileSync(process.argv[2], "utf8"));
const TIMEOUT = config.timeoutMs ?? 600000;
const started = Date.now();
const result = { events: [], cases: {} };
const note = (what) => result.events.push(`${((Date.now() - started) / 1000).toFixed(1)}s ${what}`);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function until(what, fn, timeout = TIMEOUT, every = 150) {
  const deadline = Date.now() + timeout;
  for (;;) {
    const value = await fn();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(every);
  }
}

const browser = await puppeteer.launch({
  browser: "firefox",
  protocol: "webDriverBiDi",
  executablePath: config.firefox,
  headless: false,
  args: ["--remote-allow-system-access"],
  env: { ...process.env, HOME: config.home },
  defaultViewport: { width: 900, height: 700 },
  timeout: 120000,
  protocolTimeout: TIMEOUT + 60000,
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
  },
});

// ---- privileged helpers (see the header) ----
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

// Runs in every content process, with system privileges. Answers "cloaker-e2e:ask" for the
// document of browsing context `bc`: whether the extension's content script lives in it, or
// a trusted drop on `selector` carrying the current drag session's data.
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
      const box = target.getBoundingClientRect();
      const dt = session.dataTransfer.mozCloneForEvent("drop");
      dt.dropEffect = session.dataTransfer.dropEffect;
      const event = win.document.createEvent("DragEvent");
      event.initDragEvent("drop", true, true, win, 0, 0, 0,
        Math.round(box.left + box.width / 2), Math.round(box.top + box.height / 2),
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


async function ready() {
  result.extensionId = await browser.installExtension(config.extension);
  await until("the helper to be connected with models ready", async () => {
    const h = (await extensionState())?.helper;
    return h?.connection === "connected" && h.state === "ready";
  });
  await until("the content scripts to be registered for the test site", async () => {
    const matches = (await extensionState())?.matches ?? [];
    return config.waitSites.every((host) => matches.filter((m) => m === `*://*.${host}/*`).length === 2);
  }, 60000);
  note("extension ready");
}

async function dropFiles(page, files) {
  // A draggable "photo" whose dragstart puts the files in the drag data (see firefox.mjs).
  const photos = files.map((path) => ({
    name: basename(path),
    data: readFileSync(path).toString("base64"),
    type: /\.png$/i.test(path) ? "image/png" : "image/jpeg",
  }));
  await page.evaluate(async (list) => {
    const made = await Promise.all(list.map(async ({ name, data, type }) =>
      new File([await (await fetch(`data:${type};base64,${data}`)).blob()], name, { type })));
    const source = document.createElement("div");
    source.id = "cloaker-e2e-drag-source";
    source.draggable = true;
    source.textContent = "photo (drag source)";
    source.style.cssText = "position:fixed;left:8px;bottom:8px;padding:12px;background:#eef;border:1px solid #99c";
    source.addEventListener("dragstart", (e) => {
      for (const file of made) e.dataTransfer.items.add(file);
      e.dataTransfer.effectAllowed = "copy";
    });
    document.body.append(source);
  }, photos);
  const from = await (await page.$("#cloaker-e2e-drag-source")).boundingBox();
  const to = await (await page.$("#zone")).boundingBox();
  await page.mouse.move(from.x + from.width / 2, from.y + from.height / 2);
  await page.mouse.down();
  await page.mouse.move(from.x + from.width / 2 + 10, from.y + from.height / 2 - 10, { steps: 3 });
  await page.mouse.move(to.x + to.width / 2, to.y + to.height / 2, { steps: 10 });
  const dropped = await ask(page, "drop", { selector: "#zone" });
  if (dropped.error) throw new Error(`drop failed: ${dropped.error}`);
  await page.mouse.up();
  await page.evaluate(() => document.getElementById("cloaker-e2e-drag-source").remove());
}

async function writeClipboard(png) {
  const writer = await browser.newPage();
  await writer.goto(`${config.clipboardOrigin}/index.html`);
  const b64 = readFileSync(png).toString("base64");
  await writer.evaluate(async (data) => {
    const blob = await (await fetch(`data:image/png;base64,${data}`)).blob();
    await navigator.clipboard.write([new ClipboardItem({ "image/png": blob })]);
  }, b64);
  await writer.close();
}

const overlayText = (page) =>
  page.evaluate(() =>
    [document, ...Array.from(frames, (f) => { try { return f.document; } catch { return null; } })]
      .filter(Boolean)
      .map((d) => d.querySelector("[data-cloaker-overlay]")?.shadowRoot.querySelector(".panel").innerText)
      .find(Boolean) ?? "");

async function runCase(c) {
  const out = { id: c.id };
  const t0 = Date.now();
  if (c.beforeCase) out.beforeCase = execFileSync(c.beforeCase[0], c.beforeCase.slice(1), { encoding: "utf8" }).trim();
  if (c.protection !== undefined) {
    await until("the extension to hear of the protection setting", async () =>
      (await extensionState())?.settings?.protection === c.protection, 15000);
  }
  if (c.action === "paste") await writeClipboard(c.files[0]);
  const page = await browser.newPage();
  page.on("console", (m) => result.events.push(`${c.id} console ${m.text()}`));
  try {
    await page.goto(c.url);
    await page.bringToFront();
    if (c.action === "pick") {
      const chooser = page.waitForFileChooser({ timeout: 15000 });
      if (c.id.startsWith("closedshadow")) {
        const box = await (await page.$("#go")).boundingBox();
        await page.mouse.click(box.x + 20, box.y + 20); // the input fills the host
      } else if (c.frame) {
        // puppeteer's waitForFileChooser listens on the top frame only: a frame's file dialog
        // is answered here, through BiDi itself.
        chooser.catch(() => {});
        await until("the frame's control", async () => page.frames().some((f) => f !== page.mainFrame()), 10000);
        const frame = page.frames().find((f) => f !== page.mainFrame());
        await frame.waitForSelector("#go", { timeout: 10000 });
        const info = await new Promise((resolve, reject) => {
          const timer = setTimeout(() => reject(new Error("no file dialog from the frame")), 15000);
          frame.browsingContext.once("filedialogopened", (opened) => {
            clearTimeout(timer);
            resolve(opened);
          });
          frame.click("#go").catch(reject);
        });
        await bidi.send("input.setFiles", {
          context: info.context,
          element: { sharedId: info.element.sharedId },
          files: c.files,
        });
      } else await page.click("#go");
      if (!c.frame) await (await chooser).accept(c.files);
    } else if (c.action === "drop") await dropFiles(page, c.files);
    else if (c.action === "paste") {
      await page.click("#target");
      await page.keyboard.down("Control");
      await page.keyboard.press("v");
      await page.keyboard.up("Control");
    } else throw new Error(`unknown action ${c.action}`);
    note(`${c.id}: files handed over`);

    if (c.expect === "notice") {
      await until("the notice", async () => (await overlayText(page)).includes("Upload original anyway"));
      out.notice = await overlayText(page);
      if (c.noticeScreenshot) await page.screenshot({ path: c.noticeScreenshot });
      out.seen = await page.evaluate(() => window.seen ?? []);
    } else {
      await until("the upload", async () => {
        const text = await overlayText(page);
        if (text && !out.overlay) out.overlay = text;
        if (text.includes("Upload original anyway")) throw new Error(`the notice appeared: ${text}`);
        if (text) out.overlayFinal = text;
        return (await page.$("#status[data-count]")) !== null;
      });
      out.uploaded = Number(await page.$eval("#status", (el) => el.dataset.count));
      out.seen = await page.evaluate(() => window.seen ?? []);
      out.overlayFinal = (await overlayText(page)) || out.overlayFinal || "";
    }
  } catch (err) {
    out.error = String(err?.stack || err);
    out.seen = await page.evaluate(() => window.seen ?? []).catch(() => null);
  } finally {
    await page.close();
  }
  out.seconds = (Date.now() - t0) / 1000;
  note(`${c.id}: ${out.error ? "failed" : "done"} in ${out.seconds.toFixed(1)} s`);
  return out;
}

try {
  await ready();
  for (const c of config.cases) result.cases[c.id] = await runCase(c);
  result.ok = true;
} catch (err) {
  result.ok = false;
  result.error = String(err?.stack || err);
} finally {
  await browser.close().catch(() => {});
}
console.log(`RESULT ${JSON.stringify(result)}`);
