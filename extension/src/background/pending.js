// Requests in flight to the native host, keyed by id, each with its own timeout.
// Pure (timers are injected), so node's test runner can drive it.
//
// The timeout is an inactivity timeout: every event for the request (progress, a chunk)
// restarts it, so a long cloak that keeps reporting progress never times out, and a helper
// that goes silent fails the request after `timeoutMs`.

import { RequestError } from "./errors.js";

export class PendingRequests {
  constructor({ setTimer = (fn, ms) => setTimeout(fn, ms), clearTimer = (t) => clearTimeout(t) } = {}) {
    this._setTimer = setTimer;
    this._clearTimer = clearTimer;
    this._map = new Map();
  }

  get size() {
    return this._map.size;
  }

  has(id) {
    return this._map.has(id);
  }

  /**
   * Register request `id`; returns a promise settled by resolve/reject/timeout.
   * `onEvent(message)` receives the request's intermediate messages (see `event`).
   */
  add(id, { timeoutMs, onEvent = () => {} }) {
    if (this._map.has(id)) throw new Error(`duplicate request id ${id}`);
    return new Promise((resolve, reject) => {
      const entry = { resolve, reject, onEvent, timeoutMs, timer: null };
      this._map.set(id, entry);
      this._arm(id, entry);
    });
  }

  /** Deliver an intermediate message and restart the request's timeout. False if unknown. */
  event(id, message) {
    const entry = this._map.get(id);
    if (!entry) return false;
    this._arm(id, entry);
    entry.onEvent(message);
    return true;
  }

  /** Restart the request's timeout without delivering anything. */
  touch(id) {
    const entry = this._map.get(id);
    if (entry) this._arm(id, entry);
    return Boolean(entry);
  }

  resolve(id, value) {
    const entry = this._take(id);
    if (entry) entry.resolve(value);
    return Boolean(entry);
  }

  reject(id, error) {
    const entry = this._take(id);
    if (entry) entry.reject(error);
    return Boolean(entry);
  }

  /** Fail every request (the port went away). */
  rejectAll(error) {
    for (const id of [...this._map.keys()]) this.reject(id, error);
  }

  _arm(id, entry) {
    if (entry.timer !== null) this._clearTimer(entry.timer);
    entry.timer = this._setTimer(() => {
      const seconds = Math.round(entry.timeoutMs / 100) / 10;
      this.reject(id, new RequestError("timeout", `no answer from the Cloaker helper in ${seconds} s`));
    }, entry.timeoutMs);
  }

  _take(id) {
    const entry = this._map.get(id);
    if (!entry) return null;
    this._map.delete(id);
    if (entry.timer !== null) this._clearTimer(entry.timer);
    return entry;
  }
}
