// The main-world hook (page-hook.js) against a small stand-in for a page's DOM: what it
// reports, what it holds back (fail closed), what it releases, and what it hides or adds.
// The real browsers run it in tests/e2e (test_patterns_*.py); this pins the rules.

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import vm from "node:vm";

const SOURCE = readFileSync(join(dirname(fileURLToPath(import.meta.url)), "../src/content/page-hook.js"), "utf8");

/** A page realm with just what the hook touches; returns it after running the hook in it. */
function page() {
  const ctx = vm.createContext({ queueMicrotask, console });
  vm.runInContext(
    `
    class EventTarget {
      constructor() { this.listeners = []; }
      addEventListener(type, fn, capture) { this.listeners.push({ type, fn }); }
      dispatchEvent(event) { for (const l of this.listeners) if (l.type === event.type) l.fn(event); return true; }
    }
    class Event { constructor(type, init = {}) { this.type = type; Object.assign(this, init); } }
    class MouseEvent extends Event {}
    class File { constructor(name, type, size = 10) { this.name = name; this.type = type; this.size = size; this.lastModified = 1; } }
    class FileList extends Array {}
    class HTMLElement extends EventTarget { click() { this.clicked = (this.clicked || 0) + 1; } }
    class HTMLInputElement extends HTMLElement {}
    const slots = new WeakMap();
    Object.defineProperties(HTMLInputElement.prototype, {
      type: { get() { return slots.get(this)?.type ?? "text"; }, set(v) { slots.set(this, { ...slots.get(this), type: v }); }, configurable: true },
      files: { get() { return slots.get(this)?.files ?? FileList.from([]); }, set(v) { slots.set(this, { ...slots.get(this), files: v }); }, configurable: true },
      value: { get() { const f = slots.get(this)?.files ?? []; return f.length ? "C:\\\\fakepath\\\\" + f[0].name : ""; }, set(v) {}, configurable: true },
      showPicker: { value() { this.picked = true; }, writable: true, configurable: true },
    });
    class HTMLLabelElement extends HTMLElement {}
    Object.defineProperty(HTMLLabelElement.prototype, "control", { get() { return this.for; }, configurable: true });
    class DataTransfer { constructor() { this._files = FileList.from([]); } }
    Object.defineProperty(DataTransfer.prototype, "files", { get() { return this._files; }, configurable: true });
    class DataTransferItem { constructor(file, entry = null) { this._file = file; this._entry = entry; } getAsFile() { return this._file; } webkitGetAsEntry() { return this._entry; } getAsFileSystemHandle() {} }
    Object.defineProperty(DataTransferItem.prototype, "kind", { get() { return "file"; }, configurable: true });
    class FileSystemFileEntry {}
    class HTMLIFrameElement extends HTMLElement {}
    const window = new EventTarget();
    Object.assign(window, { EventTarget, Event, MouseEvent, HTMLElement, HTMLInputElement, HTMLLabelElement,
      DataTransfer, DataTransferItem, FileSystemFileEntry, HTMLIFrameElement, File, FileList,
      showOpenFilePicker() {}, showDirectoryPicker() {} });
    globalThis.window = window;
    Object.assign(globalThis, window);
    `,
    ctx,
  );
  vm.runInContext(SOURCE, ctx);
  const w = ctx.window;
  w.heard = [];
  for (const type of ["cloaker:file-input", "cloaker:unvetted"]) {
    w.addEventListener(type, (e) => w.heard.push([type, e.relatedTarget]), true);
  }
  w.input = () => {
    const input = new w.HTMLInputElement();
    input.type = "file";
    return input;
  };
  // What the browser does when the user picks: set the files natively (not the page's setter).
  w.pick = (input, files) => {
    ctx.__input = input;
    ctx.__files = w.FileList.from(files);
    vm.runInContext("slots.set(__input, { ...slots.get(__input), files: __files })", ctx);
  };
  w.release = (input) => w.dispatchEvent(new w.MouseEvent("cloaker:release", { relatedTarget: input }));
  return w;
}

describe("page-hook: reporting file inputs", () => {
  it("reports click() and showPicker() on a file input, detached or not, and a label's click", () => {
    const w = page();
    const input = w.input();
    input.click();
    input.showPicker();
    const label = new w.HTMLLabelElement();
    label.for = input;
    label.click();
    assert.deepEqual(w.heard.map(([t, el]) => [t, el === input]), [
      ["cloaker:file-input", true],
      ["cloaker:file-input", true],
      ["cloaker:file-input", true],
    ]);
    assert.equal(input.clicked, 1, "the original click still runs");
    assert.equal(input.picked, true);
  });
  it("reports a dispatched click, and stays quiet for other elements", () => {
    const w = page();
    const input = w.input();
    input.dispatchEvent(new w.MouseEvent("click"));
    new w.HTMLElement().click();
    const text = new w.HTMLInputElement();
    text.click();
    assert.equal(w.heard.length, 1);
  });
});

describe("page-hook: fail closed", () => {
  it("hides picked photos until the content script releases them, and says so", () => {
    const w = page();
    const input = w.input();
    w.pick(input, [new w.File("me.jpg", "image/jpeg")]);
    assert.equal(input.files.length, 0, "the page reads no file");
    assert.equal(input.value, "", "nor its name");
    assert.deepEqual(w.heard.map(([t]) => t), ["cloaker:unvetted"]);
    w.release(input);
    assert.equal(input.files.length, 1);
    assert.equal(input.files[0].name, "me.jpg");
    w.pick(input, [new w.File("other.png", "image/png")]); // a new pick is not released
    assert.equal(input.files.length, 0);
  });
  it("lets non-photos and files the page set itself through", () => {
    const w = page();
    const input = w.input();
    w.pick(input, [new w.File("notes.pdf", "application/pdf")]);
    assert.equal(input.files.length, 1);
    const other = w.input();
    other.files = w.FileList.from([new w.File("made.jpg", "image/jpeg")]);
    assert.equal(other.files.length, 1, "files the page put there came from the page");
    assert.equal(w.heard.length, 0);
  });
});

describe("page-hook: File System Access and drops", () => {
  it("hides the File System Access pickers and getAsFileSystemHandle", () => {
    const w = page();
    assert.equal("showOpenFilePicker" in w, false);
    assert.equal("showDirectoryPicker" in w, false);
    assert.equal("getAsFileSystemHandle" in w.DataTransferItem.prototype, false);
  });
  it("gives a file entry where the browser gives none, with the folder path it was told", async () => {
    const w = page();
    const file = new w.File("a.jpg", "image/jpeg", 5);
    const entry = new w.DataTransferItem(file).webkitGetAsEntry();
    assert.equal(entry.isFile, true);
    assert.equal(entry.isDirectory, false);
    assert.equal(entry.fullPath, "/a.jpg");
    assert.ok(entry instanceof w.FileSystemFileEntry);
    assert.equal(await new Promise((ok) => entry.file(ok)), file);
    const detail = JSON.stringify([["a.jpg|5|1", "/holiday/day1/a.jpg"]]);
    w.dispatchEvent(new w.Event("cloaker:paths", { detail }));
    assert.equal(new w.DataTransferItem(file).webkitGetAsEntry().fullPath, "/holiday/day1/a.jpg");
    const real = { isFile: true, fullPath: "/b.jpg" };
    assert.equal(new w.DataTransferItem(new w.File("b.jpg", "image/jpeg"), real).webkitGetAsEntry(), real);
  });
});
