// Drives Debian's Chromium through one upload scenario, with the unpacked Cloaker extension
// in a persistent profile (whose NativeMessagingHosts folder holds the real host manifest).
// Called by tests/e2e/test_chromium.py, which owns the test site, the daemon and the
// assertions; this script only acts like a user and reports what it saw.
//
//   node tests/e2e/chromium.mjs CONFIG.json      (prints one line: RESULT {...})
//
// CONFIG: {chromium, extension, profile, extensionId, timeoutMs, scenario: {
//   kind: "upload" (default) | "pages" (popup and options page: see pagesScenario),
//   url, host, flow: form|app|hidden|drop|paste|shadow, files: [absolute paths],
//   pastePng: absolute path (flow paste), clipboardOrigin: "http://127.0.0.1:PORT",
//   expect: "cloaked" | "untouched" | "notice", answer: "original" | "cancel",
//   waitReady: bool (wait for the helper and its models), waitSites: [hosts registered],
//   beforeUpload: [argv] (run before the files are handed over, e.g. switch protection off),
//   waitProtection: bool (wait until the extension has this protection value),
//   onProgress: [argv] (run once the overlay shows progress, e.g. kill the daemon),
//   afterUpload: [argv], waitProtectionAfter: bool (the same, after the upload),
//   progressScreenshot: path, noticeScreenshot: path,
//   settingsCommand: [argv] printing the daemon's settings (pages),
//   popupScreenshot: path, optionsScreenshot: path (pages) }}

import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";

import { launchChromium } from "./chromium_lib.mjs";
import { until as wait, writeClipboard } from "./common.mjs";

const config = JSON.parse(readFileSync(process.argv[2], "utf8"));
const sc = config.scenario;
const TIMEOUT = config.timeoutMs ?? 180000;
const result = { flow: sc.flow, events: [] };
const note = (what) => result.events.push(`${((Date.now() - started) / 1000).toFixed(1)}s ${what}`);
const started = Date.now();

const until = (what, fn, timeout = TIMEOUT, every = 200) => wait(what, fn, timeout, every);

function run(argv) {
  note(`run ${argv.slice(0, 3).join(" ")}…`);
  return execFileSync(argv[0], argv.slice(1), { encoding: "utf8", timeout: 60000 });
}

const ctx = await launchChromium(config);

/** The extension's service worker, once it runs, and the helper as the extension sees it. */
async function extension() {
  const swUrl = `chrome-extension://${config.extensionId}/background/main.js`;
  let sw = ctx.serviceWorkers().find((w) => w.url() === swUrl);
  sw ??= await ctx.waitForEvent("serviceworker", { predicate: (w) => w.url() === swUrl, timeout: 15000 });
  result.extensionId = await sw.evaluate(() => chrome.runtime.id);
  const helper = () => sw.evaluate(() => chrome.storage.local.get(["helper", "settings"]));
  if (sc.waitReady) {
    await until("the helper to be connected with models ready", async () => {
      const { helper: h } = await helper();
      return h?.connection === "connected" && h.state === "ready";
    });
    note("helper ready");
  }
  if (sc.waitSites) {
    await until("the content script to be registered for the test site", async () => {
      const scripts = await sw.evaluate(() => chrome.scripting.getRegisteredContentScripts());
      const matches = scripts.flatMap((s) => s.matches);
      return sc.waitSites.every((host) => matches.includes(`*://*.${host}/*`));
    });
    note("content script registered");
  }

  return { sw, helper };
}

