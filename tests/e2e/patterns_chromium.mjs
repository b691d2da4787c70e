// Drives Debian's Chromium through a list of plain-pattern cases (site/p-*.html) in ONE
// browser: the unpacked extension, the profile with the real native host, the real daemon.
// Called by test_patterns_chromium.py, which owns the site, the daemon and the assertions.
//
//   node tests/e2e/patterns_chromium.mjs CONFIG.json   (prints one line: RESULT {...})
//
// CONFIG: {chromium, extension, profile, extensionId, timeoutMs, clipboardOrigin, waitSites,
//   secureOrigins: [origins treated as secure contexts, as the HTTPS sites they stand for],
//   cases: [{id, url, action: pick|drop|paste|probe (load, report fsaPresent, nothing more),
//   files: [paths], frame: bool (the #go control
//   is in the page's first frame), expect: cloaked|untouched|notice, beforeCase: [argv],
//   protection: bool (wait until the extension has this value), overlayScreenshot: path,
//   helpLink: bool (click the panel's "what cloaking does" link),
//   noticeScreenshot: path}]}
// RESULT: {ok, error, events, cases: {id: {seconds, seen, uploaded, overlay, notice, error}}}
// kind: "missing-helper" (a profile with no host registered): the popup's words instead;
// "warm-up": the stored helper state, no popup open, until ready (RESULT.states).

import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";

import { chromium } from "playwright-core";

const config = JSON.parse(readFileSync(process.argv[2], "utf8"));
const TIMEOUT = config.timeoutMs ?? 600000;
const started = Date.now();
const result = { events: [], cases: {} };
const note = (what) => result.events.push(`${((Date.now() - started) / 1000).toFixed(1)}s ${what}`);

async function until(what, fn, timeout = TIMEOUT, every = 150) {
  const deadline = Date.now() + timeout;
  for (;;) {
    const value = await fn();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, every));
  }
}

const ctx = await chromium.launchPersistentContext(config.profile, {
  executablePath: config.chromium,
  headless: true,
  viewport: { width: 900, height: 700 },
  args: [
    `--disable-extensions-except=${config.extension}`,
    `--load-extension=${config.extension}`,
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--host-resolver-rules=MAP *.test 127.0.0.1",
    "--disable-features=HttpsUpgrades,HttpsFirstBalancedModeAutoEnable",
    // Real sites are HTTPS: make the test site a secure context, where pages have what
    // only secure contexts get (showOpenFilePicker among them).
    ...(config.secureOrigins?.length ? [`--unsafely-treat-insecure-origin-as-secure=${config.secureOrigins.join(",")}`] : []),
  ],
});

const swUrl = `chrome-extension://${config.extensionId}/background/main.js`;
let sw = ctx.serviceWorkers().find((w) => w.url() === swUrl);
const state = () => sw.evaluate(() => chrome.storage.local.get(["helper", "settings"]));

async function ready() {
  sw ??= await ctx.waitForEvent("serviceworker", { predicate: (w) => w.url() === swUrl, timeout: 15000 });
  await until("the helper to be connected with models ready", async () => {
    const { helper } = await state();
    return helper?.connection === "connected" && helper.state === "ready";
  });
  await until("both content scripts to be registered for the test site", async () => {
    const scripts = await sw.evaluate(() => chrome.scripting.getRegisteredContentScripts());
    const ids = scripts.filter((s) => config.waitSites.every((h) => s.matches.includes(`*://*.${h}/*`)));
    return ids.length === 2;
  });
  note("extension ready");
}

