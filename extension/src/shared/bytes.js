// Bytes <-> base64, SHA-256 and concatenation, the same in a service worker, an extension
// page, a content script and node.
//
// Written as a classic script that sets `globalThis.CloakerBytes` (see sites.js for why).

globalThis.CloakerBytes ??= (() => {
  const BLOCK = 0x8000;

  /** Standard base64 (with padding) of a Uint8Array. */
  function toBase64(bytes) {
    if (typeof bytes.toBase64 === "function") return bytes.toBase64();
    let binary = "";
    for (let i = 0; i < bytes.length; i += BLOCK) {
      binary += String.fromCharCode.apply(null, bytes.subarray(i, i + BLOCK));
    }
    return btoa(binary);
  }

  /** Uint8Array from standard base64; throws a TypeError on malformed input. */
  function fromBase64(text) {
    if (typeof text !== "string") throw new TypeError("base64 data must be a string");
    if (typeof Uint8Array.fromBase64 === "function") return Uint8Array.fromBase64(text);
    if (text.length % 4 !== 0 || !/^[A-Za-z0-9+/]*={0,2}$/.test(text)) {
      throw new TypeError("malformed base64");
    }
    const binary = atob(text);
    const out = new Uint8Array(binary.length);
    for (let i = 0; i < binary.length; i += 1) out[i] = binary.charCodeAt(i);
    return out;
  }

  /** Lower-case hex SHA-256 of a Uint8Array (needs crypto.subtle: not in http pages). */
  async function sha256Hex(bytes) {
    const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
    return Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join("");
  }

  /** Concatenate Uint8Arrays. */
  function concatBytes(parts) {
    const total = parts.reduce((n, p) => n + p.length, 0);
    const out = new Uint8Array(total);
    let offset = 0;
    for (const part of parts) {
      out.set(part, offset);
      offset += part.length;
    }
    return out;
  }

  return { concatBytes, fromBase64, sha256Hex, toBase64 };
})();
