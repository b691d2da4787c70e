// Drives firefox-esr through a list of plain-pattern cases (site/p-*.html) in ONE browser,
// headful under xvfb-run (the paste case needs a real clipboard): the extension as a
// temporary add-on, HOME with the real native host manifest, the real daemon.
// Called by test_patterns_firefox.py, which owns the site, the daemon and the assertions.
// The launch and the privileged helpers (extension state, trusted drop) come from
// firefox_lib.mjs; firefox.mjs's header explains them.
//
//   node tests/e2e/patterns_firefox.mjs CONFIG.json   (prints one line: RESULT {...})
//
// CONFIG: {firefox, extension, home, profile, extensionId, extensionUuid, timeoutMs,
//   clipboardOrigin, waitSites, cases: [as patterns_chromium.mjs]}

import { readFileSync } from "node:fs";

import { launchFirefox, pressPaste, privileged } from "./firefox_lib.mjs";
import { endCase, failCase, startCase } from "./patterns_lib.mjs";
import { until as wait, writeClipboard } from "./common.mjs";

const config = JSON.parse(readFileSync(process.argv[2], "utf8"));
const TIMEOUT = config.timeoutMs ?? 600000;
const started = Date.now();
const result = { events: [], cases: {} };
const note = (what) => result.events.push(`${((Date.now() - started) / 1000).toFixed(1)}s ${what}`);
const until = (what, fn, timeout = TIMEOUT, every = 150) => wait(what, fn, timeout, every);

const browser = await launchFirefox(config, { headless: false, height: 700, timeout: TIMEOUT });
const ff = await privileged(browser, config.extensionId);
const { bidi } = ff;

async function ready() {
  result.extensionId = await browser.installExtension(config.extension);
  await ff.waitReady(TIMEOUT);
  await ff.waitSites(config.waitSites, 2);
  note("extension ready");
}

async function runCase(c) {
  const out = { id: c.id };
  const t0 = Date.now();
  await startCase(c, out, ff.waitProtection);
  if (c.action === "paste") await writeClipboard(browser, config.clipboardOrigin, c.files[0]);
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
    } else if (c.action === "drop") await ff.dropFiles(page, "#zone", c.files);
    else if (c.action === "paste") {
      await page.click("#target");
      await pressPaste(page);
    } else throw new Error(`unknown action ${c.action}`);
    note(`${c.id}: files handed over`);

    await endCase(page, c, out, until);
  } catch (err) {
    await failCase(page, out, err);
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
