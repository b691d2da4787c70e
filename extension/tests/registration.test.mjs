// Registration of the two content scripts (registration.js): the main-world hook and the
// isolated content script, together, in every frame, at document_start.

import assert from "node:assert/strict";
import { describe, it } from "node:test";

import {
  CONTENT_FILES,
  PAGE_FILES,
  PAGE_SCRIPT_ID,
  SCRIPT_ID,
  scriptsFor,
  syncRegistration,
} from "../src/background/registration.js";

const settings = (sites) => ({ protection: true, mode: "mid", sites });

function fakeScripting(initial = []) {
  const registered = new Map(initial.map((s) => [s.id, s]));
  const calls = [];
  return {
    calls,
    registered,
    getRegisteredContentScripts: async ({ ids }) => ids.filter((id) => registered.has(id)).map((id) => registered.get(id)),
    registerContentScripts: async (scripts) => {
      calls.push(["register", scripts.map((s) => s.id)]);
      for (const s of scripts) {
        if (registered.has(s.id)) throw new Error(`duplicate ${s.id}`);
        registered.set(s.id, s);
      }
    },
    unregisterContentScripts: async ({ ids }) => {
      calls.push(["unregister", ids]);
      for (const id of ids) registered.delete(id);
    },
  };
}
const allGranted = { contains: async () => true };

describe("scriptsFor", () => {
  it("puts the main-world hook first, both at document_start in every frame, about:blank too", () => {
    const [page, content] = scriptsFor(["*://*.x.com/*"]);
    assert.equal(page.id, PAGE_SCRIPT_ID);
    assert.equal(page.world, "MAIN");
    assert.deepEqual(page.js, PAGE_FILES);
    assert.equal(content.id, SCRIPT_ID);
    assert.equal(content.world, undefined, "the content script stays in the isolated world");
    assert.deepEqual(content.js, CONTENT_FILES);
    for (const s of [page, content]) {
      assert.equal(s.runAt, "document_start");
      assert.equal(s.allFrames, true);
      assert.equal(s.matchOriginAsFallback, true);
      assert.deepEqual(s.matches, ["*://*.x.com/*"]);
    }
  });
});

describe("syncRegistration", () => {
  it("registers both scripts for the enabled sites, then nothing more while unchanged", async () => {
    const scripting = fakeScripting();
    const sites = settings([{ host: "x.com", enabled: true }, { host: "vk.com", enabled: false }]);
    await syncRegistration(scripting, allGranted, sites);
    assert.deepEqual([...scripting.registered.keys()].sort(), [PAGE_SCRIPT_ID, SCRIPT_ID].sort());
    assert.deepEqual(scripting.registered.get(PAGE_SCRIPT_ID).matches, ["*://*.x.com/*"]);
    const before = scripting.calls.length;
    await syncRegistration(scripting, allGranted, sites);
    assert.equal(scripting.calls.length, before);
  });

  it("replaces an older registration that had the content script only", async () => {
    const scripting = fakeScripting([{ id: SCRIPT_ID, matches: ["*://*.x.com/*"] }]);
    await syncRegistration(scripting, allGranted, settings([{ host: "x.com", enabled: true }]));
    assert.ok(scripting.registered.has(PAGE_SCRIPT_ID));
    assert.equal(scripting.registered.get(SCRIPT_ID).world, undefined);
    assert.equal(scripting.registered.get(SCRIPT_ID).runAt, "document_start");
  });

  it("unregisters both when no site is left", async () => {
    const scripting = fakeScripting();
    await syncRegistration(scripting, allGranted, settings([{ host: "x.com", enabled: true }]));
    await syncRegistration(scripting, allGranted, settings([{ host: "x.com", enabled: false }]));
    assert.equal(scripting.registered.size, 0);
  });
});
