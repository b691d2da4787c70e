// What the plain-pattern drivers (patterns_chromium.mjs, patterns_firefox.mjs) share: how a
// case starts and how it ends, read from the page alone (page.evaluate works the same in
// playwright-core and puppeteer-core).

import { execFileSync } from "node:child_process";

/** The overlay's text, in the page or in any same-origin frame of it ("" when none shows). */
export const overlayText = (page) =>
  page.evaluate(() =>
    [document, ...Array.from(frames, (f) => { try { return f.document; } catch { return null; } })]
      .filter(Boolean)
      .map((d) => d.querySelector("[data-cloaker-overlay]")?.shadowRoot.querySelector(".panel").innerText)
      .find(Boolean) ?? "");

export const seen = (page) => page.evaluate(() => window.seen ?? []);

/** Before a case: its command (switch protection through the daemon), then the wait for it. */
export async function startCase(c, out, waitProtection) {
  if (c.beforeCase) out.beforeCase = execFileSync(c.beforeCase[0], c.beforeCase.slice(1), { encoding: "utf8" }).trim();
  if (c.protection !== undefined) await waitProtection(c.protection);
}

/**
 * After the hand-over: the fail-closed notice (expect "notice"), or the upload, failing on
 * the notice. `onText(text)` sees each overlay text while the upload is awaited.
 */
export async function endCase(page, c, out, until, onText = async () => {}) {
  if (c.expect === "notice") {
    await until("the notice", async () => (await overlayText(page)).includes("Upload original anyway"));
    out.notice = await overlayText(page);
    if (c.noticeScreenshot) await page.screenshot({ path: c.noticeScreenshot });
    out.seen = await seen(page);
    out.status = await page.evaluate(() => document.getElementById("status")?.textContent ?? "");
    return;
  }
  await until("the upload", async () => {
    const text = await overlayText(page);
    if (text && !out.overlay) out.overlay = text;
    if (text.includes("Upload original anyway")) throw new Error(`the notice appeared: ${text}`);
    await onText(text);
    if (text) out.overlayFinal = text;
    return page.evaluate(() => document.querySelector("#status[data-count]") !== null);
  });
  out.uploaded = Number(await page.evaluate(() => document.getElementById("status").dataset.count));
  out.seen = await seen(page);
  out.overlayFinal = (await overlayText(page)) || out.overlayFinal || "";
}

/** A failed case: the error, and what the page had seen by then. */
export async function failCase(page, out, err) {
  out.error = String(err?.stack || err);
  out.seen = await seen(page).catch(() => null);
}
