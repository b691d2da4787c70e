import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { describe, it } from "node:test";

import { makeUpload, splitChunks, TransferAssembler } from "../src/background/chunks.js";

const sha = (bytes) => createHash("sha256").update(bytes).digest("hex");
const b64 = (bytes) => Buffer.from(bytes).toString("base64");

/** The messages a host would send for `bytes` as transfer `id` (PROTOCOL.md, section 4). */
function hostTransfer(id, bytes, chunkSize = 512 * 1024) {
  const chunks = [];
  for (let i = 0; i < bytes.length; i += chunkSize) {
    chunks.push({ transfer: id, index: chunks.length, data: b64(bytes.subarray(i, i + chunkSize)) });
  }
  return { transfer: { id, chunks: chunks.length, size: bytes.length, sha256: sha(bytes) }, chunks };
}

async function rejectsTransfer(promise, pattern) {
  await assert.rejects(promise, (err) => err.code === "transfer_error" && pattern.test(err.message));
}

describe("splitChunks and makeUpload", () => {
  it("splits into base64 chunks that rebuild the bytes", async () => {
    const bytes = new Uint8Array(randomBytes(25_000));
    const parts = splitChunks(bytes, 10_000);
    assert.equal(parts.length, 3);
    assert.deepEqual(Buffer.concat(parts.map((p) => Buffer.from(p, "base64"))), Buffer.from(bytes));
    const { transfer, chunks } = await makeUpload("r1", bytes, 10_000);
    assert.deepEqual(transfer, { id: "r1", chunks: 3, size: 25_000, sha256: sha(bytes) });
    assert.deepEqual(chunks.map((c) => c.index), [0, 1, 2]);
    assert.ok(chunks.every((c) => c.transfer === "r1"));
  });
  it("an upload is assembled back by the assembler", async () => {
    const bytes = new Uint8Array(randomBytes(70_001));
    const { transfer, chunks } = await makeUpload("up", bytes, 8192);
    const asm = new TransferAssembler();
    assert.equal(await asm.start(transfer), null);
    let out = null;
    for (const c of chunks) out = await asm.add(c);
    assert.deepEqual(out, bytes);
  });
  it("an empty file is zero chunks", async () => {
    const { transfer, chunks } = await makeUpload("e", new Uint8Array(0));
    assert.equal(transfer.chunks, 0);
    assert.equal(chunks.length, 0);
  });
});

describe("TransferAssembler", () => {
  it("reassembles a reply just over 1 MiB sent in 512 KiB chunks", async () => {
    const bytes = new Uint8Array(randomBytes(1024 * 1024 + 1));
    const { transfer, chunks } = hostTransfer("r7", bytes);
    assert.equal(chunks.length, 3);
    const asm = new TransferAssembler();
    await asm.start(transfer);
    assert.equal(await asm.add(chunks[0]), null);
    assert.equal(await asm.add(chunks[1]), null);
    assert.deepEqual(await asm.add(chunks[2]), bytes);
    assert.equal(asm.size, 0);
  });
  it("keeps interleaved transfers apart", async () => {
    const a = hostTransfer("a", new Uint8Array(randomBytes(3000)), 1000);
    const b = hostTransfer("b", new Uint8Array(randomBytes(2000)), 1000);
    const asm = new TransferAssembler();
    await asm.start(a.transfer);
    await asm.start(b.transfer);
    await asm.add(a.chunks[0]);
    await asm.add(b.chunks[0]);
    await asm.add(a.chunks[1]);
    const gotB = await asm.add(b.chunks[1]);
    const gotA = await asm.add(a.chunks[2]);
    assert.equal(sha(gotA), a.transfer.sha256);
    assert.equal(sha(gotB), b.transfer.sha256);
  });
  it("returns an empty transfer at once", async () => {
    const asm = new TransferAssembler();
    const out = await asm.start({ id: "z", chunks: 0, size: 0, sha256: sha(Buffer.alloc(0)) });
    assert.equal(out.length, 0);
  });
  it("rejects a missing chunk (skipped index) and drops the transfer", async () => {
    const t = hostTransfer("m", new Uint8Array(randomBytes(3000)), 1000);
    const asm = new TransferAssembler();
    await asm.start(t.transfer);
    await asm.add(t.chunks[0]);
    await rejectsTransfer(asm.add(t.chunks[2]), /expected chunk 1, got 2/);
    await rejectsTransfer(asm.add(t.chunks[1]), /unknown transfer/);
  });
  it("rejects a duplicate chunk", async () => {
    const t = hostTransfer("d", new Uint8Array(randomBytes(3000)), 1000);
    const asm = new TransferAssembler();
    await asm.start(t.transfer);
    await asm.add(t.chunks[0]);
    await rejectsTransfer(asm.add(t.chunks[0]), /expected chunk 1, got 0/);
  });
  it("rejects bad base64, empty chunks and extra bytes", async () => {
    const t = hostTransfer("x", new Uint8Array(randomBytes(2000)), 1000);
    for (const [chunk, pattern] of [
      [{ transfer: "x", index: 0, data: "not base64!" }, /not valid base64/],
      [{ transfer: "x", index: 0, data: "" }, /empty/],
      [{ transfer: "x", index: 0, data: b64(randomBytes(2001)) }, /more bytes than announced/],
    ]) {
      const asm = new TransferAssembler();
      await asm.start(t.transfer);
      await rejectsTransfer(asm.add(chunk), pattern);
      assert.equal(asm.size, 0);
    }
  });
  it("rejects a sha256 or size mismatch after the last chunk", async () => {
    const bytes = new Uint8Array(randomBytes(2000));
    const t = hostTransfer("s", bytes, 1000);
    const asm = new TransferAssembler();
    await asm.start({ ...t.transfer, sha256: sha(Buffer.from("other")) });
    await asm.add(t.chunks[0]);
    await rejectsTransfer(asm.add(t.chunks[1]), /sha256 mismatch/);
    const short = new TransferAssembler();
    await short.start({ ...t.transfer, size: 2500 });
    await short.add(t.chunks[0]);
    await rejectsTransfer(short.add(t.chunks[1]), /2000 bytes, 2500 announced/);
  });
  it("rejects bad announcements and chunks of unknown transfers", async () => {
    const asm = new TransferAssembler();
    const good = { id: "g", chunks: 1, size: 5, sha256: "0".repeat(64) };
    for (const bad of [
      { ...good, id: "" },
      { ...good, size: -1 },
      { ...good, size: 64 * 1024 * 1024 + 1 },
      { ...good, chunks: 0 },
      { ...good, chunks: 1.5 },
      { ...good, sha256: "XYZ" },
    ]) {
      await rejectsTransfer(asm.start(bad), /transfer/);
    }
    await asm.start(good);
    await rejectsTransfer(asm.start(good), /already open/);
    await rejectsTransfer(asm.add({ transfer: "nope", index: 0, data: "AA==" }), /unknown transfer/);
  });
});
