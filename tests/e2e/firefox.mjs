// Drives firefox-esr through one upload scenario with puppeteer-core over WebDriver BiDi: the
// test module's profile, the Cloaker extension installed as a temporary add-on
// (webExtension.install), and HOME pointed at a folder whose .mozilla/native-messaging-hosts/
// holds the real host manifest written by `cloaker install --firefox-home`.
// Called by tests/e2e/test_firefox.py, which owns the test site, the daemon and the
// assertions; this script only acts like a user and reports what it saw.
//
//   node tests/e2e/firefox.mjs CONFIG.json      (prints one line: RESULT {...})
//
// CONFIG: {firefox, extension, home, profile, extensionId, extensionUuid, timeoutMs, headless,
//   scenario: {
//   kind: "upload" (default) | "install" (install the add-on, wait as asked, quit),
//   url, host, flow: form|app|hidden|drop|paste|shadow, files: [absolute paths],
//   pastePng: absolute path (flow paste; needs headless: false and an X display),
//   clipboardOrigin: "http://127.0.0.1:PORT",
//   expect: "cloaked" | "untouched" | "notice", answer: "original" | "cancel",
//   waitReady: bool (wait for the helper and its models), waitSites: [hosts registered],
//   beforeUpload: [argv], waitProtection: bool, onProgress: [argv],
//   afterUpload: [argv], waitProtectionAfter: bool,
//   progressScreenshot: path, noticeScreenshot: path, finalScreenshot: path }}
//
// What WebDriver BiDi cannot do on its own, and how this script does it (with the helpers of
// firefox_lib.mjs, which the other Firefox drivers share):
// - Extension state (storage.local, registered content scripts) lives in moz-extension://
//   pages, which BiDi may not navigate to. Firefox is started with
//   --remote-allow-system-access, which lets BiDi evaluate script in the browser's chrome
//   window ("moz:scope": "chrome"): the state is read there, through WebExtensionPolicy and
//   the extension's own storage.local database, without touching the extension.
// - Firefox's WebDriver drags never drop (its EventUtils ends the drag session on mouse up
//   with a FIXME instead of a drop). The drag is real (WebDriver mouse actions on a draggable
//   element the script adds, whose dragstart puts the photo in the DataTransfer, as a file
//   manager does); the drop is then dispatched, trusted, through the page's PresShell with
//   the drag session's DataTransfer, from a privileged process script: what Gecko's own
//   test helpers do for drops.
// - Headless Firefox's clipboard only carries text, so the paste flow runs headful (the
//   Python side wraps it in xvfb-run): a real clipboard, written by navigator.clipboard on a
//   secure origin, and a real Ctrl+V.

import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";

import { launchFirefox, pressPaste, privileged } from "./firefox_lib.mjs";
import { sleep, until as wait, writeClipboard } from "./common.mjs";

const config = JSON.parse(readFileSync(process.argv[2], "utf8"));
const sc = config.scenario;
const TIMEOUT = config.timeoutMs ?? 180000;
const started = Date.now();
const result = { flow: sc.flow, events: [] };
const note = (what) => result.events.push(`${((Date.now() - started) / 1000).toFixed(1)}s ${what}`);
const until = (what, fn, timeout = TIMEOUT, every = 200) => wait(what, fn, timeout, every);

function run(argv) {
  note(`run ${argv.slice(0, 3).join(" ")}…`);
  return execFileSync(argv[0], argv.slice(1), { encoding: "utf8", timeout: 60000 });
}

const browser = await launchFirefox(config, { headless: config.headless !== false, height: 700, timeout: TIMEOUT });
// ---- privileged helpers (see the header) ----
const ff = await privileged(browser, config.extensionId);
const { ask, extensionState } = ff;

async function waitProtection(value) {
  await ff.waitProtection(value);
  note(`extension sees protection=${value}`);
}

// ---- the extension, installed as a temporary add-on ----
async function install() {
  result.extensionId = await browser.installExtension(config.extension);
  note(`installed ${result.extensionId}`);
  if (sc.waitReady) {
    await ff.waitReady(TIMEOUT);
    note("helper ready");
  }
  if (sc.waitSites) {
    await ff.waitSites(sc.waitSites);
    note("content script registered");
  }
}

// ---- the overlay (the content script's shadow root is open: the page can read it) ----
const overlayCount = (page) => page.evaluate(() => document.querySelectorAll("[data-cloaker-overlay]").length);
const overlayText = (page) =>
  page.evaluate(() => document.querySelector("[data-cloaker-overlay]")?.shadowRoot.querySelector(".panel").innerText ?? "");
const overlayProgress = (page, stage) =>
  page.evaluate((want) => {
    const host = document.querySelector("[data-cloaker-overlay]");
    const rows = host ? [...host.shadowRoot.querySelectorAll(".row")] : [];
    return rows.some((r) => parseFloat(r.querySelector(".fill").style.width) > 0 &&
      (!want || r.querySelector(".stage").textContent === want));
  }, stage);
const noticeButton = (page, label) =>
  page.$(`[data-cloaker-overlay] >>> button${label === "original" ? ".primary" : ":not(.primary)"}`);

// ---- handing files over, the way a user does for each flow ----
async function pastePhoto(page) {
  if (config.headless !== false) throw new Error("the paste flow needs a real clipboard: run headful");
  await writeClipboard(browser, sc.clipboardOrigin, sc.pastePng);
  await page.bringToFront();
  await page.click("#target");
  await pressPaste(page);
}

