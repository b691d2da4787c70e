import assert from "node:assert/strict";
import { describe, it } from "node:test";

import "../src/shared/sites.js";

const { entryFor, hostMatches, hostOf, isProtected, isValidSite, matchPatterns, normalizeSite } =
  globalThis.CloakerSites;

describe("normalizeSite", () => {
  const cases = [
    ["facebook.com", "facebook.com"],
    ["https://www.Facebook.com/photos/upload?x=1", "facebook.com"],
    ["  www.instagram.com  ", "instagram.com"],
    ["*.reddit.com", "reddit.com"],
    ["social.test:8080", "social.test"],
    ["http://127.0.0.1:8765/form", "127.0.0.1"],
    ["localhost", "localhost"],
    ["upload.facebook.com", "upload.facebook.com"],
    ["www.com", "www.com"],
    ["EXAMPLE.org.", "example.org"],
    ["bücher.de", "xn--bcher-kva.de"],
  ];
  for (const [input, expected] of cases) {
    it(`${JSON.stringify(input)} -> ${expected}`, () => assert.equal(normalizeSite(input), expected));
  }
  for (const bad of ["", "   ", "ftp://example.com", "chrome://extensions", "no_dots", "-bad-.com", "a..b", 42, null]) {
    it(`rejects ${JSON.stringify(bad)}`, () => assert.equal(normalizeSite(bad), null));
  }
});

describe("isValidSite", () => {
  it("accepts names, IPv4 and localhost", () => {
    for (const ok of ["a.io", "x.com", "sub.domain.example", "10.0.0.1", "localhost"]) assert.ok(isValidSite(ok), ok);
  });
  it("rejects the rest", () => {
    for (const bad of ["com", "999.1.1.1", "a_b.com", "", "-a.com", "a-.com", "x".repeat(254)]) {
      assert.equal(isValidSite(bad), false, bad);
    }
  });
});

describe("hostMatches", () => {
  it("covers the host and its subdomains", () => {
    assert.ok(hostMatches("facebook.com", "facebook.com"));
    assert.ok(hostMatches("www.facebook.com", "facebook.com"));
    assert.ok(hostMatches("a.b.facebook.com", "facebook.com"));
    assert.ok(hostMatches("WWW.Facebook.COM.", "facebook.com"));
  });
  it("does not cover look-alikes or parents", () => {
    assert.equal(hostMatches("notfacebook.com", "facebook.com"), false);
    assert.equal(hostMatches("facebook.com.evil.io", "facebook.com"), false);
    assert.equal(hostMatches("com", "facebook.com"), false);
    assert.equal(hostMatches("facebook.com", "www.facebook.com"), false);
  });
  it("IP addresses and localhost cover exactly themselves", () => {
    assert.ok(hostMatches("127.0.0.1", "127.0.0.1"));
    assert.equal(hostMatches("1.127.0.0.1", "127.0.0.1"), false);
    assert.equal(hostMatches("a.localhost", "localhost"), false);
  });
});

describe("entryFor and isProtected", () => {
  const settings = {
    protection: true,
    sites: [
      { host: "facebook.com", enabled: true },
      { host: "business.facebook.com", enabled: false },
      { host: "social.test", enabled: true },
    ],
  };
  it("picks the most specific covering entry", () => {
    assert.equal(entryFor("www.facebook.com", settings.sites).host, "facebook.com");
    assert.equal(entryFor("a.business.facebook.com", settings.sites).host, "business.facebook.com");
    assert.equal(entryFor("other.test", settings.sites), null);
  });
  it("protects enabled entries only, and only when protection is on", () => {
    assert.ok(isProtected("www.facebook.com", settings));
    assert.ok(isProtected("social.test", settings));
    assert.equal(isProtected("business.facebook.com", settings), false);
    assert.equal(isProtected("other.test", settings), false);
    assert.equal(isProtected("social.test", { ...settings, protection: false }), false);
    assert.equal(isProtected("", settings), false);
    assert.equal(isProtected("social.test", null), false);
  });
});

describe("hostOf and matchPatterns", () => {
  it("hostOf reads http(s) URLs only", () => {
    assert.equal(hostOf("http://social.test:8765/form.html"), "social.test");
    assert.equal(hostOf("https://WWW.X.COM/"), "www.x.com");
    assert.equal(hostOf("chrome-extension://abc/popup.html"), null);
    assert.equal(hostOf("not a url"), null);
  });
  it("matchPatterns covers the entry and its subdomains on any scheme and port", () => {
    assert.deepEqual(matchPatterns("facebook.com"), ["*://*.facebook.com/*"]);
    assert.deepEqual(matchPatterns("127.0.0.1"), ["*://127.0.0.1/*"]);
    assert.deepEqual(matchPatterns("localhost"), ["*://localhost/*"]);
  });
});
