// The main-world hook: runs in the PAGE's own JavaScript world, at document_start, in every
// frame of an allowlisted site, before any page script. It only reports and adapts; every
// decision (allowlist, protection, cloaking) and all transport stay in the isolated content
// script (intercept.js), which this file cannot reach except through DOM events. It holds no
// secret and no extension API: a page that fakes its events gains nothing but its own files.
//
// What it does:
// 1. Reports file inputs the isolated script cannot see from `window`: an input that is
//    clicked (click(), showPicker(), a dispatched click, a label's click) is announced with a
//    `cloaker:file-input` MouseEvent on window whose relatedTarget is the input, so the
//    isolated script can listen on the input itself (detached inputs, inputs in closed shadow
//    roots: there relatedTarget is the shadow host, which the isolated script opens).
// 2. Never silent (fail closed): the `files` getter of a file input returns an empty list
//    while it holds a photo the isolated script has not released (`cloaker:release`), and
//    reports the input (`cloaker:unvetted`) so the isolated script can hold it with the
//    notice. Files a page script sets itself (`input.files = ...`) count as released: they
//    came from the page.
// 3. Drops: Chromium's webkitGetAsEntry() returns null for a DataTransfer built by script, as
//    the re-dispatched drop's is; entries are synthesised for such items, whose file() gives
//    the (cloaked) File. Dropped folders reach the page flattened, each file's entry keeping
//    its path (announced by the isolated script with `cloaker:paths` before the drop).
// 4. File System Access (Chromium): showOpenFilePicker, showDirectoryPicker and
//    DataTransferItem.getAsFileSystemHandle are hidden, so pages fall back to an input or to
//    getAsFile(), both of which are caught. Handles give File objects we cannot swap.
//
// Classic script, no imports: content scripts in the main world cannot use modules.

