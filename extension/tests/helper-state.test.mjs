// Helper state without the popup (poll.js), the popup's words for a missing helper
// (client.js), and the site a content script's port speaks for (uploads.js).

import assert from "node:assert/strict";
import { describe, it } from "node:test";

import { needsPoll, StatusPoll } from "../src/background/poll.js";
import { senderHost } from "../src/background/uploads.js";
import { helperProblem } from "../src/pages/client.js";

/** Timers run by hand: `run()` fires what is due. */
function manualTimers() {
  let next = 1;
  const due = new Map();
  return {
    setTimeout: (fn) => {
      due.set(next, fn);
      return next++;
    },
    clearTimeout: (id) => due.delete(id),
    pending: () => due.size,
    async run() {
      const fns = [...due.values()];
      due.clear();
      for (const fn of fns) await fn();
    },
  };
}

describe("needsPoll", () => {
  it("polls a connected helper while it loads models or has jobs, never a ready idle one", () => {
    assert.equal(needsPoll({ connection: "connected", state: "warming", jobs: 0 }), true);
    assert.equal(needsPoll({ connection: "connected", state: null, jobs: 0 }), true);
    assert.equal(needsPoll({ connection: "connected", state: "ready", jobs: 2 }), true);
    assert.equal(needsPoll({ connection: "connected", state: "ready", jobs: 0 }), false);
    assert.equal(needsPoll({ connection: "disconnected", state: "warming", jobs: 0 }), false);
  });
});

describe("StatusPoll", () => {
  it("refreshes until the helper is ready, then stops", async () => {
    const timers = manualTimers();
    const helper = { connection: "connected", state: "warming", jobs: 0 };
    let refreshes = 0;
    const poll = new StatusPoll({
      refresh: async () => {
        refreshes += 1;
        if (refreshes === 3) helper.state = "ready"; // the daemon finished loading
      },
      wanted: () => needsPoll(helper),
      timers,
    });
    poll.kick();
    poll.kick(); // a second kick while one is scheduled adds nothing
    assert.equal(timers.pending(), 1);
    await timers.run();
    await timers.run();
    assert.equal(refreshes, 2);
    await timers.run();
    assert.equal(refreshes, 3);
    assert.equal(helper.state, "ready");
    assert.equal(timers.pending(), 0, "no poll once ready");
  });

  it("keeps polling through a failed refresh, and stops when no longer wanted", async () => {
    const timers = manualTimers();
    let wanted = true;
    let calls = 0;
    const poll = new StatusPoll({
      refresh: async () => {
        calls += 1;
        throw new Error("helper gone");
      },
      wanted: () => wanted,
      timers,
    });
    poll.kick();
    await timers.run();
    assert.equal(calls, 1);
    assert.equal(timers.pending(), 1, "a failure does not end the polling");
    wanted = false;
    poll.kick();
    assert.equal(timers.pending(), 0);
  });
});

describe("helperProblem", () => {
  it("says nothing about a connected helper", () => {
    assert.equal(helperProblem({ connection: "connected", error: null }), null);
  });
  it("turns the browsers' 'host not found' into what to do", () => {
    for (const message of [
      "Specified native messaging host not found.",
      "No such native application com.cloaker.host",
    ]) {
      const problem = helperProblem({ connection: "disconnected", error: { code: "not_connected", message } });
      assert.equal(problem.install, true);
      assert.match(problem.text, /cloaker install/);
      assert.doesNotMatch(problem.text, /Specified native messaging host|No such native application/);
    }
  });
  it("tells a helper that stopped apart from one that is missing", () => {
    const problem = helperProblem({ connection: "disconnected", error: { code: "disconnected", message: "the helper exited" } });
    assert.equal(problem.install, false);
    assert.match(problem.text, /stopped/);
  });
});

describe("senderHost", () => {
  it("takes the frame's origin first: about:blank and srcdoc frames inherit their creator's", () => {
    assert.equal(senderHost({ url: "about:blank", origin: "https://www.instagram.com" }), "www.instagram.com");
    assert.equal(senderHost({ url: "about:srcdoc", origin: "http://social.test:8080" }), "social.test");
  });
  it("falls back to the frame's URL, then to the tab's (Firefox gives no origin)", () => {
    assert.equal(senderHost({ url: "https://x.com/compose" }), "x.com");
    assert.equal(senderHost({ url: "about:blank", tab: { url: "https://x.com/home" } }), "x.com");
    assert.equal(senderHost({ url: "about:blank", origin: "null" }), "");
  });
});
