// Cloak jobs from content scripts. Each held upload opens a runtime port named "cloak";
// the messages on it (all JSON, so the same in Chrome and Firefox):
//
//   content -> background
//     {type: "job", files: [{name, mime, size}]}
//     {type: "bytes", file, index, count, data}   file i's bytes as base64 slices, in order
//   background -> content
//     {type: "progress", file, fraction, stage, position}
//     {type: "bytes", file, index, count, data}   the cloaked bytes, in slices, before "done"
//     {type: "done", file, status, mime, faces, reason}   status: cloaked | no_face | skipped
//     {type: "failed", file, code, message}
//
// The site is taken from the port's sender (the frame's origin or URL), never from the page.
// Closing the port (tab closed, user pressed Cancel) cancels the daemon jobs.

import "../shared/bytes.js";
import "../shared/sites.js";
import { RequestError } from "./errors.js";

const { concatBytes, fromBase64, toBase64 } = globalThis.CloakerBytes;
const { hostOf, isProtected } = globalThis.CloakerSites;

export const PORT_NAME = "cloak";
/** Raw bytes per slice between content script and background (keeps messages small). */
export const SLICE_BYTES = 8 * 1024 * 1024;
/**
 * No word about a cloak job for this long fails it. A queued job hears nothing until a job
 * ahead of it ends, which the daemon bounds by its job timeout: wait that long plus a margin.
 */
export function cloakIdleTimeoutMs(limits) {
  const jobTimeoutS = Number(limits?.job_timeout_s) > 0 ? Number(limits.job_timeout_s) : 180;
  return (jobTimeoutS + 30) * 1000;
}

/**
 * The site a content script's port speaks for, from what the browser says of its frame
 * (never from the page): the frame's origin first, because about:blank, srcdoc and blob:
 * frames have no host in their URL but inherit their creator's origin (Chrome gives
 * `origin`); then the frame's URL; then, for such a frame where the browser gives no origin
 * (Firefox), the tab's address.
 */
export function senderHost(sender) {
  for (const url of [sender?.origin, sender?.url, sender?.tab?.url]) {
    const host = hostOf(String(url || ""));
    if (host) return host;
  }
  return "";
}

function sendSlices(port, file, bytes) {
  const count = Math.max(1, Math.ceil(bytes.length / SLICE_BYTES));
  for (let index = 0; index < count; index += 1) {
    const data = toBase64(bytes.subarray(index * SLICE_BYTES, (index + 1) * SLICE_BYTES));
    port.postMessage({ type: "bytes", file, index, count, data });
  }
}

export class UploadJobs {
  /** `transport`: Transport; `cache`: SettingsCache; `onJobs(n)`: jobs in flight changed. */
  constructor({ transport, cache, onJobs = () => {} }) {
    this._transport = transport;
    this._cache = cache;
    this._onJobs = onJobs;
    this._running = 0;
  }

  /** runtime.onConnect listener. */
  accept(port) {
    if (port.name !== PORT_NAME) return;
    const host = senderHost(port.sender);
    const files = [];
    const requests = new Set();
    let closed = false;
    port.onDisconnect.addListener(() => {
      closed = true;
      for (const id of requests) this._transport.cancel(id);
    });
    const post = (message) => {
      if (!closed) port.postMessage(message);
    };
    port.onMessage.addListener((message) => {
      if (message?.type === "job" && files.length === 0 && Array.isArray(message.files)) {
        for (const f of message.files) files.push({ name: String(f.name), mime: String(f.mime), parts: [] });
      } else if (message?.type === "bytes" && files[message.file]) {
        const file = files[message.file];
        file.parts.push(fromBase64(message.data));
        if (file.parts.length === message.count) {
          const bytes = concatBytes(file.parts);
          file.parts = [];
          this._run(message.file, file, bytes, host, post, requests);
        }
      }
    });
  }

  async _run(index, file, bytes, host, post, requests) {
    if (!isProtected(host, this._cache.settings)) {
      post({ type: "done", file: index, status: "skipped", reason: "not_protected" });
      return;
    }
    this._jobs(+1);
    try {
      const { id, done } = this._transport.request(
        "cloak",
        { name: file.name, mime: file.mime, site: host },
        {
          upload: bytes,
          timeoutMs: cloakIdleTimeoutMs(this._cache.helper.limits),
          onEvent: ({ data }) => post({ type: "progress", file: index, ...data }),
        },
      );
      requests.add(id);
      const { message, bytes: cloaked } = await done.finally(() => requests.delete(id));
      const { status, mime, faces, reason } = message.data;
      if (cloaked) sendSlices({ postMessage: post }, index, cloaked);
      post({ type: "done", file: index, status, mime, faces, reason });
    } catch (err) {
      const error = err instanceof RequestError ? err : new RequestError("internal", String(err));
      post({ type: "failed", file: index, code: error.code, message: error.message });
    } finally {
      this._jobs(-1);
    }
  }

  _jobs(delta) {
    this._running += delta;
    this._onJobs(this._running);
  }
}
