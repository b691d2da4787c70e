// The transport against an in-memory native port that answers like the host (PROTOCOL.md).
// The real host and daemon are exercised by the end-to-end tests (tests/e2e/).

import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { describe, it } from "node:test";

import { Transport } from "../src/background/transport.js";

const sha = (bytes) => createHash("sha256").update(bytes).digest("hex");

function listeners() {
  const fns = [];
  return { addListener: (fn) => fns.push(fn), fire: (...a) => fns.forEach((fn) => fn(...a)) };
}

/** A chrome.runtime with connectNative; `onPost(port, message)` plays the host. */
function fakeRuntime(onPost) {
  const runtime = { lastError: null, ports: [] };
  runtime.connectNative = (name) => {
    const port = {
      name,
      sent: [],
      onMessage: listeners(),
      onDisconnect: listeners(),
      postMessage(message) {
        port.sent.push(structuredClone(message));
        queueMicrotask(() => onPost(port, message));
      },
      disconnect() {
        port.closed = true;
      },
      reply: (message) => port.onMessage.fire({ v: 1, ...message }),
      die(why) {
        runtime.lastError = { message: why };
        port.onDisconnect.fire(port);
        runtime.lastError = null;
      },
    };
    runtime.ports.push(port);
    return port;
  };
  return runtime;
}

const tick = () => new Promise((r) => setTimeout(r, 0));

