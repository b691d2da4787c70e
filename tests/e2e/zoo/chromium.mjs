// Drives Debian's Chromium through the zoo's cases, one browser for a whole test module: the
// unpacked extension in a persistent profile whose NativeMessagingHosts folder holds the real
// host manifest (as tests/e2e/chromium.mjs does), commands on stdin (see driver.mjs).
//
//   node tests/e2e/zoo/chromium.mjs CONFIG.json
//
// CONFIG: {chromium, extension, profile, extensionId, timeoutMs, secureOrigins: [origins],
//   clipboardOrigin: "http://127.0.0.1:PORT", waitSites: [hosts]}
//
// The zoo's origins are treated as secure contexts (--unsafely-treat-insecure-origin-as-secure),
// as the HTTPS sites they stand for are: the File System Access API (showOpenFilePicker,
// getAsFileSystemHandle) exists only there, and libraries take it when it does.
//
// showOpenFilePicker's dialog cannot be answered by automation: headless Chromium aborts it
// at once ("The user aborted a request."), and with CDP's file-chooser interception
// (Page.fileChooserOpened comes without a node) it is aborted too, with nothing to answer it
// by (seen with Chromium 156). So the driver stands in for the dialog: before any page or
// extension script runs, it puts its own showOpenFilePicker where the browser's is, which
// answers with real FileSystemFileHandles (in the origin's private file system, holding the
// photos the case picks), as the dialog would. Whatever the extension does with the API
// (wrap it, or hide it so pages fall back to an <input>), it does it to this function. The
// result says which way each pick went ("via": "input" or "showOpenFilePicker").

import { readFileSync } from "node:fs";
import { basename } from "node:path";

import { writeClipboard } from "../common.mjs";
import { launchChromium } from "../chromium_lib.mjs";
import { WIDGETS, outcome, pageState, reply, serve, until } from "./driver.mjs";

const config = JSON.parse(readFileSync(process.argv[2], "utf8"));
const TIMEOUT = config.timeoutMs ?? 180000;

const ctx = await launchChromium(config, { height: 800, secureOrigins: config.secureOrigins });
await ctx.grantPermissions(["clipboard-read", "clipboard-write"], { origin: config.clipboardOrigin });
await ctx.addInitScript(() => {
  if (!("showOpenFilePicker" in window)) return; // not a secure context
  const picker = { calls: 0, files: null };
  Object.defineProperty(window, "__zooPicker", { value: picker });
  window.showOpenFilePicker = async function showOpenFilePicker(options = {}) {
    picker.calls += 1;
    const files = picker.files;
    picker.files = null;
    if (!files) throw new DOMException("The user aborted a request.", "AbortError");
    const root = await navigator.storage.getDirectory();
    const folder = await root.getDirectoryHandle(`picked-${picker.calls}`, { create: true });
    const handles = [];
    for (const { name, data } of files) {
      const handle = await folder.getFileHandle(name, { create: true });
      const writable = await handle.createWritable();
      await writable.write(Uint8Array.from(atob(data), (c) => c.charCodeAt(0)));
      await writable.close();
      handles.push(handle);
    }
    return options.multiple ? handles : handles.slice(0, 1);
  };
});

const swUrl = `chrome-extension://${config.extensionId}/background/main.js`;
const sw =
  ctx.serviceWorkers().find((w) => w.url() === swUrl) ??
  (await ctx.waitForEvent("serviceworker", { predicate: (w) => w.url() === swUrl, timeout: 15000 }));
const stored = () => sw.evaluate(() => chrome.storage.local.get(["helper", "settings"]));
await until("the helper to be connected with models ready", async () => {
  const { helper } = await stored();
  return helper?.connection === "connected" && helper.state === "ready";
}, TIMEOUT);
await until("the content script to be registered for the test site", async () => {
  const scripts = await sw.evaluate(() => chrome.scripting.getRegisteredContentScripts());
  const matches = scripts.flatMap((s) => s.matches);
  return config.waitSites.every((host) => matches.includes(`*://*.${host}/*`));
}, 60000);
reply("READY", { extensionId: await sw.evaluate(() => chrome.runtime.id) });