(() => {
  const FLAG = Symbol.for("cloaker.page-hook");
  if (window[FLAG]) return;
  Object.defineProperty(window, FLAG, { value: true });

  const HINT = "cloaker:file-input";
  const UNVETTED = "cloaker:unvetted";
  const RELEASE = "cloaker:release";
  const PATHS = "cloaker:paths";
  const NOT_PHOTOS = new Set(["image/svg+xml"]);
  const PHOTO_NAME = /\.(jpe?g|jfif|png|webp|gif|bmp|tiff?|heic|heif|avif)$/i;

  // Originals, taken before any page script runs (a page may replace them later).
  const InputProto = HTMLInputElement.prototype;
  const filesDesc = Object.getOwnPropertyDescriptor(InputProto, "files");
  const typeGet = Object.getOwnPropertyDescriptor(InputProto, "type").get;
  const valueDesc = Object.getOwnPropertyDescriptor(InputProto, "value");
  const dispatch = EventTarget.prototype.dispatchEvent;
  const listen = EventTarget.prototype.addEventListener;
  const call = Function.prototype.call.bind(Function.prototype.call);
  const ItemProto = window.DataTransferItem?.prototype;
  const getAsFile = ItemProto?.getAsFile;
  const getAsEntry = ItemProto?.webkitGetAsEntry;
  const kindGet = ItemProto && Object.getOwnPropertyDescriptor(ItemProto, "kind")?.get;
  const dtFilesGet = Object.getOwnPropertyDescriptor(DataTransfer.prototype, "files").get;
  const labelControl = window.HTMLLabelElement &&
    Object.getOwnPropertyDescriptor(HTMLLabelElement.prototype, "control")?.get;
  const emptyFiles = dtFilesGet.call(new DataTransfer());

  const isFileInput = (el) => {
    try {
      return el instanceof HTMLInputElement && call(typeGet, el) === "file";
    } catch {
      return false;
    }
  };
  const isPhoto = (file) => {
    const type = String(file.type || "").toLowerCase();
    if (type) return type.startsWith("image/") && !NOT_PHOTOS.has(type);
    return PHOTO_NAME.test(String(file.name || ""));
  };

  function tell(type, target) {
    call(dispatch, window, new MouseEvent(type, { relatedTarget: target }));
  }
  /** The file input a click on `el` opens, if any. */
  function fileInputOf(el) {
    if (isFileInput(el)) return el;
    if (labelControl && el instanceof HTMLLabelElement) {
      const control = call(labelControl, el);
      return isFileInput(control) ? control : null;
    }
    return null;
  }
  function announce(el) {
    const input = fileInputOf(el);
    if (input) tell(HINT, input);
  }

  // ---- 1. every way script opens a file picker ----
  function wrap(proto, name, before) {
    const original = proto?.[name];
    if (typeof original !== "function") return;
    const wrapped = {
      [name](...args) {
        before(this, args);
        return call(original, this, ...args);
      },
    }[name];
    Object.defineProperty(proto, name, { value: wrapped, writable: true, configurable: true });
  }
  wrap(HTMLElement.prototype, "click", (el) => announce(el));
  wrap(InputProto, "showPicker", (el) => announce(el));
  wrap(EventTarget.prototype, "dispatchEvent", (target, [event]) => {
    if (event instanceof MouseEvent && event.type === "click") announce(target);
  });

  // ---- 2. fail closed: files the isolated script has not released stay hidden ----
  const released = new WeakMap(); // input -> the File objects it released (or the page set)
  const sameFiles = (list, files) =>
    files !== undefined && list.length === files.length && Array.from(list).every((f, i) => f === files[i]);
  const filesOf = (input) => call(filesDesc.get, input);
  listen.call(window, RELEASE, (event) => {
    const input = event.relatedTarget;
    if (isFileInput(input)) released.set(input, Array.from(filesOf(input) || []));
  }, true);
  Object.defineProperty(InputProto, "files", {
    ...filesDesc,
    get() {
      const list = call(filesDesc.get, this);
      if (!list || list.length === 0 || !isFileInput(this)) return list;
      if (sameFiles(list, released.get(this)) || !Array.from(list).some(isPhoto)) return list;
      tell(UNVETTED, this);
      return emptyFiles;
    },
    set(value) {
      call(filesDesc.set, this, value);
      if (isFileInput(this)) released.set(this, Array.from(filesOf(this) || []));
    },
  });
  // `input.value` names the file ("C:\fakepath\photo.jpg"): hide it while the files are.
  Object.defineProperty(InputProto, "value", {
    ...valueDesc,
    get() {
      const value = call(valueDesc.get, this);
      if (!value || !isFileInput(this)) return value;
      const list = call(filesDesc.get, this);
      if (!list || sameFiles(list, released.get(this)) || !Array.from(list).some(isPhoto)) return value;
      return "";
    },
  });

  // ---- 3. drops: entries for script-built DataTransfers, folder paths ----
  const paths = new Map(); // "name|size|lastModified" -> fullPath, for the next re-dispatched drop
  const keyOf = (file) => `${file.name}|${file.size}|${file.lastModified}`;
  listen.call(window, PATHS, (event) => {
    paths.clear();
    try {
      for (const [key, path] of JSON.parse(String(event.detail))) paths.set(key, path);
    } catch {
      // not ours: ignore
    }
  }, true);

  /** A FileSystemFileEntry for `file`: what a real drop's webkitGetAsEntry() gives. */
  function fileEntry(file, fullPath) {
    const proto = window.FileSystemFileEntry?.prototype ?? Object.prototype;
    const entry = Object.create(proto);
    const fs = { name: "cloaker", root: null };
    const own = {
      isFile: true,
      isDirectory: false,
      name: file.name,
      fullPath,
      filesystem: fs,
      file(success, failure) {
        queueMicrotask(() => {
          try {
            success(file);
          } catch (err) {
            if (failure) failure(err);
            else throw err;
          }
        });
      },
      getParent(success) {
        if (success) queueMicrotask(() => success(null));
      },
    };
    for (const [key, value] of Object.entries(own)) {
      Object.defineProperty(entry, key, { value, enumerable: true, configurable: true });
    }
    return entry;
  }

  if (ItemProto && getAsEntry) {
    Object.defineProperty(ItemProto, "webkitGetAsEntry", {
      value: function webkitGetAsEntry() {
        const entry = call(getAsEntry, this);
        if (call(kindGet, this) !== "file") return entry;
        const file = call(getAsFile, this);
        if (!file) return entry;
        const path = paths.get(keyOf(file));
        if (entry && !path) return entry;
        return fileEntry(file, path || `/${file.name}`);
      },
      writable: true,
      configurable: true,
    });
  }

  // ---- 4. File System Access: hidden, so pages use an input or getAsFile() instead ----
  for (const name of ["showOpenFilePicker", "showDirectoryPicker"]) {
    if (name in window) delete window[name];
    if (name in window) {
      Object.defineProperty(window, name, { value: undefined, configurable: true, writable: true });
    }
  }
  if (ItemProto && "getAsFileSystemHandle" in ItemProto) delete ItemProto.getAsFileSystemHandle;
})();