describe("Transport", () => {
  it("sends the envelope and resolves with the reply of the same id", async () => {
    const runtime = fakeRuntime((port, m) => port.reply({ id: m.id, type: m.type, data: { state: "ready" } }));
    const states = [];
    const t = new Transport({ runtime, onState: (s) => states.push(s) });
    const { id, done } = t.request("status");
    const { message, bytes } = await done;
    assert.equal(message.id, id);
    assert.equal(message.data.state, "ready");
    assert.equal(bytes, null);
    assert.deepEqual(runtime.ports[0].sent[0], { v: 1, id, type: "status", data: {} });
    assert.equal(runtime.ports[0].name, "com.cloaker.host");
    assert.deepEqual(states, ["connecting", "connected"]);
    assert.ok(t.connected);
  });

  it("uploads in chunks, delivers progress and reassembles a chunked result", async () => {
    const upload = new Uint8Array(randomBytes(20_000));
    const result = new Uint8Array(randomBytes(1024 * 1024 + 7));
    const runtime = fakeRuntime((port, m) => {
      if (m.type !== "chunk" || m.data.index !== port.sent[0].data.transfer.chunks - 1) return;
      port.reply({ id: m.id, type: "progress", data: { fraction: 0.5, stage: "optimize" } });
      const size = 512 * 1024;
      const n = Math.ceil(result.length / size);
      port.reply({
        id: m.id,
        type: "result",
        data: { status: "cloaked", faces: 1, transfer: { id: m.id, chunks: n, size: result.length, sha256: sha(result) } },
      });
      for (let i = 0; i < n; i += 1) {
        const data = Buffer.from(result.subarray(i * size, (i + 1) * size)).toString("base64");
        port.reply({ id: m.id, type: "chunk", data: { transfer: m.id, index: i, data } });
      }
    });
    const t = new Transport({ runtime });
    const events = [];
    const { message, bytes } = await t.request(
      "cloak",
      { name: "a.jpg", mime: "image/jpeg", site: "social.test" },
      { upload, onEvent: (e) => events.push(e.data.stage) },
    ).done;
    const sent = runtime.ports[0].sent;
    assert.equal(sent[0].type, "cloak");
    assert.deepEqual(sent[0].data.transfer, { id: sent[0].id, chunks: 1, size: 20_000, sha256: sha(upload) });
    assert.equal(sent[1].type, "chunk");
    assert.equal(Buffer.from(sent[1].data.data, "base64").length, 20_000);
    assert.deepEqual(events, ["optimize"]);
    assert.equal(message.data.status, "cloaked");
    assert.deepEqual(bytes, result);
  });

  it("turns an error message into a RequestError with the error's name", async () => {
    const runtime = fakeRuntime((port, m) =>
      port.reply({ id: m.id, type: "error", data: { code: 210, name: "bad_image", message: "cannot identify" } }),
    );
    const t = new Transport({ runtime });
    await assert.rejects(t.call("cloak", {}), { code: "bad_image", message: "cannot identify" });
  });

  it("fails a request whose result chunks are corrupt", async () => {
    const runtime = fakeRuntime((port, m) => {
      port.reply({ id: m.id, type: "result", data: { transfer: { id: m.id, chunks: 2, size: 4, sha256: "0".repeat(64) } } });
      port.reply({ id: m.id, type: "chunk", data: { transfer: m.id, index: 1, data: "AAA=" } });
    });
    const t = new Transport({ runtime });
    await assert.rejects(t.call("cloak", {}), { code: "transfer_error" });
  });

  it("times out a request the host never answers", async () => {
    const runtime = fakeRuntime(() => {});
    const t = new Transport({ runtime });
    await assert.rejects(t.call("status", {}, { timeoutMs: 20 }), { code: "timeout" });
  });

  it("fails everything on disconnect, then reconnects with a fresh port", async () => {
    let answer = true;
    const runtime = fakeRuntime((port, m) => {
      if (answer) port.reply({ id: m.id, type: m.type, data: {} });
    });
    const states = [];
    const t = new Transport({ runtime, onState: (s, e) => states.push(e ? `${s}:${e.code}` : s) });
    await t.call("status");
    answer = false;
    const a = t.call("status", {}, { timeoutMs: 5000 });
    const b = t.call("settings.get", {}, { timeoutMs: 5000 });
    await tick();
    runtime.ports[0].die("Native host has exited.");
    await assert.rejects(a, { code: "disconnected", message: "Native host has exited." });
    await assert.rejects(b, { code: "disconnected" });
    assert.equal(t.connected, false);
    await new Promise((r) => setTimeout(r, 600)); // first backoff step is 0.5 s
    assert.equal(runtime.ports.length, 2);
    answer = true;
    await t.call("status");
    assert.deepEqual(states, [
      "connecting",
      "connected",
      "disconnected:disconnected",
      "connecting",
      "connected",
    ]);
  });

  it("a host that never answers before it goes is 'not_connected' (missing or broken)", async () => {
    const runtime = fakeRuntime(() => {});
    const t = new Transport({ runtime });
    const a = t.call("status", {}, { timeoutMs: 5000 });
    await tick();
    runtime.ports[0].die("Specified native messaging host not found.");
    await assert.rejects(a, { code: "not_connected", message: "Specified native messaging host not found." });
  });

  it("a fatal error from the host fails every open request with its code", async () => {
    const runtime = fakeRuntime(() => {});
    const t = new Transport({ runtime });
    const a = t.call("cloak", {}, { timeoutMs: 5000 });
    await tick();
    runtime.ports[0].reply({
      id: null,
      type: "error",
      data: { code: 300, name: "daemon_unavailable", message: "no daemon", fatal: true },
    });
    await assert.rejects(a, { code: "daemon_unavailable", message: "no daemon" });
    assert.ok(runtime.ports[0].closed);
  });

  it("passes pushes to onPush and ignores replies for unknown ids", async () => {
    const pushes = [];
    const runtime = fakeRuntime(() => {});
    const t = new Transport({ runtime, onPush: (m) => pushes.push(m.type) });
    t.connect();
    runtime.ports[0].reply({ id: null, type: "settings.changed", data: { protection: false } });
    runtime.ports[0].reply({ id: "r-unknown", type: "status", data: {} });
    assert.deepEqual(pushes, ["settings.changed"]);
  });

  it("cancel sends a cancel request for an open job", async () => {
    const runtime = fakeRuntime((port, m) => {
      if (m.type === "cancel") {
        port.reply({ id: m.id, type: "cancel", data: { target: m.data.target, cancelled: true } });
        port.reply({ id: m.data.target, type: "error", data: { code: 202, name: "cancelled", message: "cancelled" } });
      }
    });
    const t = new Transport({ runtime });
    const { id, done } = t.request("cloak", {}, { timeoutMs: 5000 });
    await tick();
    t.cancel(id);
    await assert.rejects(done, { code: "cancelled" });
  });
});
