// The content script: runs at document_start, in every frame, on allowlisted sites only.
//
// It catches, in the capture phase on window (before any page listener), the trusted events
// that hand image files to a page: `input` + `change` on <input type=file> (inputs inside open
// shadow roots too, found through composedPath(); their non-composed `change` is caught on
// the shadow root), `drop` and `paste`. It holds the event, sends the photos to the
// background to be cloaked, puts the cloaked File objects (same name, same type) in place
// through a DataTransfer, and re-dispatches what the page expects: `input` and `change`, or a
// new `drop` / `paste` carrying the new data. Non-image files pass untouched; events with no
// image in them are not touched at all. Fail closed: while the photos are being cloaked, and
// after a failure, the page has no file; the notice offers "Upload original anyway".
//
// Classic script (content scripts cannot be modules); needs sites.js, bytes.js, overlay.js.

(() => {
  if (globalThis.__cloakerIntercepting) return;
  globalThis.__cloakerIntercepting = true;

  const { hostOf, isProtected } = globalThis.CloakerSites;
  const { fromBase64 } = globalThis.CloakerBytes;
  const Overlay = globalThis.CloakerOverlay;
  const SLICE_BYTES = 8 * 1024 * 1024;
  const NOT_PHOTOS = new Set(["image/svg+xml"]);
  const PHOTO_NAME = /\.(jpe?g|jfif|png|webp|gif|bmp|tiff?|heic|heif|avif)$/i;
  const REASONS = {
    disconnected: "The Cloaker helper is not running on this computer.",
    not_connected: "The Cloaker helper is not installed or could not start.",
    daemon_unavailable: "The Cloaker helper could not be started.",
    daemon_lost: "The Cloaker helper stopped while working.",
    timeout: "The Cloaker helper did not answer in time.",
    busy: "The Cloaker helper is busy with too many photos.",
    model_unavailable: "Cloaker's face models are not available.",
    bad_image: "This file could not be read as an image.",
    unsupported_image: "Cloaker cannot handle this kind of image.",
    image_too_large: "This image is too large for Cloaker.",
    extension_reloaded: "Cloaker was updated or restarted: reload the page.",
    unvetted: "This page read the photo in a way Cloaker cannot check, so Cloaker held it back.",
  };

  // ---- state kept current from storage.local (written by the background) ----
  let settings; // undefined until read: until then, hold every photo (fail closed)
  chrome.storage.local.get("settings").then(
    (items) => {
      settings = items.settings ?? null;
    },
    () => {
      settings = null;
    },
  );
  chrome.storage.onChanged.addListener((changes, area) => {
    if (area === "local" && changes.settings) settings = changes.settings.newValue ?? null;
  });
  const HINT = "cloaker:file-input"; // page-hook.js -> here: relatedTarget = an input it opens
  const UNVETTED = "cloaker:unvetted"; // page-hook.js -> here: the page read unreleased files
  const RELEASE = "cloaker:release"; // here -> page-hook.js: these files may reach the page
  const PATHS = "cloaker:paths"; // here -> page-hook.js: fullPath of each file of the next drop
  const FRAME = "cloaker:frame"; // page-hook.js -> here: relatedTarget = a frame it hooked
  // The frame's site: its origin's host. about:blank and srcdoc frames have no host in their
  // address but inherit the origin of the page that made them (self.origin says which).
  const siteHost = hostOf(String(self.origin)) || location.hostname;
  /** The content script only exists on allowlisted sites; unknown settings count as "on". */
  const active = () => !settings || isProtected(siteHost, settings);

  const isPhoto = (file) => {
    const type = (file.type || "").toLowerCase();
    if (type) return type.startsWith("image/") && !NOT_PHOTOS.has(type);
    return PHOTO_NAME.test(file.name || "");
  };

  // ---- our own events: a boolean around the synchronous dispatch (works in both browsers) ----
  let dispatching = false;
  function dispatch(target, event) {
    dispatching = true;
    try {
      return target.dispatchEvent(event);
    } finally {
      dispatching = false;
    }
  }

  // Firefox: a drop built in the content script's compartment reaches the page with no files;
  // build the DataTransfer and the event in the page's compartment instead.
  const pageWindow = window.wrappedJSObject;
  function newDataTransfer() {
    return pageWindow ? new pageWindow.DataTransfer() : new DataTransfer();
  }
  function newEvent(ctor, type, init) {
    if (!pageWindow) return new globalThis[ctor](type, init);
    return new pageWindow[ctor](type, cloneInto(init, window, { wrapReflectors: true }));
  }
  function toDataTransfer(files, strings = {}) {
    const dt = newDataTransfer();
    for (const [type, value] of Object.entries(strings)) dt.setData(type, value);
    for (const file of files) dt.items.add(file);
    return dt;
  }
  // Firefox ignores `clipboardData` in ClipboardEventInit: the event gets its own, writable
  // DataTransfer instead, which we fill (Chrome keeps the one passed in, already filled).
  function newPasteEvent(init, data, files, strings) {
    const event = newEvent("ClipboardEvent", "paste", { ...init, clipboardData: data });
    const own = event.clipboardData;
    if (own && own.files.length === 0 && files.length > 0) {
      for (const [type, value] of Object.entries(strings)) own.setData(type, value);
      for (const file of files) own.items.add(file);
    }
    return event;
  }
  function readStrings(dt) {
    const strings = {};
    for (const type of dt.types || []) if (type !== "Files") strings[type] = dt.getData(type);
    return strings;
  }

  // ---- one job: photos -> background -> cloaked Files ----
  /** Base64 of a Blob, read with a FileReader: strings cross Firefox's compartments freely. */
  function readBase64(blob) {
    return new Promise((resolve, reject) => {
      const reader = new FileReader();
      reader.onload = () => {
        const url = String(reader.result);
        resolve(url.slice(url.indexOf(",") + 1));
      };
      reader.onerror = () => reject(reader.error);
      reader.readAsDataURL(blob);
    });
  }

  async function sendFile(port, index, file) {
    const count = Math.max(1, Math.ceil(file.size / SLICE_BYTES));
    for (let i = 0; i < count; i += 1) {
      const data = await readBase64(file.slice(i * SLICE_BYTES, (i + 1) * SLICE_BYTES));
      port.postMessage({ type: "bytes", file: index, index: i, count, data });
    }
  }

  /** Cloak `photos` (Files); resolves with one {file} or {error: {code, message}} per photo. */
  function runJob(photos, overlay) {
    return new Promise((resolve) => {
      const results = photos.map(() => null);
      const parts = photos.map(() => []);
      let left = photos.length;
      let port = null;
      const settle = (k, value) => {
        if (results[k]) return;
        results[k] = value;
        if (value.error) overlay.failed(k, "not cloaked");
        left -= 1;
        if (left === 0) {
          try {
            port?.disconnect();
          } catch {
            // the background is already gone
          }
          resolve(results);
        }
      };
      const failAll = (code, message) => photos.forEach((_, k) => settle(k, { error: { code, message } }));
      try {
        port = chrome.runtime.connect({ name: "cloak" });
      } catch (err) {
        failAll("extension_reloaded", String(err?.message || err));
        return;
      }
      port.onDisconnect.addListener(() => failAll("disconnected", "Cloaker stopped unexpectedly."));
      port.onMessage.addListener((m) => {
        const k = m.file;
        const photo = photos[k];
        if (!photo || results[k]) return;
        if (m.type === "progress") {
          overlay.progress(k, Number(m.fraction) || 0, m.stage);
        } else if (m.type === "bytes") {
          parts[k].push(fromBase64(m.data));
        } else if (m.type === "done" && m.status === "skipped") {
          overlay.finished(k, "not needed");
          settle(k, { file: photo, status: "skipped" });
        } else if (m.type === "done") {
          const file = new File(parts[k], photo.name, {
            type: photo.type || m.mime || "",
            lastModified: photo.lastModified,
          });
          parts[k] = [];
          const faces = Number(m.faces) || 0;
          overlay.finished(k, m.status === "no_face" ? "no face found" : `cloaked · ${plural(faces, "face")}`);
          settle(k, { file, status: m.status, faces });
        } else if (m.type === "failed") {
          settle(k, { error: { code: m.code, message: m.message } });
        }
      });
      port.postMessage({
        type: "job",
        files: photos.map((f) => ({ name: f.name, mime: f.type, size: f.size })),
      });
      photos
        .reduce((done, file, k) => done.then(() => sendFile(port, k, file)), Promise.resolve())
        .catch((err) => failAll("bad_image", `could not read the file: ${err?.message || err}`));
    });
  }

  const plural = (n, word) => `${n} ${word}${n === 1 ? "" : "s"}`;

  function explain(failures) {
    const { code, message } = failures[0].error;
    const reason = REASONS[code] || "Cloaker could not cloak this photo.";
    const which = failures.length > 1 ? ` (${failures.length} photos)` : "";
    return `${reason}${which} ${message ? `Details: ${message}` : ""}`.trim();
  }

  /**
   * Cloak the photos among `files`, showing progress near `anchor`. Resolves with the files to
   * hand to the page (cloaked photos, everything else untouched), or null when the user
   * cancelled after a failure.
   */
  async function cloakFiles(files, anchor) {
    const photoIndex = files.map((f, i) => (isPhoto(f) ? i : -1)).filter((i) => i >= 0);
    const photos = photoIndex.map((i) => files[i]);
    const overlay = Overlay.open(anchor, photos.map((f) => f.name));
    const results = await runJob(photos, overlay);
    const out = files.slice();
    const failures = [];
    results.forEach((result, k) => {
      if (result.file) out[photoIndex[k]] = result.file;
      else failures.push(result);
    });
    if (failures.length === 0) {
      overlay.success(Overlay.summary(results, settings?.mode));
      return out;
    }
    const choice = await overlay.ask(explain(failures));
    return choice === "original" ? out : null;
  }

  // ---- <input type=file>: the trusted input + change pair ----
  const inputJobs = new WeakMap(); // input -> {pairing}: the job that holds its files
  const watched = new WeakSet(); // shadow roots and inputs we listen on ourselves

  // Realm-agnostic checks: nodes may come from a frame this script adopted (another realm).
  const isElement = (n) => n?.nodeType === 1;
  const isShadowRoot = (n) => n?.nodeType === 11 && Boolean(n.host);
  const isFileInput = (n) => isElement(n) && n.localName === "input" && String(n.type).toLowerCase() === "file";
  /** The window a node's events are exchanged on with page-hook.js (its own frame's). */
  const windowOf = (node) => node?.ownerDocument?.defaultView || (node?.defaultView ?? window);

  /** A shadow root, open or closed (content scripts may see closed ones), or null. */
  function shadowOf(el) {
    if (!isElement(el)) return null;
    try {
      if (globalThis.chrome?.dom?.openOrClosedShadowRoot) return chrome.dom.openOrClosedShadowRoot(el);
      return el.openOrClosedShadowRoot ?? el.shadowRoot ?? null;
    } catch {
      return null;
    }
  }

  function watch(node) {
    if (!node || watched.has(node)) return;
    watched.add(node);
    node.addEventListener("input", onFileInput, true);
    node.addEventListener("change", onFileInput, true);
    if (isShadowRoot(node)) {
      for (const type of COMPOSED) node.addEventListener(type, onComposed, true);
    }
  }

  /** Listen inside every shadow root on the event's path, closed ones included. */
  function watchShadowRoots(event) {
    for (const node of event.composedPath()) {
      if (isShadowRoot(node)) watch(node);
      else {
        const root = shadowOf(node);
        if (root) watch(root);
      }
    }
  }

  /** Tell page-hook.js that `input`'s current files may reach the page. */
  function release(input) {
    dispatch(windowOf(input), newEvent("MouseEvent", RELEASE, { relatedTarget: input }));
  }

  function putFiles(input, files) {
    input.files = toDataTransfer(files).files;
    release(input);
    dispatch(input, new Event("input", { bubbles: true, composed: true }));
    dispatch(input, new Event("change", { bubbles: true }));
  }

  function onFileInput(event) {
    if (dispatching || !event.isTrusted) return;
    const input = event.composedPath()[0];
    if (!isFileInput(input)) {
      watchShadowRoots(event); // a closed shadow root hides the input: listen inside it
      return;
    }
    const current = inputJobs.get(input);
    if (current?.pairing) {
      event.stopImmediatePropagation(); // the `change` that follows the `input` we hold
      return;
    }
    if (!active()) {
      release(input);
      return;
    }
    const files = Array.from(input.files || []);
    if (!files.some(isPhoto)) return;
    event.stopImmediatePropagation();
    hold(input, files, (out) => out && putFiles(input, out));
    watchShadowRoots(event);
  }

  /** Empty `input`, cloak `files`, then `done(out)` (null: the user cancelled). */
  function hold(input, files, done, reason = null) {
    const job = { pairing: true };
    inputJobs.set(input, job);
    // The browser fires `input` then `change` in one task: start once both have passed.
    setTimeout(() => {
      job.pairing = false;
      input.value = ""; // the page keeps no file while we work, nor after a failure
      const work = reason ? askOriginal(files, input, reason) : cloakFiles(files, input);
      work.then((out) => {
        if (inputJobs.get(input) !== job) return; // the user picked other files meanwhile
        inputJobs.delete(input);
        done(out);
      });
    }, 0);
  }

  /** The notice alone: nothing was cloaked; "Upload original anyway" or nothing. */
  async function askOriginal(files, anchor, reason) {
    const photos = files.filter(isPhoto);
    const overlay = Overlay.open(anchor, photos.map((f) => f.name));
    photos.forEach((_, k) => overlay.failed(k, "held"));
    const choice = await overlay.ask(reason);
    return choice === "original" ? files : null;
  }

  // page-hook.js: the page opened a picker on this input (maybe detached, maybe in a closed
  // shadow root: then relatedTarget is the shadow host). Listen on it ourselves.
  function onHint(event) {
    const target = event.relatedTarget;
    if (isFileInput(target)) {
      watch(target);
      return;
    }
    // A host: open every shadow root below it, closed ones too.
    for (let root = shadowOf(target), stack = []; root || stack.length; root = stack.pop()) {
      if (!root) continue;
      watch(root);
      for (const el of root.querySelectorAll("*")) {
        const inner = shadowOf(el);
        if (inner) stack.push(inner);
      }
    }
  }

  // page-hook.js: the page read the files of an input we never saw a pick on (a way in we do
  // not know). It got an empty list; hold the files with the notice, never pass them silently.
  // A page listener that runs before ours on the same trusted event (a capture listener on the
  // input or on a shadow host, registered before our own) reads the files first: wait for the
  // end of that dispatch, where our listener will have taken the files into a cloak job.
  function onUnvetted(event) {
    const input = event.relatedTarget;
    if (!isFileInput(input) || inputJobs.has(input)) return;
    watch(input);
    setTimeout(() => {
      if (inputJobs.has(input)) return; // caught on its way after all: being cloaked
      const files = Array.from(input.files || []);
      if (!files.some(isPhoto)) return;
      if (!active()) {
        putFiles(input, files); // protection is off here: the page may have them
        return;
      }
      hold(input, files, (out) => out && putFiles(input, out), REASONS.unvetted);
    }, 0);
  }

  // ---- drop and paste: hold the event, re-dispatch a new one with the new data ----
  const COMPOSED = ["pointerdown", "focusin", "click"];
  const POINTER = ["clientX", "clientY", "screenX", "screenY", "ctrlKey", "shiftKey", "altKey", "metaKey"];

  /** What a drop's items hold, read now (a drop's data is gone once its event is over). */
  function dropItems(dt) {
    const out = [];
    for (const item of Array.from(dt?.items || [])) {
      if (item.kind !== "file") continue;
      let entry = null;
      try {
        entry = item.webkitGetAsEntry?.() ?? null;
      } catch {
        entry = null;
      }
      out.push({ entry, file: item.getAsFile() });
    }
    return out;
  }

  const readBatch = (reader) => new Promise((resolve, reject) => reader.readEntries(resolve, reject));
  const entryFile = (entry) => new Promise((resolve, reject) => entry.file(resolve, reject));

  /** Every file below a directory entry, depth first, with its path ("/folder/a.jpg"). */
  async function walk(dir, found) {
    const reader = dir.createReader();
    for (let batch = await readBatch(reader); batch.length; batch = await readBatch(reader)) {
      for (const entry of batch) {
        if (entry.isDirectory) await walk(entry, found);
        else if (entry.isFile) found.push({ file: await entryFile(entry), path: entry.fullPath });
      }
    }
    return found;
  }

  /** Dropped folders, flattened: [{file, path}] (path null for a file dropped as such). */
  async function flatten(items) {
    const found = [];
    for (const { entry, file } of items) {
      if (entry?.isDirectory) await walk(entry, found);
      else if (file) found.push({ file, path: null });
    }
    return found;
  }

  function onTransfer(event) {
    if (dispatching || !event.isTrusted || !active()) return;
    const isDrop = event.type === "drop";
    const dt = isDrop ? event.dataTransfer : event.clipboardData;
    const files = Array.from(dt?.files || []);
    const items = isDrop ? dropItems(dt) : [];
    const folders = items.some((i) => i.entry?.isDirectory);
    if (!folders && !files.some(isPhoto)) return;
    event.preventDefault();
    event.stopImmediatePropagation();
    const strings = readStrings(dt);
    const target = event.composedPath()[0];
    const init = { bubbles: true, cancelable: true, composed: true };
    if (isDrop) for (const key of POINTER) init[key] = event[key];
    const gathered = folders ? flatten(items) : Promise.resolve(files.map((file) => ({ file, path: null })));
    gathered
      .then(async (found) => {
        const all = found.map((f) => f.file);
        const out = all.some(isPhoto) ? await cloakFiles(all, isElement(target) ? target : null) : all;
        if (!out) return;
        if (folders) {
          // Each file's place in its folder, for the entries page-hook.js gives the page.
          const paths = out.map((f, k) => [`${f.name}|${f.size}|${f.lastModified}`, found[k].path || `/${f.name}`]);
          dispatch(windowOf(target), newEvent("CustomEvent", PATHS, { detail: JSON.stringify(paths) }));
        }
        const data = toDataTransfer(out, strings);
        const replay = isDrop
          ? newEvent("DragEvent", "drop", { ...init, dataTransfer: data })
          : newPasteEvent(init, data, out, strings);
        dispatch(target.isConnected ? target : target.ownerDocument || document, replay);
      })
      .catch((err) => {
        // Reading a dropped folder failed: nothing reaches the page, and the user is told.
        // Nothing was read, so there is no original to send: the notice can only be closed.
        const overlay = Overlay.open(isElement(target) ? target : null, []);
        overlay.ask(`Cloaker could not read the dropped folder, so nothing was sent. Details: ${err?.message || err}`);
      });
  }

  function onComposed(event) {
    if (!dispatching && event.isTrusted) watchShadowRoots(event);
  }

  // page-hook.js: the page reached a frame it built by script (about:blank), where our
  // scripts may never run. Listen there from here.
  function onFrame(event) {
    try {
      const child = event.relatedTarget?.contentWindow;
      if (child) listenOn(child);
    } catch {
      // another origin: its own content script runs there
    }
  }

  const adopted = new WeakSet();
  function listenOn(win) {
    if (adopted.has(win)) return;
    adopted.add(win);
    const capture = { capture: true };
    win.addEventListener(HINT, onHint, capture);
    win.addEventListener(UNVETTED, onUnvetted, capture);
    win.addEventListener(FRAME, onFrame, capture);
    win.addEventListener("input", onFileInput, capture);
    win.addEventListener("change", onFileInput, capture);
    win.addEventListener("drop", onTransfer, capture);
    win.addEventListener("paste", onTransfer, capture);
    // Pointer and focus events are composed: they reveal shadow roots before a file is picked.
    for (const type of COMPOSED) win.addEventListener(type, onComposed, capture);
  }
  listenOn(window);
})();
