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
// 5. Frames a page builds by script (about:blank, no navigation): the browser may never run
//    our scripts there, yet the page can use their DOM at once. The hook installs itself in
//    such a frame when the page first reaches it (contentWindow / contentDocument) and asks
//    the isolated script to listen in it (`cloaker:frame`).
//
// Classic script, no imports: content scripts in the main world cannot use modules.

(() => {
  const FLAG = Symbol.for("cloaker.page-hook");
  const HINT = "cloaker:file-input";
  const UNVETTED = "cloaker:unvetted";
  const RELEASE = "cloaker:release";
  const PATHS = "cloaker:paths";
  const FRAME = "cloaker:frame";
  const NOT_PHOTOS = new Set(["image/svg+xml"]);
  const PHOTO_NAME = /\.(jpe?g|jfif|png|webp|gif|bmp|tiff?|heic|heif|avif)$/i;
  const call = Function.prototype.call.bind(Function.prototype.call);
  const isPhoto = (file) => {
    const type = String(file.type || "").toLowerCase();
    if (type) return type.startsWith("image/") && !NOT_PHOTOS.has(type);
    return PHOTO_NAME.test(String(file.name || ""));
  };
  // Shared by every realm this hook is installed in (a page's script-built frames too).
  const released = new WeakMap(); // input -> the File objects it released (or the page set)
  const paths = new Map(); // "name|size|lastModified" -> fullPath, for the next re-dispatched drop

  /** Install the hook in `win` (this frame, or a same-origin frame built by its script). */
  function install(win) {
    if (win[FLAG]) return false;
    Object.defineProperty(win, FLAG, { value: true });

    // Originals, taken before any page script runs (a page may replace them later).
    const InputProto = win.HTMLInputElement.prototype;
    const filesDesc = Object.getOwnPropertyDescriptor(InputProto, "files");
    const typeGet = Object.getOwnPropertyDescriptor(InputProto, "type").get;
    const valueDesc = Object.getOwnPropertyDescriptor(InputProto, "value");
    const dispatch = win.EventTarget.prototype.dispatchEvent;
    const listen = win.EventTarget.prototype.addEventListener;
    const ItemProto = win.DataTransferItem?.prototype;
    const getAsFile = ItemProto?.getAsFile;
    const getAsEntry = ItemProto?.webkitGetAsEntry;
    const kindGet = ItemProto && Object.getOwnPropertyDescriptor(ItemProto, "kind")?.get;
    const dtFilesGet = Object.getOwnPropertyDescriptor(win.DataTransfer.prototype, "files").get;
    const labelControl = win.HTMLLabelElement &&
      Object.getOwnPropertyDescriptor(win.HTMLLabelElement.prototype, "control")?.get;
    const emptyFiles = dtFilesGet.call(new win.DataTransfer());

    // Brand checks through the native getters: they work on elements of any same-origin realm.
    const isFileInput = (el) => {
      try {
        return call(typeGet, el) === "file";
      } catch {
        return false;
      }
    };
    const filesOf = (input) => call(filesDesc.get, input);

    function tell(type, target) {
      call(dispatch, win, new win.MouseEvent(type, { relatedTarget: target }));
    }
    /** The file input a click on `el` opens, if any. */
    function fileInputOf(el) {
      if (isFileInput(el)) return el;
      try {
        const control = labelControl ? call(labelControl, el) : null;
        return isFileInput(control) ? control : null;
      } catch {
        return null; // not a label
      }
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
    wrap(win.HTMLElement.prototype, "click", (el) => announce(el));
    wrap(InputProto, "showPicker", (el) => announce(el));
    wrap(win.EventTarget.prototype, "dispatchEvent", (target, [event]) => {
      if (event?.type === "click") announce(target);
    });

    // ---- 2. fail closed: files the isolated script has not released stay hidden ----
    const sameFiles = (list, files) =>
      files !== undefined && list.length === files.length && Array.from(list).every((f, i) => f === files[i]);
    const vetted = (input, list) => sameFiles(list, released.get(input)) || !Array.from(list).some(isPhoto);
    call(listen, win, RELEASE, (event) => {
      const input = event.relatedTarget;
      if (isFileInput(input)) released.set(input, Array.from(filesOf(input) || []));
    }, true);
    Object.defineProperty(InputProto, "files", {
      ...filesDesc,
      get() {
        const list = call(filesDesc.get, this);
        if (!list || list.length === 0 || !isFileInput(this) || vetted(this, list)) return list;
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
        return !list || vetted(this, list) ? value : "";
      },
    });

    // ---- 3. drops: entries for script-built DataTransfers, folder paths ----
    const keyOf = (file) => `${file.name}|${file.size}|${file.lastModified}`;
    call(listen, win, PATHS, (event) => {
      paths.clear();
      try {
        for (const [key, path] of JSON.parse(String(event.detail))) paths.set(key, path);
      } catch {
        // not ours: ignore
      }
    }, true);

    /** A FileSystemFileEntry for `file`: what a real drop's webkitGetAsEntry() gives. */
    function fileEntry(file, fullPath) {
      const entry = Object.create(win.FileSystemFileEntry?.prototype ?? Object.prototype);
      const own = {
        isFile: true,
        isDirectory: false,
        name: file.name,
        fullPath,
        filesystem: { name: "cloaker", root: null },
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
      if (name in win) delete win[name];
      if (name in win) Object.defineProperty(win, name, { value: undefined, configurable: true, writable: true });
    }
    if (ItemProto && "getAsFileSystemHandle" in ItemProto) delete ItemProto.getAsFileSystemHandle;

    // ---- 5. frames this page builds by script (about:blank): browsers may never run our
    // scripts in them, and the page can use them at once. Hook them on first access and ask
    // the isolated script (FRAME, relatedTarget: the frame element) to listen in them too.
    for (const Frame of [win.HTMLIFrameElement, win.HTMLFrameElement]) {
      for (const prop of ["contentWindow", "contentDocument"]) {
        const desc = Frame && Object.getOwnPropertyDescriptor(Frame.prototype, prop);
        if (!desc?.get) continue;
        Object.defineProperty(Frame.prototype, prop, {
          ...desc,
          get() {
            const value = call(desc.get, this);
            try {
              const child = prop === "contentWindow" ? value : value?.defaultView;
              if (child && install(child)) tell(FRAME, this);
            } catch {
              // another origin: its own scripts run there
            }
            return value;
          },
        });
      }
    }
    return true;
  }

  install(window);
})();