async function writeClipboard(png) {
  await ctx.grantPermissions(["clipboard-read", "clipboard-write"], { origin: config.clipboardOrigin });
  const writer = await ctx.newPage();
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
      (await state()).settings?.protection === c.protection, 15000);
  }
  if (c.action === "paste") await writeClipboard(c.files[0]);
  const page = await ctx.newPage();
  page.on("console", (m) => result.events.push(`${c.id} console ${m.text()}`));
  try {
    await page.goto(c.url);
    const scope = c.frame ? page.frameLocator("iframe") : page;
    out.fsaPresent = await page.evaluate(() => "showOpenFilePicker" in window);
    if (c.action === "probe") {
      // Only look: no CDP call answers a File System Access picker.
      out.seen = await page.evaluate(() => window.seen ?? []);
      out.seconds = (Date.now() - t0) / 1000;
      return out;
    }
    if (c.action === "pick") {
      const chooser = page.waitForEvent("filechooser", { timeout: 15000 });
      if (c.id.startsWith("closedshadow")) {
        const box = await page.locator("#go").boundingBox();
        await page.mouse.click(box.x + 20, box.y + 20); // the input fills the host
      } else await scope.locator("#go").click();
      await (await chooser).setFiles(c.files);
    } else if (c.action === "drop") {
      const cdp = await ctx.newCDPSession(page);
      const box = await page.locator("#zone").boundingBox();
      const at = { x: box.x + box.width / 2, y: box.y + box.height / 2 };
      const data = { items: [], files: c.files, dragOperationsMask: 1 };
      for (const type of ["dragEnter", "dragOver", "drop"]) await cdp.send("Input.dispatchDragEvent", { type, ...at, data });
    } else if (c.action === "paste") {
      await page.click("#target");
      await page.keyboard.press("Control+V");
    } else throw new Error(`unknown action ${c.action}`);
    note(`${c.id}: files handed over`);

    const notice = page.getByRole("button", { name: "Upload original anyway" });
    if (c.expect === "notice") {
      await until("the notice", async () => (await overlayText(page)).includes("Upload original anyway"));
      out.notice = await overlayText(page);
      if (c.noticeScreenshot) await page.screenshot({ path: c.noticeScreenshot });
      out.seen = await page.evaluate(() => window.seen ?? []);
      out.status = await page.evaluate(() => document.getElementById("status")?.textContent ?? "");
    } else {
      let overlayAt = null;
      await until("the upload", async () => {
        const text = await overlayText(page);
        if (text && !out.overlay) out.overlay = text;
        if (text.includes("Upload original anyway")) throw new Error(`the notice appeared: ${text}`);
        if (c.overlayScreenshot && !overlayAt && text.startsWith("Cloaked")) {
          overlayAt = Date.now();
          await page.screenshot({ path: c.overlayScreenshot });
        }
        if (text) out.overlayFinal = text;
        return (await page.locator("#status[data-count]").count()) > 0;
      });
      out.uploaded = Number(await page.getAttribute("#status", "data-count"));
      out.seen = await page.evaluate(() => window.seen ?? []);
      out.overlayFinal = (await overlayText(page)) || out.overlayFinal || "";
      if (c.helpLink) {
        // The panel's link opens the extension's page on what cloaking does, in a new tab.
        const opened = ctx.waitForEvent("page", { timeout: 15000 });
        await page.locator("[data-cloaker-overlay] a").click();
        const help = await opened;
        await help.waitForLoadState();
        out.help = { url: help.url(), title: await help.title() };
        await help.close();
      }
      void notice;
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

/** The popup with no helper registered in this profile: what it tells the user. */
async function missingHelper() {
  sw ??= await ctx.waitForEvent("serviceworker", { predicate: (w) => w.url() === swUrl, timeout: 15000 });
  await until("the extension to give up on the helper", async () => (await state()).helper?.error, 30000);
  const popup = await ctx.newPage();
  await popup.setViewportSize({ width: 330, height: 330 });
  await popup.goto(`chrome-extension://${config.extensionId}/popup/popup.html`);
  await until("the popup's message", () => popup.evaluate(() => !document.getElementById("message").hidden), 15000);
  result.popup = await popup.evaluate(() => ({
    message: document.getElementById("message").textContent,
    install: !document.getElementById("install").hidden,
    link: document.querySelector("#install a").getAttribute("href"),
  }));
  result.helper = (await state()).helper;
  if (config.popupScreenshot) await popup.screenshot({ path: config.popupScreenshot });
  const help = await ctx.newPage();
  await help.goto(`chrome-extension://${config.extensionId}/pages/install.html`);
  result.installPage = await help.evaluate(() => document.body.innerText);
}

/** The helper's state as stored by the extension, with no popup open, until it is ready. */
async function watchWarmUp() {
  sw ??= await ctx.waitForEvent("serviceworker", { predicate: (w) => w.url() === swUrl, timeout: 15000 });
  result.states = [];
  await until("the stored helper state to become ready", async () => {
    const { helper } = await state();
    const last = result.states.at(-1);
    const now = `${helper?.connection}/${helper?.state}`;
    if (!last || last.state !== now) result.states.push({ state: now, at: Date.now() / 1000 });
    return helper?.connection === "connected" && helper.state === "ready";
  }, TIMEOUT, 100);
}

try {
  if (config.kind === "missing-helper") await missingHelper();
  else if (config.kind === "warm-up") await watchWarmUp();
  else await ready();
  for (const c of config.cases ?? []) result.cases[c.id] = await runCase(c);
  result.ok = true;
} catch (err) {
  result.ok = false;
  result.error = String(err?.stack || err);
} finally {
  await ctx.close();
}
console.log(`RESULT ${JSON.stringify(result)}`);
