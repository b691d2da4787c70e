// The overlay's success heading (overlay.js): what was done, never a promise.

import assert from "node:assert/strict";
import { describe, it } from "node:test";

import "../src/content/overlay.js";

const { summary } = globalThis.CloakerOverlay;

describe("overlay summary", () => {
  it("says what was done: photos, faces, strength", () => {
    assert.equal(summary([{ status: "cloaked", faces: 1 }], "mid"), "Cloaked 1 photo (1 face, medium strength)");
    assert.equal(
      summary([{ status: "cloaked", faces: 2 }, { status: "cloaked", faces: 1 }], "high"),
      "Cloaked 2 photos (3 faces, high strength)",
    );
  });
  it("says when a photo had no face or was not cloaked", () => {
    assert.equal(
      summary([{ status: "cloaked", faces: 1 }, { status: "no_face", faces: 0 }], "low"),
      "Cloaked 1 photo (1 face, low strength); 1 photo with no face found, sent unchanged",
    );
    assert.equal(summary([{ status: "skipped" }], "mid"), "1 photo not cloaked (protection is off)");
  });
  it("never promises protection", () => {
    for (const results of [[{ status: "cloaked", faces: 1 }], [{ status: "no_face" }], [{ status: "skipped" }]]) {
      assert.doesNotMatch(summary(results, "mid"), /protect(ed|s)\b/i);
    }
  });
});
