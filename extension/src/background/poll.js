// Keeps the helper's status current without the popup open: while the helper is connected
// but not ready (models loading), or while photos wait on it, ask for its status every few
// seconds. The daemon pushes only settings changes (PROTOCOL.md), not its state.

export const POLL_MS = 2000;

export class StatusPoll {
  /**
   * `refresh()`: asks the helper and updates the cache (a promise). `wanted()`: whether
   * polling is needed now. `timers`: {setTimeout, clearTimeout} (injected for testing).
   */
  constructor({ refresh, wanted, intervalMs = POLL_MS, timers = globalThis }) {
    this._refresh = refresh;
    this._wanted = wanted;
    this._ms = intervalMs;
    this._timers = timers;
    this._timer = null;
    this._running = false;
  }

  /** Call on every state change: starts polling when wanted, stops when not. */
  kick() {
    if (!this._wanted()) {
      this._timers.clearTimeout(this._timer);
      this._timer = null;
      return;
    }
    if (this._timer === null && !this._running) this._schedule();
  }

  _schedule() {
    this._timer = this._timers.setTimeout(() => this._tick(), this._ms);
  }

  async _tick() {
    this._timer = null;
    if (!this._wanted()) return;
    this._running = true;
    try {
      await this._refresh();
    } catch {
      // the helper went away: its disconnect updates the state; keep polling while wanted
    } finally {
      this._running = false;
    }
    if (this._wanted() && this._timer === null) this._schedule();
  }
}

/** Whether the helper's status must be polled: connected, and loading or working. */
export function needsPoll(helper) {
  return helper.connection === "connected" && (helper.state !== "ready" || helper.jobs > 0);
}
