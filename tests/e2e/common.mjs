// What every browser driver (tests/e2e/*.mjs, tests/e2e/zoo/*.mjs) shares; page.evaluate and
// newPage work the same in playwright-core and puppeteer-core.

import { readFileSync } from "node:fs";

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Poll `fn` every `every` ms until it returns something truthy; throw after `timeout` ms. */
export async function until(what, fn, timeout, every = 200) {
  const deadline = Date.now() + timeout;
  for (;;) {
    const value = await fn();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(every);
  }
}

/**
 * Put the PNG at `png` on the clipboard from a page of the secure origin `origin` (a page of
 * the test site) that `opener` (a browser or a browser context) opens and closes again.
 */
export async function writeClipboard(opener, origin, png) {
  const writer = await opener.newPage();
  await writer.goto(`${origin}/index.html`);
  await writer.evaluate(async (data) => {
    const blob = await (await fetch(`data:image/png;base64,${data}`)).blob();
    await navigator.clipboard.write([new ClipboardItem({ "image/png": blob })]);
  }, readFileSync(png).toString("base64"));
  await writer.close();
}