/** One upload through one flow: what the page, the overlay and the site went through. */
async function uploadScenario({ helper }) {
  // ---- the clipboard (paste flow): written from a secure origin, read by the paste ----
  if (sc.flow === "paste") {
    await ctx.grantPermissions(["clipboard-read", "clipboard-write"], { origin: sc.clipboardOrigin });
    await writeClipboard(ctx, sc.clipboardOrigin, sc.pastePng);
  }

  // ---- the page, and whether the extension's content script was injected into it ----
  const page = await ctx.newPage();
  page.on("console", (m) => result.events.push(`console ${m.text()}`));
  const cdp = await ctx.newCDPSession(page);
  const worlds = [];
  cdp.on("Runtime.executionContextCreated", ({ context }) => {
    if (context.auxData?.type === "isolated") worlds.push(context.name);
  });
  await cdp.send("Runtime.enable");
  await page.goto(sc.url);
  note(`loaded ${sc.url}`);

  if (sc.beforeUpload) {
    result.beforeUpload = run(sc.beforeUpload).trim();
    if (sc.waitProtection !== undefined) {
      await until("the extension to hear of the new protection setting", async () => {
        const { settings } = await helper();
        return settings?.protection === sc.waitProtection;
      }, 15000);
      note(`extension sees protection=${sc.waitProtection}`);
    }
  }

  // ---- hand the files over, the way a user does for this flow ----
  const overlay = page.locator("[data-cloaker-overlay]");
  if (sc.flow === "form") await page.setInputFiles("#photos", sc.files);
  else if (sc.flow === "app") await page.setInputFiles("#picker", sc.files);
  else if (sc.flow === "shadow") await page.locator("photo-picker input").setInputFiles(sc.files);
  else if (sc.flow === "hidden") {
    const [chooser] = await Promise.all([page.waitForEvent("filechooser"), page.click("#choose")]);
    await chooser.setFiles(sc.files);
  } else if (sc.flow === "drop") {
    const box = await page.locator("#zone").boundingBox();
    const at = { x: box.x + box.width / 2, y: box.y + box.height / 2 };
    const data = { items: [], files: sc.files, dragOperationsMask: 1 };
    for (const type of ["dragEnter", "dragOver", "drop"]) {
      await cdp.send("Input.dispatchDragEvent", { type, ...at, data });
    }
  } else if (sc.flow === "paste") {
    await page.click("#target");
    await page.keyboard.press("Control+V");
  } else throw new Error(`unknown flow ${sc.flow}`);
  note("files handed over");

  const uploaded = async () => {
    if (sc.flow === "form") {
      await page.click("#submit");
      await page.waitForSelector("#received", { timeout: TIMEOUT });
      return Number(await page.getAttribute("#received", "data-count"));
    }
    await page.waitForSelector("#status[data-count]", { timeout: TIMEOUT });
    return Number(await page.getAttribute("#status", "data-count"));
  };
  const seen = () => page.evaluate(() => window.seen);

  if (sc.expect === "untouched") {
    if (sc.flow === "form") await until("the page to see the files", async () => (await seen()).length > 0, 10000);
    result.overlayShown = (await overlay.count()) > 0;
    result.seen = await seen();
    result.uploaded = await uploaded();
  } else {
    await overlay.waitFor({ state: "attached", timeout: 15000 });
    result.overlayShown = true;
    note("overlay shown");
    if (sc.progressScreenshot || sc.onProgress) {
      // Wait for the optimisation itself ("cloaking"), or at least some progress.
      const progress = (stage) =>
        overlay.evaluate((host, want) => {
          const rows = [...host.shadowRoot.querySelectorAll(".row")];
          return rows.some((r) => parseFloat(r.querySelector(".fill").style.width) > 0 &&
            (!want || r.querySelector(".stage").textContent === want));
        }, stage);
      await until("progress in the overlay", () => progress(null), 60000, 50);
      if (sc.progressScreenshot) {
        await until("the cloaking stage", () => progress("cloaking"), 60000, 100).catch(() => {});
      }
      note("progress shown");
      if (sc.progressScreenshot) await page.screenshot({ path: sc.progressScreenshot });
      if (sc.onProgress) result.onProgress = run(sc.onProgress).trim();
    }
    if (sc.expect === "cloaked") {
      const notice = page.getByRole("button", { name: "Upload original anyway" });
      const failed = async () => {
        if ((await notice.count()) === 0) return;
        const text = await overlay.evaluate((host) => host.shadowRoot.querySelector(".panel").innerText);
        throw new Error(`the fail-closed notice appeared instead: ${text}`);
      };
      if (sc.flow === "form") {
        await until("the cloaked files in the input", async () => {
          await failed();
          return page.evaluate(
            (count) =>
              document.getElementById("photos").files.length === count &&
              window.seen.some((e) => e.type === "change"),
            sc.files.length,
          );
        });
      } else {
        await until("the upload", async () => {
          await failed();
          return (await page.locator("#status[data-count]").count()) > 0;
        });
      }
      result.seen = await seen(); // before a form submission leaves the page
      result.uploaded = await uploaded();
      note("uploaded");
    } else {
      const button = page.getByRole("button", { name: "Upload original anyway" });
      await button.waitFor({ timeout: TIMEOUT });
      note("notice shown");
      result.notice = await overlay.evaluate((host) => host.shadowRoot.querySelector(".panel").innerText);
      if (sc.noticeScreenshot) await page.screenshot({ path: sc.noticeScreenshot });
      result.seenBeforeAnswer = await seen();
      result.statusBeforeAnswer = await page.evaluate(() => document.getElementById("status")?.textContent ?? "");
      result.inputFilesBeforeAnswer = await page.evaluate(
        () => document.querySelector("input[type=file]")?.files.length ?? null,
      );
      if (sc.answer === "cancel") {
        await page.getByRole("button", { name: "Cancel" }).click();
        await page.waitForTimeout(500);
        result.seen = await seen();
        result.overlayGone = (await overlay.count()) === 0;
      } else {
        await button.click();
        note("clicked Upload original anyway");
        await until("the page to get the files", () =>
          page.evaluate(() => window.seen.some((e) => e.type === "change" || e.type === "drop" || e.type === "paste")),
        );
        result.seen = await seen();
        result.uploaded = await uploaded();
      }
    }
  }
  if (sc.afterUpload) {
    result.afterUpload = run(sc.afterUpload).trim();
    if (sc.waitProtectionAfter !== undefined) {
      await until("the extension to hear of the new protection setting", async () => {
        const { settings } = await helper();
        return settings?.protection === sc.waitProtectionAfter;
      }, 15000);
      note(`extension sees protection=${sc.waitProtectionAfter}`);
    }
  }
  result.injected = worlds.includes("Cloaker");
  result.worlds = worlds;
}