/** Hand the photos to the widget the way a user does for `flow`. */
async function handOver(page, cdp, spec, c) {
  if (c.flow === "pick") {
    // The widget opens an <input>'s file chooser, or showOpenFilePicker (the stand-in above).
    const files = c.files.map((path) => ({ name: basename(path), data: readFileSync(path).toString("base64") }));
    await page.evaluate((list) => {
      if (window.__zooPicker) window.__zooPicker.files = list;
    }, files);
    const chooser = page.waitForEvent("filechooser", { timeout: 15000 }).catch(() => null);
    await page.click(spec.pick);
    const fsAccess = until("a file chooser", () => page.evaluate(() => window.__zooPicker?.calls > 0), 15000, 100)
      .then(() => "showOpenFilePicker")
      .catch(() => null);
    const via = await Promise.race([chooser.then((found) => found && "input"), fsAccess]);
    if (via === "input") await (await chooser).setFiles(c.files);
    else if (via === null) throw new Error("no file chooser opened");
    return via;
  } else if (c.flow === "drop" || c.flow === "folder") {
    // Chromium reads a dropped path that is a folder as one (webkitGetAsEntry().isDirectory).
    const target = page.locator(spec[c.flow]).first();
    await target.scrollIntoViewIfNeeded();
    const box = await target.boundingBox();
    const at = { x: box.x + box.width / 2, y: box.y + box.height / 2 };
    const data = { items: [], files: c.files, dragOperationsMask: 1 };
    for (const type of ["dragEnter", "dragOver", "drop"]) {
      await cdp.send("Input.dispatchDragEvent", { type, ...at, data });
    }
  } else if (c.flow === "paste") {
    await writeClipboard(ctx, config.clipboardOrigin, c.pastePng);
    await page.bringToFront();
    if (spec.paste) await page.focus(spec.paste);
    await page.keyboard.press("Control+V");
  } else throw new Error(`unknown flow ${c.flow}`);
  return null;
}

async function runCase(c) {
  const spec = WIDGETS[c.widget];
  if (!(c.flow in spec)) throw new Error(`${c.widget} has no ${c.flow} flow`);
  const page = await ctx.newPage();
  const events = [];
  page.on("console", (m) => events.push(`console ${m.text()}`));
  page.on("pageerror", (e) => events.push(`pageerror ${e.message}`));
  const cdp = await ctx.newCDPSession(page);
  const worlds = [];
  cdp.on("Runtime.executionContextCreated", ({ context }) => {
    if (context.auxData?.type === "isolated") worlds.push(context.name);
  });
  await cdp.send("Runtime.enable");
  try {
    await page.goto(c.url);
    await until("the page's widget", async () => (await pageState(page)).ready, 15000);
    await page.waitForSelector(spec[c.flow] ?? "body", { timeout: 15000 });
    const handedAt = Date.now();
    const via = await handOver(page, cdp, spec, c);
    const count = c.count ?? c.files.length;
    let end = await outcome(page, { count, timeoutMs: TIMEOUT, handedAt });
    if (c.answer === "original" && end.outcome === "notice") {
      if (c.screenshot) await page.screenshot({ path: c.screenshot });
      const clickedAt = Date.now();
      await page.locator("[data-cloaker-overlay] button.primary").click(); // a trusted click
      end = { ...(await outcome(page, { count, timeoutMs: TIMEOUT, handedAt: clickedAt })), notice: end };
    } else if (c.screenshot) await page.screenshot({ path: c.screenshot });
    return { ...end, via, injected: worlds.includes("Cloaker"), log: events };
  } finally {
    await page.close();
  }
}

async function protection(value) {
  await until("the extension to hear of the new protection setting", async () => {
    const { settings } = await stored();
    return settings?.protection === value;
  }, 15000);
  return { protection: value };
}

try {
  await serve((c) => (c.cmd === "protection" ? protection(c.value) : runCase(c)));
} finally {
  await ctx.close();
}
