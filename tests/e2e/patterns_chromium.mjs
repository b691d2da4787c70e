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

import { readFileSync } from "node:fs";

import { launchChromium } from "./chromium_lib.mjs";
import { endCase, failCase, seen, startCase } from "./patterns_lib.mjs";
import { until as wait, writeClipboard } from "./common.mjs";

const config = JSON.parse(readFileSync(process.argv[2], "utf8"));
const TIMEOUT = config.timeoutMs ?? 600000;
const started = Date.now();
const result = { events: [], cases: {} };
const note = (what) => result.events.push(`${((Date.now() - started) / 1000).toFixed(1)}s ${what}`);

const until = (what, fn, timeout = TIMEOUT, every = 150) => wait(what, fn, timeout, every);

// Real sites are HTTPS: make the test site a secure context, where pages have what only
// secure contexts get (showOpenFilePicker among them).
const ctx = await launchChromium(config, { secureOrigins: config.secureOrigins ?? [] });

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

async function runCase(c) {
  const out = { id: c.id };
  const t0 = Date.now();
  await startCase(c, out, (value) =>
    until("the extension to hear of the protection setting", async () => (await state()).settings?.protection === value, 15000));
  if (c.action === "paste") {
    await ctx.grantPermissions(["clipboard-read", "clipboard-write"], { origin: config.clipboardOrigin });
    await writeClipboard(ctx, config.clipboardOrigin, c.files[0]);
  }
  const page = await ctx.newPage();
  page.on("console", (m) => result.events.push(`${c.id} console ${m.text()}`));
  try {
    await page.goto(c.url);
    const scope = c.frame ? page.frameLocator("iframe") : page;
    out.fsaPresent = await page.evaluate(() => "showOpenFilePicker" in window);
    if (c.action === "probe") {
      // Only look: no CDP call answers a File System Access picker.
      out.seen = await seen(page);
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

    let overlayAt = null;
    await endCase(page, c, out, until, async (text) => {
      if (c.overlayScreenshot && !overlayAt && text.startsWith("Cloaked")) {
        overlayAt = Date.now();
        await page.screenshot({ path: c.overlayScreenshot });
      }
    });
    if (c.expect !== "notice" && c.helpLink) {
      // The panel's link opens the extension's page on what cloaking does, in a new tab.
      const opened = ctx.waitForEvent("page", { timeout: 15000 });
      await page.locator("[data-cloaker-overlay] a").click();
      const help = await opened;
      await help.waitForLoadState();
      out.help = { url: help.url(), title: await help.title() };
      await help.close();
    }
  } catch (err) {
    await failCase(page, out, err);
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
