import assert from "node:assert/strict";
import { describe, it } from "node:test";

import { PendingRequests } from "../src/background/pending.js";

/** Deterministic timers: advance(ms) fires what is due. */
function fakeClock() {
  let now = 0;
  let seq = 0;
  const timers = new Map();
  return {
    setTimer: (fn, ms) => {
      seq += 1;
      timers.set(seq, { fn, at: now + ms });
      return seq;
    },
    clearTimer: (id) => timers.delete(id),
    advance(ms) {
      now += ms;
      for (const [id, t] of [...timers].sort((a, b) => a[1].at - b[1].at)) {
        if (t.at <= now && timers.has(id)) {
          timers.delete(id);
          t.fn();
        }
      }
    },
    get armed() {
      return timers.size;
    },
  };
}

describe("PendingRequests", () => {
  it("resolves a request by id and clears its timer", async () => {
    const clock = fakeClock();
    const pending = new PendingRequests(clock);
    const p = pending.add("a", { timeoutMs: 100 });
    assert.equal(pending.size, 1);
    assert.ok(pending.resolve("a", 42));
    assert.equal(await p, 42);
    assert.equal(pending.size, 0);
    assert.equal(clock.armed, 0);
    assert.equal(pending.resolve("a", 1), false);
  });
  it("times out a silent request with code 'timeout'", async () => {
    const clock = fakeClock();
    const pending = new PendingRequests(clock);
    const p = pending.add("a", { timeoutMs: 1500 });
    clock.advance(1499);
    assert.ok(pending.has("a"));
    clock.advance(1);
    await assert.rejects(p, (err) => err.code === "timeout" && /1\.5 s/.test(err.message));
    assert.equal(pending.size, 0);
  });
  it("restarts the timeout on each event and delivers it", async () => {
    const clock = fakeClock();
    const pending = new PendingRequests(clock);
    const seen = [];
    const p = pending.add("a", { timeoutMs: 100, onEvent: (m) => seen.push(m) });
    for (let i = 0; i < 5; i += 1) {
      clock.advance(90);
      assert.ok(pending.event("a", { fraction: i / 5 }));
    }
    clock.advance(90);
    assert.ok(pending.touch("a"));
    clock.advance(90);
    pending.resolve("a", "done");
    assert.equal(await p, "done");
    assert.equal(seen.length, 5);
    assert.equal(pending.event("a", {}), false);
  });
  it("each request has its own timeout", async () => {
    const clock = fakeClock();
    const pending = new PendingRequests(clock);
    const fast = pending.add("fast", { timeoutMs: 10 });
    const slow = pending.add("slow", { timeoutMs: 1000 });
    clock.advance(20);
    await assert.rejects(fast, { code: "timeout" });
    assert.ok(pending.has("slow"));
    pending.resolve("slow", "ok");
    assert.equal(await slow, "ok");
  });
  it("rejectAll fails every request (the port closed)", async () => {
    const clock = fakeClock();
    const pending = new PendingRequests(clock);
    const ps = ["a", "b", "c"].map((id) => pending.add(id, { timeoutMs: 100 }));
    const error = Object.assign(new Error("gone"), { code: "disconnected" });
    pending.rejectAll(error);
    for (const p of ps) await assert.rejects(p, error);
    assert.equal(pending.size, 0);
    assert.equal(clock.armed, 0);
  });
  it("refuses a duplicate id", () => {
    const pending = new PendingRequests(fakeClock());
    pending.add("a", { timeoutMs: 1 });
    assert.throws(() => pending.add("a", { timeoutMs: 1 }), /duplicate/);
  });
  it("works with the real timers", async () => {
    const pending = new PendingRequests();
    await assert.rejects(pending.add("a", { timeoutMs: 5 }), { code: "timeout" });
  });
});
