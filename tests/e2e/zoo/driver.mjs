// What the zoo's two browser drivers (chromium.mjs, firefox.mjs) share: the command loop on
// stdin, the widget table, and how a case ends, read from the page alone (page.evaluate works
// the same in playwright-core and puppeteer-core).
//
// Protocol: the test writes one JSON command per line on stdin; the driver answers each with
// one line `RESULT {...}` on stdout (after one `READY {...}` line once the extension is up).
//   {"cmd": "case", "id", "url", "widget", "flow": "pick"|"drop"|"folder"|"paste",
//    "files": [paths], "count": photos to upload, "pastePng": path, "screenshot": path|null,
//    "answer": "original" (when the fail-closed notice shows: screenshot it, then click
//    "Upload original anyway" as a user does, and wait for the upload again)}
//   {"cmd": "protection", "value": bool}   wait until the extension has this setting
//   {"cmd": "quit"}

import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";

import { sleep } from "../common.mjs";

export { sleep, until } from "../common.mjs";

export const WIDGETS = JSON.parse(readFileSync(join(dirname(fileURLToPath(import.meta.url)), "widgets.json"), "utf8"));
// After the overlay is gone (or, off the list, after the hand-over), how long a widget may
// take to upload before the case counts as "nothing received".
const IDLE_MS = 15000;

export function reply(kind, data) {
  process.stdout.write(`${kind} ${JSON.stringify(data)}\n`);
}

/** Run `handle(command)` for each command line on stdin; answer with its result. */
export async function serve(handle) {
  const lines = createInterface({ input: process.stdin });
  for await (const line of lines) {
    if (!line.trim()) continue;
    const command = JSON.parse(line);
    if (command.cmd === "quit") break;
    const started = Date.now();
    try {
      reply("RESULT", { ok: true, ...(await handle(command)), caseSeconds: (Date.now() - started) / 1000 });
    } catch (err) {
      reply("RESULT", { ok: false, error: String(err?.stack || err), caseSeconds: (Date.now() - started) / 1000 });
    }
  }
}

/** The page's record (zoo.js) and the extension's overlay, as page script can read them. */
export function pageState(page) {
  return page.evaluate(() => {
    const host = document.querySelector("[data-cloaker-overlay]");
    const root = host?.shadowRoot;
    return {
      ready: Boolean(window.zoo),
      uploads: window.zoo?.uploads ?? 0,
      pending: window.zoo?.pending ?? 0,
      seen: window.zoo?.seen ?? [],
      errors: window.zoo?.errors ?? [],
      events: window.zoo?.events ?? [],
      overlay: Boolean(host),
      // The fail-closed notice is the overlay's only panel with buttons.
      notice: Boolean(root?.querySelector("button")),
      overlayText: root?.querySelector(".panel")?.innerText ?? "",
    };
  });
}

/**
 * Wait for the case to end: "uploaded" (the widget finished as many uploads as files were
 * handed over), "notice" (the fail-closed notice), "nothing" (no upload IDLE_MS after the
 * overlay went away, or after the hand-over when no overlay came), or "timeout" (the overlay
 * stayed past timeoutMs). Returns the outcome, the seconds from hand-over to it, and what the
 * page and the overlay showed.
 */
export async function outcome(page, { count, timeoutMs, handedAt }) {
  const deadline = handedAt + timeoutMs;
  let idleSince = handedAt;
  let overlayShown = false;
  let overlayText = "";
  for (;;) {
    const state = await pageState(page);
    const now = Date.now();
    if (state.overlay) {
      overlayShown = true;
      overlayText = state.overlayText || overlayText;
      idleSince = now;
    }
    let result = null;
    if (state.uploads >= count && state.pending === 0) result = "uploaded";
    else if (state.notice) result = "notice";
    else if (now - idleSince > IDLE_MS && state.pending === 0) result = "nothing";
    else if (now > deadline) result = "timeout";
    if (result) {
      if (result === "uploaded") await sleep(300); // a second, late upload would show here
      const last = await pageState(page);
      return {
        outcome: result,
        seconds: (now - handedAt) / 1000,
        overlayShown,
        overlayText: last.overlayText || overlayText,
        uploads: last.uploads,
        seen: last.seen,
        errors: last.errors,
        events: last.events,
      };
    }
    await sleep(100);
  }
}
