// The background's side of a held upload (uploads.js) with an in-memory transport and port.

import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { describe, it } from "node:test";

import { RequestError } from "../src/background/errors.js";
import { cloakIdleTimeoutMs, PORT_NAME, SLICE_BYTES, UploadJobs } from "../src/background/uploads.js";

const settings = { protection: true, mode: "mid", sites: [{ host: "social.test", enabled: true }] };
const b64 = (bytes) => Buffer.from(bytes).toString("base64");

function listeners() {
  const fns = [];
  return { addListener: (fn) => fns.push(fn), fire: (...a) => fns.forEach((fn) => fn(...a)) };
}

function contentPort(url) {
  const port = { name: PORT_NAME, sender: { url }, got: [], onMessage: listeners(), onDisconnect: listeners() };
  port.postMessage = (m) => port.got.push(m);
  port.send = (m) => port.onMessage.fire(m);
  return port;
}

/** A transport whose cloak requests are answered by `answer(data, upload, onEvent)`. */
function fakeTransport(answer) {
  const t = { calls: [], cancelled: [] };
  t.request = (type, data, { upload, onEvent, timeoutMs }) => {
    const id = `r${t.calls.length + 1}`;
    t.calls.push({ type, data, upload, timeoutMs });
    return { id, done: answer(data, upload, onEvent) };
  };
  t.cancel = (id) => t.cancelled.push(id);
  return t;
}

const settle = () => new Promise((r) => setTimeout(r, 0));

describe("UploadJobs", () => {
  it("cloaks each file: bytes in slices, progress, bytes back in slices, done", async () => {
    const photo = new Uint8Array(randomBytes(SLICE_BYTES + 10));
    const cloaked = new Uint8Array(randomBytes(SLICE_BYTES + 99));
    const transport = fakeTransport(async (data, upload, onEvent) => {
      onEvent({ data: { fraction: 0.5, stage: "optimize" } });
      return { message: { data: { status: "cloaked", mime: "image/jpeg", faces: 1 } }, bytes: cloaked };
    });
    const jobs = [];
    const uploads = new UploadJobs({ transport, cache: { settings, helper: {} }, onJobs: (n) => jobs.push(n) });
    const port = contentPort("http://www.social.test:8080/post");
    uploads.accept(port);
    port.send({ type: "job", files: [{ name: "me.jpg", mime: "image/jpeg", size: photo.length }] });
    port.send({ type: "bytes", file: 0, index: 0, count: 2, data: b64(photo.subarray(0, SLICE_BYTES)) });
    port.send({ type: "bytes", file: 0, index: 1, count: 2, data: b64(photo.subarray(SLICE_BYTES)) });
    await settle();

    assert.equal(transport.calls.length, 1);
    const call = transport.calls[0];
    assert.deepEqual(call.data, { name: "me.jpg", mime: "image/jpeg", site: "www.social.test" });
    assert.deepEqual(call.upload, photo);
    assert.equal(call.timeoutMs, cloakIdleTimeoutMs(null));
    const types = port.got.map((m) => m.type);
    assert.deepEqual(types, ["progress", "bytes", "bytes", "done"]);
    assert.deepEqual(port.got[0], { type: "progress", file: 0, fraction: 0.5, stage: "optimize" });
    const back = Buffer.concat(port.got.filter((m) => m.type === "bytes").map((m) => Buffer.from(m.data, "base64")));
    assert.deepEqual(new Uint8Array(back), cloaked);
    assert.equal(port.got[3].status, "cloaked");
    assert.deepEqual(jobs, [1, 0]);
  });

  it("skips, without asking the helper, a site that is not protected", async () => {
    const transport = fakeTransport(() => assert.fail("no request expected"));
    const uploads = new UploadJobs({ transport, cache: { settings: { ...settings, protection: false }, helper: {} } });
    const port = contentPort("http://social.test/");
    uploads.accept(port);
    port.send({ type: "job", files: [{ name: "a.png", mime: "image/png", size: 3 }] });
    port.send({ type: "bytes", file: 0, index: 0, count: 1, data: b64([1, 2, 3]) });
    await settle();
    assert.deepEqual(port.got, [{ type: "done", file: 0, status: "skipped", reason: "not_protected" }]);
  });

  it("reports a failed job with its error code", async () => {
    const transport = fakeTransport(async () => {
      throw new RequestError("model_unavailable", "no weights");
    });
    const uploads = new UploadJobs({ transport, cache: { settings, helper: {} } });
    const port = contentPort("http://social.test/");
    uploads.accept(port);
    port.send({ type: "job", files: [{ name: "a.jpg", mime: "image/jpeg", size: 1 }] });
    port.send({ type: "bytes", file: 0, index: 0, count: 1, data: b64([9]) });
    await settle();
    assert.deepEqual(port.got, [{ type: "failed", file: 0, code: "model_unavailable", message: "no weights" }]);
  });

  it("cancels the helper's jobs when the page goes away", async () => {
    const transport = fakeTransport(() => new Promise(() => {}));
    const uploads = new UploadJobs({ transport, cache: { settings, helper: {} } });
    const port = contentPort("http://social.test/");
    uploads.accept(port);
    port.send({ type: "job", files: [{ name: "a.jpg", mime: "image/jpeg", size: 1 }, { name: "b.jpg", mime: "image/jpeg", size: 1 }] });
    port.send({ type: "bytes", file: 0, index: 0, count: 1, data: b64([1]) });
    port.send({ type: "bytes", file: 1, index: 0, count: 1, data: b64([2]) });
    await settle();
    port.onDisconnect.fire();
    assert.deepEqual(transport.cancelled, ["r1", "r2"]);
  });

  it("ignores ports of other names", () => {
    const uploads = new UploadJobs({ transport: fakeTransport(() => null), cache: { settings, helper: {} } });
    const port = { name: "other", onMessage: { addListener: () => assert.fail() } };
    uploads.accept(port);
  });

  it("waits longer than the daemon's own job timeout", () => {
    assert.equal(cloakIdleTimeoutMs({ job_timeout_s: 180 }), 210000);
    assert.equal(cloakIdleTimeoutMs({ job_timeout_s: 900 }), 930000);
    assert.equal(cloakIdleTimeoutMs(undefined), 210000);
  });
});
