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
// What BiDi cannot do alone is done with tests/e2e/firefox_lib.mjs, as tests/e2e/firefox.mjs
// does it (its header and tests/e2e/README.md explain why): extension state read from the chrome window
// (--remote-allow-system-access), a privileged process script that tells whether the content
// script is in a page and dispatches a trusted drop, with the drag session's DataTransfer,
// after a real WebDriver drag from a draggable element the driver adds to the page.

import { readFileSync } from "node:fs";

import { writeClipboard } from "../common.mjs";
import { launchFirefox, pressPaste, privileged } from "../firefox_lib.mjs";
import { WIDGETS, outcome, pageState, reply, serve, until } from "./driver.mjs";

const config = JSON.parse(readFileSync(process.argv[2], "utf8"));
const TIMEOUT = config.timeoutMs ?? 180000;

const browser = await launchFirefox(config, {
  headless: false,
  height: 800,
  timeout: TIMEOUT,
  // The zoo's hosts are secure contexts, as the HTTPS sites they stand for are.
  prefs: { "dom.securecontext.allowlist": config.secureHosts.join(",") },
});
const ff = await privileged(browser, config.extensionId);
const { ask } = ff;

// ---- the extension, then the commands ----
const extensionId = await browser.installExtension(config.extension);
await ff.waitReady(TIMEOUT);
await ff.waitSites(config.waitSites);
reply("READY", { extensionId });

async function pastePhoto(page, focus, png) {
  await writeClipboard(browser, config.clipboardOrigin, png);
  await page.bringToFront();
  if (focus) await page.focus(focus);
  await pressPaste(page);
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
  if (c.flow === "drop") await ff.dropFiles(page, spec.drop, c.files);
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
  await ff.waitProtection(value);
  return { protection: value };
}

try {
  await serve((c) => (c.cmd === "protection" ? protection(c.value) : runCase(c)));
} finally {
  await browser.close().catch(() => {});
}