/** The popup (for the test site's tab) and the options page, switched like a user does. */
async function pagesScenario({ sw, helper }) {
  const settings = () => JSON.parse(run(sc.settingsCommand));
  const site = await ctx.newPage();
  await site.goto(sc.url);
  const tabId = await sw.evaluate(async (url) => (await chrome.tabs.query({ url }))[0]?.id, sc.url);
  const popup = await ctx.newPage();
  await popup.setViewportSize({ width: 330, height: 360 });
  await popup.goto(`chrome-extension://${config.extensionId}/popup/popup.html?tab=${tabId}`);
  const read = () =>
    popup.evaluate(() => {
      const $ = (id) => document.getElementById(id);
      return {
        site: $("site").textContent,
        siteOn: $("site-switch").checked,
        protection: $("protection-switch").checked,
        mode: $("mode").value,
        connection: $("connection").textContent,
        models: $("models").textContent,
        device: $("device").textContent,
      };
    });
  await until("the popup to show the helper ready", async () => (await read()).models === "ready", 30000);
  result.popup = await read();
  await popup.waitForTimeout(400); // let the switches finish their transition
  if (sc.popupScreenshot) await popup.screenshot({ path: sc.popupScreenshot });

  const flip = async (selector, key, want) => {
    await popup.click(selector);
    await until(`the popup to show ${key}=${want}`, async () => (await read())[key] === want, 15000);
    return settings();
  };
  result.protectionOff = await flip("#protection-switch", "protection", false);
  result.protectionOn = await flip("#protection-switch", "protection", true);
  result.siteOff = await flip("#site-switch", "siteOn", false);
  result.siteOn = await flip("#site-switch", "siteOn", true);
  await popup.selectOption("#mode", "high");
  await until("the mode to reach the daemon", async () => (await read()).mode === "high", 15000);
  result.modeHigh = settings();
  await popup.selectOption("#mode", result.popup.mode);
  await until("the mode to go back", async () => (await read()).mode === result.popup.mode, 15000);

  const options = await ctx.newPage();
  await options.goto(`chrome-extension://${config.extensionId}/options/options.html`);
  await options.waitForSelector(`li[data-host="${sc.host}"]`);
  result.optionsSites = await options.$$eval("li[data-host]", (items) => items.map((li) => li.dataset.host));
  if (sc.optionsScreenshot) await options.screenshot({ path: sc.optionsScreenshot });
  await options.click(`li[data-host="${sc.host}"] input.switch`);
  await until("the options page to show the site off", () =>
    options.$eval(`li[data-host="${sc.host}"]`, (li) => li.className === "off"), 15000);
  result.optionsSiteOff = settings();
  await options.click(`li[data-host="${sc.host}"] input.switch`);
  await until("the options page to show the site on", () =>
    options.$eval(`li[data-host="${sc.host}"]`, (li) => li.className === "on"), 15000);
  result.optionsSiteOn = settings();
  const { helper: h } = await helper();
  result.helper = h;
}

try {
  const ext = await extension();
  if (sc.kind === "pages") await pagesScenario(ext);
  else await uploadScenario(ext);
  result.ok = true;
} catch (err) {
  result.ok = false;
  result.error = String(err?.stack || err);
} finally {
  await ctx.close();
}
console.log(`RESULT ${JSON.stringify(result)}`);
