// What every zoo page shares: a record of the files the widget handed to page script
// (window.zoo.seen, with a hash of their bytes, so a test can tell whether page script ever
// held the original photo), the uploads the widget finished, and errors it reported.
// The widgets themselves upload as their library does; pages whose library has no uploader
// post with fetch(FormData), as apps using them do.

const zoo = { seen: [], pending: 0, uploads: 0, errors: [], events: [] };
window.zoo = zoo;

/** 32-bit FNV-1a of the bytes, hex (the tests compute the same of the original photo). */
function fnv1a(bytes) {
  let hash = 0x811c9dc5;
  for (let i = 0; i < bytes.length; i += 1) {
    hash ^= bytes[i];
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash.toString(16).padStart(8, "0");
}

function log(line) {
  const out = document.getElementById("log");
  if (out) out.textContent += `${line}\n`;
}

function showStatus() {
  const status = document.getElementById("status");
  status.textContent = `uploaded ${zoo.uploads}`;
  status.dataset.count = String(zoo.uploads);
}

/** Record that the widget gave page script `files` (from `source`, e.g. "onDrop"). */
export async function saw(source, files) {
  const list = Array.from(files);
  zoo.pending += 1;
  try {
    for (const file of list) {
      const entry = { source, name: file.name, type: file.type, size: file.size, hash: null };
      zoo.seen.push(entry);
      entry.hash = fnv1a(new Uint8Array(await file.arrayBuffer()));
      log(`${source}: ${file.name} (${file.size} B, ${entry.hash})`);
    }
  } finally {
    zoo.pending -= 1;
  }
}

/** The widget finished uploading `count` files. */
export function uploaded(count = 1) {
  zoo.uploads += count;
  showStatus();
}

/** The widget reported an error (shown to the test, which fails on it). */
export function failed(what, error) {
  const text = `${what}: ${error?.message || error}`;
  zoo.errors.push(text);
  log(`error ${text}`);
}

/** Upload with fetch(FormData) to /upload/<widget>, as an app using a pick-only helper does. */
export async function post(widget, files) {
  const form = new FormData();
  for (const file of files) form.append("photos", file, file.name);
  const response = await fetch(`/upload/${widget}`, { method: "POST", body: form });
  if (!response.ok) throw new Error(`upload answered ${response.status}`);
  uploaded(files.length);
}

// How files reached the page (trusted or re-dispatched), for the tests' diagnostics only:
// bubbling listeners on document see what page handlers see, and change nothing.
for (const type of ["change", "cancel", "drop", "paste"]) {
  document.addEventListener(type, (e) => {
    const dt = e.dataTransfer || e.clipboardData;
    const files = dt ? dt.files : e.target?.files;
    const event = { type, trusted: e.isTrusted, files: files ? files.length : null };
    if (type === "drop") Object.assign(event, { clientX: e.clientX, pageX: e.pageX, clientY: e.clientY, pageY: e.pageY });
    zoo.events.push(event);
  });
}