async function handOver(page) {
  if (sc.flow === "form") await (await page.$("#photos")).uploadFile(...sc.files);
  else if (sc.flow === "app") await (await page.$("#picker")).uploadFile(...sc.files);
  else if (sc.flow === "shadow") {
    // Click the input and pick in the file chooser, as a user does. (BiDi's input.setFiles
    // on the element, which uploadFile uses, fires a `input` that is not composed, unlike the
    // browser's own picker: it would never leave the shadow root unless a click had revealed
    // the root to the content script first.)
    const input = await page.$("photo-picker >>> input");
    const [chooser] = await Promise.all([page.waitForFileChooser({ timeout: 15000 }), input.click()]);
    await chooser.accept(sc.files);
  } else if (sc.flow === "hidden") {
    const [chooser] = await Promise.all([page.waitForFileChooser({ timeout: 15000 }), page.click("#choose")]);
    await chooser.accept(sc.files);
  } else if (sc.flow === "drop") await ff.dropFiles(page, "#zone", sc.files);
  else if (sc.flow === "paste") await pastePhoto(page);
  else throw new Error(`unknown flow ${sc.flow}`);
  note("files handed over");
}

// ---- one upload ----
async function uploadScenario() {
  const page = await browser.newPage();
  page.on("console", (m) => result.events.push(`console ${m.text()}`));
  await page.goto(sc.url);
  note(`loaded ${sc.url}`);
  result.injected = (await ask(page, "injected", { extensionId: config.extensionId })).injected;

  if (sc.beforeUpload) {
    result.beforeUpload = run(sc.beforeUpload).trim();
    if (sc.waitProtection !== undefined) await waitProtection(sc.waitProtection);
  }

  await handOver(page);
  const seen = () => page.evaluate(() => window.seen);
  const uploaded = async () => {
    if (sc.flow === "form") {
      await Promise.all([page.waitForNavigation({ timeout: TIMEOUT }), page.click("#submit")]);
      await page.waitForSelector("#received", { timeout: TIMEOUT });
      return Number(await page.$eval("#received", (el) => el.dataset.count));
    }
    await page.waitForSelector("#status[data-count]", { timeout: TIMEOUT });
    return Number(await page.$eval("#status", (el) => el.dataset.count));
  };
  // What the page's listeners saw, and the upload. A form submission leaves the page: read
  // window.seen first there; elsewhere read it once the upload is done.
  const collect = async () => {
    if (sc.flow === "form") result.seen = await seen();
    result.uploaded = await uploaded();
    if (sc.flow !== "form") result.seen = await seen();
  };

  if (sc.expect === "untouched") {
    if (sc.flow === "form") await until("the page to see the files", async () => (await seen()).length > 0, 10000);
    result.overlayShown = (await overlayCount(page)) > 0;
    await collect();
  } else {
    await until("the overlay", async () => (await overlayCount(page)) > 0, 15000, 50);
    result.overlayShown = true;
    note("overlay shown");
    if (sc.progressScreenshot || sc.onProgress) {
      await until("progress in the overlay", () => overlayProgress(page, null), 60000, 50);
      if (sc.progressScreenshot) {
        await until("the cloaking stage", () => overlayProgress(page, "cloaking"), 60000, 100).catch(() => {});
      }
      note("progress shown");
      if (sc.progressScreenshot) await page.screenshot({ path: sc.progressScreenshot });
      if (sc.onProgress) result.onProgress = run(sc.onProgress).trim();
    }
    if (sc.expect === "cloaked") {
      const failed = async () => {
        if (await noticeButton(page, "original")) {
          throw new Error(`the fail-closed notice appeared instead: ${await overlayText(page)}`);
        }
      };
      await until("the cloaked upload", async () => {
        await failed();
        if (sc.flow === "form") {
          return page.evaluate(
            (count) => document.getElementById("photos").files.length === count &&
              window.seen.some((e) => e.type === "change"),
            sc.files.length,
          );
        }
        return (await page.$("#status[data-count]")) !== null;
      });
      await collect();
      note("uploaded");
    } else {
      await until("the fail-closed notice", () => noticeButton(page, "original"));
      note("notice shown");
      await sleep(300); // let the notice settle before the screenshot
      result.notice = await overlayText(page);
      if (sc.noticeScreenshot) await page.screenshot({ path: sc.noticeScreenshot });
      result.seenBeforeAnswer = await seen();
      result.statusBeforeAnswer = await page.evaluate(() => document.getElementById("status")?.textContent ?? "");
      result.inputFilesBeforeAnswer = await page.evaluate(
        () => document.querySelector("input[type=file]")?.files.length ?? null,
      );
      if (sc.answer === "cancel") {
        await (await noticeButton(page, "cancel")).click();
        await sleep(500);
        result.seen = await seen();
        result.overlayGone = (await overlayCount(page)) === 0;
      } else {
        await (await noticeButton(page, "original")).click();
        note("clicked Upload original anyway");
        if (sc.flow === "form") {
          await until("the original files in the input", () =>
            page.evaluate(() => window.seen.some((e) => e.type === "change")));
        }
        await collect();
      }
    }
  }
  if (sc.finalScreenshot) {
    // The page as the user is left with it, once the overlay's success note has faded.
    await until("the overlay to fade", async () => (await overlayCount(page)) === 0, 5000).catch(() => {});
    await page.screenshot({ path: sc.finalScreenshot });
  }
  if (sc.afterUpload) {
    result.afterUpload = run(sc.afterUpload).trim();
    if (sc.waitProtectionAfter !== undefined) await waitProtection(sc.waitProtectionAfter);
  }
  result.helper = (await extensionState())?.helper;
}

try {
  await install();
  if (sc.kind !== "install") await uploadScenario();
  result.ok = true;
} catch (err) {
  result.ok = false;
  result.error = String(err?.stack || err);
} finally {
  await browser.close().catch(() => {});
}
console.log(`RESULT ${JSON.stringify(result)}`);
