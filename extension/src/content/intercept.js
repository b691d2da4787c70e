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

  const { isProtected } = globalThis.CloakerSites;
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
  /** The content script only exists on allowlisted sites; unknown settings count as "on". */
  const active = () => !settings || isProtected(location.hostname, settings);

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
        if (value.error) overlay.failed(k, "not protected");
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
          settle(k, { file: photo });
        } else if (m.type === "done") {
          const file = new File(parts[k], photo.name, {
            type: photo.type || m.mime || "",
            lastModified: photo.lastModified,
          });
          parts[k] = [];
          overlay.finished(k, m.status === "no_face" ? "no face" : "protected");
          settle(k, { file });
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

  function explain(failures) {
    const { code, message } = failures[0].error;
    const reason = REASONS[code] || "Cloaker could not protect this photo.";
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
      overlay.success(photos.length > 1 ? "Your photos are protected" : "Your photo is protected");
      return out;
    }
    const choice = await overlay.ask(explain(failures));
    return choice === "original" ? out : null;
  }

  // ---- <input type=file>: the trusted input + change pair ----
  const inputJobs = new WeakMap(); // input -> {pairing}: the job that holds its files
  const watchedRoots = new WeakSet();

  function watchShadowRoots(event) {
    for (const node of event.composedPath()) {
      if (node instanceof ShadowRoot && !watchedRoots.has(node)) {
        watchedRoots.add(node);
        node.addEventListener("input", onFileInput, true);
        node.addEventListener("change", onFileInput, true);
      }
    }
  }

  function putFiles(input, files) {
    input.files = toDataTransfer(files).files;
    dispatch(input, new Event("input", { bubbles: true, composed: true }));
    dispatch(input, new Event("change", { bubbles: true }));
  }

  function onFileInput(event) {
    if (dispatching || !event.isTrusted) return;
    const input = event.composedPath()[0];
    if (!(input instanceof HTMLInputElement) || input.type !== "file") return;
    const current = inputJobs.get(input);
    if (current?.pairing) {
      event.stopImmediatePropagation(); // the `change` that follows the `input` we hold
      return;
    }
    if (!active()) return;
    const files = Array.from(input.files || []);
    if (!files.some(isPhoto)) return;
    event.stopImmediatePropagation();
    const job = { pairing: true };
    inputJobs.set(input, job);
    watchShadowRoots(event);
    // The browser fires `input` then `change` in one task: start once both have passed.
    setTimeout(() => {
      job.pairing = false;
      input.value = ""; // the page keeps no file while we work, nor after a failure
      cloakFiles(files, input).then((out) => {
        if (inputJobs.get(input) !== job) return; // the user picked other files meanwhile
        inputJobs.delete(input);
        if (out) putFiles(input, out);
      });
    }, 0);
  }

  // ---- drop and paste: hold the event, re-dispatch a new one with the new data ----
  const POINTER = ["clientX", "clientY", "screenX", "screenY", "ctrlKey", "shiftKey", "altKey", "metaKey"];

  function onTransfer(event) {
    if (dispatching || !event.isTrusted || !active()) return;
    const isDrop = event.type === "drop";
    const dt = isDrop ? event.dataTransfer : event.clipboardData;
    const files = Array.from(dt?.files || []);
    if (!files.some(isPhoto)) return;
    event.preventDefault();
    event.stopImmediatePropagation();
    const strings = readStrings(dt);
    const target = event.composedPath()[0];
    const init = { bubbles: true, cancelable: true, composed: true };
    if (isDrop) for (const key of POINTER) init[key] = event[key];
    cloakFiles(files, target instanceof Element ? target : null).then((out) => {
      if (!out) return;
      const data = toDataTransfer(out, strings);
      const replay = isDrop
        ? newEvent("DragEvent", "drop", { ...init, dataTransfer: data })
        : newPasteEvent(init, data, out, strings);
      dispatch(target.isConnected ? target : document, replay);
    });
  }

  function onComposed(event) {
    if (!dispatching && event.isTrusted && active()) watchShadowRoots(event);
  }

  const capture = { capture: true };
  window.addEventListener("input", onFileInput, capture);
  window.addEventListener("change", onFileInput, capture);
  window.addEventListener("drop", onTransfer, capture);
  window.addEventListener("paste", onTransfer, capture);
  // Pointer and focus events are composed: they reveal shadow roots before a file is picked.
  for (const type of ["pointerdown", "focusin", "click"]) window.addEventListener(type, onComposed, capture);
})();
