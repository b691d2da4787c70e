// Chunked transfers of image bytes over native messaging (PROTOCOL.md, section 4).
// Pure: no browser APIs beyond crypto.subtle, so node's test runner can drive it.

import "../shared/bytes.js";
import { RequestError } from "./errors.js";

const { concatBytes, fromBase64, sha256Hex, toBase64 } = globalThis.CloakerBytes;

export const MAX_TRANSFER_BYTES = 64 * 1024 * 1024;
/** Raw bytes per upload chunk: each message stays well under the 64 MiB browser -> host limit. */
export const UPLOAD_CHUNK_BYTES = 8 * 1024 * 1024;

/** Base64 chunks of `bytes`, `chunkSize` raw bytes each (the last one may be smaller). */
export function splitChunks(bytes, chunkSize = UPLOAD_CHUNK_BYTES) {
  if (!(chunkSize > 0)) throw new RangeError("chunk size must be positive");
  const out = [];
  for (let i = 0; i < bytes.length; i += chunkSize) out.push(toBase64(bytes.subarray(i, i + chunkSize)));
  return out;
}

/** The `transfer` announcement and `chunk` payloads for uploading `bytes` as transfer `id`. */
export async function makeUpload(id, bytes, chunkSize = UPLOAD_CHUNK_BYTES) {
  if (bytes.length > MAX_TRANSFER_BYTES) {
    throw new RequestError("image_too_large", `file is over ${MAX_TRANSFER_BYTES} bytes`);
  }
  const pieces = splitChunks(bytes, chunkSize);
  const transfer = { id, chunks: pieces.length, size: bytes.length, sha256: await sha256Hex(bytes) };
  return { transfer, chunks: pieces.map((data, index) => ({ transfer: id, index, data })) };
}

function fail(message) {
  return new RequestError("transfer_error", message);
}

function checkAnnouncement(t) {
  if (!t || typeof t.id !== "string" || !t.id) throw fail("transfer without an id");
  if (!Number.isInteger(t.size) || t.size < 0 || t.size > MAX_TRANSFER_BYTES) {
    throw fail(`transfer ${t.id}: bad size ${t.size}`);
  }
  if (!Number.isInteger(t.chunks) || t.chunks < 0 || (t.chunks === 0) !== (t.size === 0)) {
    throw fail(`transfer ${t.id}: bad chunk count ${t.chunks}`);
  }
  if (typeof t.sha256 !== "string" || !/^[0-9a-f]{64}$/.test(t.sha256)) {
    throw fail(`transfer ${t.id}: bad sha256`);
  }
}

/** Reassembles incoming transfers; chunks of different transfers may interleave. */
export class TransferAssembler {
  constructor() {
    this._open = new Map();
  }

  get size() {
    return this._open.size;
  }

  /**
   * Announce a transfer ({id, chunks, size, sha256}). Returns the bytes at once when the
   * transfer is empty, else null (the bytes come from `add`).
   */
  async start(transfer) {
    checkAnnouncement(transfer);
    if (this._open.has(transfer.id)) throw fail(`transfer ${transfer.id} is already open`);
    if (transfer.chunks === 0) return this._verify(transfer, []);
    this._open.set(transfer.id, { transfer, parts: [], received: 0 });
    return null;
  }

  /**
   * Add one chunk ({transfer, index, data}). Returns the verified bytes after the last chunk,
   * null before it; throws a transfer_error (and drops the transfer) on any fault.
   */
  async add(chunk) {
    const state = this._open.get(chunk?.transfer);
    if (!state) throw fail(`chunk for unknown transfer ${chunk?.transfer}`);
    const id = state.transfer.id;
    try {
      if (chunk.index !== state.parts.length) {
        throw fail(`transfer ${id}: expected chunk ${state.parts.length}, got ${chunk.index}`);
      }
      let bytes;
      try {
        bytes = fromBase64(chunk.data);
      } catch {
        throw fail(`transfer ${id}: chunk ${chunk.index} is not valid base64`);
      }
      if (bytes.length === 0) throw fail(`transfer ${id}: chunk ${chunk.index} is empty`);
      state.received += bytes.length;
      if (state.received > state.transfer.size) throw fail(`transfer ${id}: more bytes than announced`);
      state.parts.push(bytes);
    } catch (err) {
      this._open.delete(id);
      throw err;
    }
    if (state.parts.length < state.transfer.chunks) return null;
    this._open.delete(id);
    return this._verify(state.transfer, state.parts);
  }

  /** Forget a transfer (its request failed or was cancelled). */
  drop(id) {
    this._open.delete(id);
  }

  clear() {
    this._open.clear();
  }

  async _verify(transfer, parts) {
    const bytes = concatBytes(parts);
    if (bytes.length !== transfer.size) {
      throw fail(`transfer ${transfer.id}: ${bytes.length} bytes, ${transfer.size} announced`);
    }
    if ((await sha256Hex(bytes)) !== transfer.sha256) throw fail(`transfer ${transfer.id}: sha256 mismatch`);
    return bytes;
  }
}
