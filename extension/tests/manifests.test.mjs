// The two manifests (one source tree), the pinned IDs, and the build.

import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { describe, it } from "node:test";
import { fileURLToPath } from "node:url";

import { buildOne } from "../build.mjs";
import { CONTENT_FILES } from "../src/background/registration.js";
import { HOST_NAME } from "../src/background/transport.js";
import { DEFAULT_SITES } from "../src/shared/defaults.js";
import "../src/shared/sites.js";

const HERE = dirname(dirname(fileURLToPath(import.meta.url)));
const read = (p) => JSON.parse(readFileSync(join(HERE, p), "utf8"));
const chrome = read("manifests/chrome.json");
const firefox = read("manifests/firefox.json");
const ids = read("ids.json");

describe("manifests", () => {
  it("differ only in the browser-specific keys", () => {
    const strip = (m) => {
      const { key, minimum_chrome_version, browser_specific_settings, background, ...rest } = m;
      return rest;
    };
    assert.deepEqual(strip(chrome), strip(firefox));
    assert.deepEqual(chrome.background, { service_worker: "background/main.js", type: "module" });
    assert.deepEqual(firefox.background, { scripts: ["background/main.js"], type: "module" });
    assert.equal(firefox.key, undefined);
    assert.equal(chrome.browser_specific_settings, undefined);
  });
  it("are MV3 with minimal permissions and no <all_urls> up front", () => {
    assert.equal(chrome.manifest_version, 3);
    assert.deepEqual(chrome.permissions.sort(), ["activeTab", "nativeMessaging", "scripting", "storage"]);
    assert.ok(!JSON.stringify(chrome.host_permissions).includes("<all_urls>"));
    assert.ok(!chrome.host_permissions.some((p) => p.startsWith("*://*/")));
    assert.deepEqual(chrome.optional_host_permissions, ["*://*/*"]);
    assert.equal(chrome.content_scripts, undefined, "content scripts are registered at run time only");
  });
  it("grant exactly the default sites of the allowlist", () => {
    const expected = DEFAULT_SITES.flatMap((s) => globalThis.CloakerSites.matchPatterns(s));
    assert.deepEqual(chrome.host_permissions, expected);
  });
  it("pin the IDs recorded in ids.json", () => {
    const der = Buffer.from(chrome.key, "base64");
    const hex = createHash("sha256").update(der).digest("hex").slice(0, 32);
    const id = [...hex].map((c) => String.fromCharCode(97 + parseInt(c, 16))).join("");
    assert.equal(id, ids.chrome_id);
    assert.equal(`chrome-extension://${id}/`, ids.chrome_origin);
    assert.equal(firefox.browser_specific_settings.gecko.id, ids.firefox_id);
  });
  it("name files that exist", () => {
    const src = join(HERE, "src");
    const files = [
      "background/main.js",
      chrome.action.default_popup,
      chrome.options_ui.page,
      ...Object.values(chrome.icons),
      ...CONTENT_FILES,
    ];
    for (const f of files) assert.ok(existsSync(join(src, f)), f);
  });
  it("talk to the host name the installer registers", () => {
    assert.equal(HOST_NAME, "com.cloaker.host");
  });
});

describe("build", () => {
  it("writes a loadable folder and an archive per browser", () => {
    const out = mkdtempSync(join(tmpdir(), "cloaker-ext-"));
    try {
      for (const browser of ["chrome", "firefox"]) {
        const { dir, archive } = buildOne(browser, { out, extra: ["*://*.social.test/*"] });
        const manifest = JSON.parse(readFileSync(join(dir, "manifest.json"), "utf8"));
        assert.equal(manifest.name, "Cloaker");
        assert.ok(manifest.host_permissions.includes("*://*.social.test/*"));
        assert.ok(existsSync(join(dir, "content", "intercept.js")));
        const listing = execFileSync("python3", ["-m", "zipfile", "-l", archive], { encoding: "utf8" });
        assert.match(listing, /manifest\.json/);
        assert.match(listing, /background\/main\.js/);
        assert.doesNotMatch(listing, /tests\//);
        execFileSync("python3", ["-m", "zipfile", "-t", archive]);
      }
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  });
});
