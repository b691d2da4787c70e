// The one place in the extension that talks to the native port (STYLE.md, practice 5).
//
// Owns the port to the native host: the envelope (PROTOCOL.md), a map of pending requests
// keyed by id with a timeout each, chunked uploads and downloads, pushes, and reconnection
// with backoff when the host dies. On every disconnect all pending requests fail with
// "disconnected" (or the fatal error the host sent) and all state is reset.

import { makeUpload, TransferAssembler } from "./chunks.js";
import { fromProtocolError, RequestError } from "./errors.js";
import { PendingRequests } from "./pending.js";

export const HOST_NAME = "com.cloaker.host";
export const PROTOCOL_VERSION = 1;
const BACKOFF_MS = [500, 1000, 2000, 5000, 10000, 30000];

export class Transport {
  /**
   * `runtime`: chrome.runtime (injected for testing). `onPush(message)`: pushes
   * (id null, e.g. settings.changed). `onState(state, error)`: "connecting" (port opened),
   * "connected" (the host's first message arrived), "disconnected" (with the error).
   */
  constructor({ runtime, onPush = () => {}, onState = () => {}, hostName = HOST_NAME }) {
    this._runtime = runtime;
    this._onPush = onPush;
    this._onState = onState;
    this._hostName = hostName;
    this._port = null;
    this._pending = new PendingRequests();
    this._downloads = new TransferAssembler();
    this._seq = 0;
    this._attempt = 0;
    this._retryTimer = null;
    this._terminals = new Map();
    this.lastError = null;
  }

  /** True once the host has answered on the current port. */
  get connected() {
    return this._live;
  }

  /** Open the port now (no-op when open). Returns true when a port exists afterwards. */
  connect() {
    if (this._port) return true;
    clearTimeout(this._retryTimer);
    this._retryTimer = null;
    let port;
    try {
      port = this._runtime.connectNative(this._hostName);
    } catch (err) {
      this._lost(new RequestError("not_connected", String(err?.message || err)));
      return false;
    }
    this._port = port;
    port.onMessage.addListener((message) => this._receive(port, message));
    port.onDisconnect.addListener(() => {
      const why = this._runtime.lastError?.message || port.error?.message || "the helper exited";
      // Gone before its first word: not installed, or it could not start.
      const code = this._live ? "disconnected" : "not_connected";
      if (this._port === port) this._lost(new RequestError(code, why));
    });
    this._onState("connecting", null);
    return true;
  }

  /**
   * Start request `type` with `data`. Returns {id, done}; `done` resolves with
   * {message, bytes} (message: the terminal reply; bytes: its reassembled transfer, or null)
   * or rejects with a RequestError.
   * `upload`: Uint8Array sent as a chunked transfer announced in `data.transfer`.
   * `onEvent(message)`: intermediate events (progress). `timeoutMs`: inactivity timeout.
   */
  request(type, data = {}, { upload = null, onEvent, timeoutMs = 10000 } = {}) {
    this._seq += 1;
    const id = `r${this._seq}-${Date.now().toString(36)}`;
    return { id, done: this._send(id, type, data, { upload, onEvent, timeoutMs }) };
  }

  /** `request(...).done`, for callers that never cancel. */
  call(type, data, options) {
    return this.request(type, data, options).done;
  }

  async _send(id, type, data, { upload, onEvent, timeoutMs }) {
    if (!this.connect()) throw this.lastError;
    let payload = data;
    let chunks = [];
    if (upload) {
      const prepared = await makeUpload(id, upload);
      payload = { ...data, transfer: prepared.transfer };
      chunks = prepared.chunks;
    }
    const port = this._port;
    if (!port) throw this.lastError || new RequestError("disconnected", "the helper went away");
    const done = this._pending.add(id, { timeoutMs, onEvent });
    try {
      port.postMessage({ v: PROTOCOL_VERSION, id, type, data: payload });
      for (const chunk of chunks) port.postMessage({ v: PROTOCOL_VERSION, id, type: "chunk", data: chunk });
    } catch (err) {
      this._pending.reject(id, new RequestError("disconnected", String(err?.message || err)));
    }
    try {
      return await done;
    } finally {
      const terminal = this._terminals.get(id);
      if (terminal) this._downloads.drop(terminal.data.transfer.id);
      this._terminals.delete(id);
    }
  }

  /** Ask the daemon to cancel request `target` (best effort; its own error ends it). */
  cancel(target) {
    if (!this._pending.has(target) || !this._port) return;
    this.call("cancel", { target }).catch(() => {});
  }

  async _receive(port, message) {
    if (port !== this._port || !message || typeof message !== "object") return;
    if (!this._live) {
      this._live = true;
      this._attempt = 0; // the host answered: the next failure starts the backoff afresh
      this._onState("connected", null);
    }
    const { id, type, data = {} } = message;
    if (id === null || id === undefined) {
      if (type === "error" && data.fatal) {
        this._lost(fromProtocolError(data));
        try {
          port.disconnect();
        } catch {
          // already closed
        }
        return;
      }
      this._onPush(message);
      return;
    }
    if (!this._pending.has(id)) return;
    try {
      if (type === "chunk") {
        if (this._terminals.get(id)?.data.transfer.id !== data.transfer) {
          throw new RequestError("transfer_error", `chunk of transfer ${data.transfer} for ${id}`);
        }
        this._pending.touch(id);
        const bytes = await this._downloads.add(data);
        if (bytes) this._pending.resolve(id, { message: this._terminals.get(id), bytes });
      } else if (type === "error") {
        this._pending.reject(id, fromProtocolError(data));
      } else if (type === "progress") {
        this._pending.event(id, message);
      } else if (data.transfer) {
        this._terminals.set(id, message);
        const bytes = await this._downloads.start(data.transfer);
        if (bytes) this._pending.resolve(id, { message, bytes });
        else this._pending.touch(id);
      } else {
        this._pending.resolve(id, { message, bytes: null });
      }
    } catch (err) {
      this._pending.reject(id, err instanceof RequestError ? err : new RequestError("internal", String(err)));
    }
  }

  _lost(error) {
    this._port = null;
    this._live = false;
    this.lastError = error;
    this._pending.rejectAll(error);
    this._downloads.clear();
    this._terminals.clear();
    this._onState("disconnected", error);
    const delay = BACKOFF_MS[Math.min(this._attempt, BACKOFF_MS.length - 1)];
    this._attempt += 1;
    clearTimeout(this._retryTimer);
    this._retryTimer = setTimeout(() => this.connect(), delay);
  }
}
