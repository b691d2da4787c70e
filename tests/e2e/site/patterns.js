// Page code shared by the plain-pattern pages (p-*.html): how independently written upload
// pages take photos. Each page has a #go control that starts the pick (or a #zone / #target
// for drop and paste), records what its own listeners saw in top.seen (for the tests) and
// uploads with XMLHttpRequest to /upload/<to> (?to= in the top page's address; letters only).
// Frames report to the top page, which shows the outcome in #status[data-count].

const TOP = window.top;
TOP.seen ??= [];

function describe(files) {
  return Array.from(files || [], (f) => ({ name: f.name, type: f.type, size: f.size, path: f.path || "" }));
}

/** Remember what a page listener saw (`how`: the API it read the files through). */
function record(event, how, files) {
  TOP.seen.push({ type: event.type, trusted: event.isTrusted, how, files: describe(files) });
}

/** The XHR upload the reported composer used: FormData, one part per file. */
function xhrUpload(files, paths = []) {
  const to = new URLSearchParams(TOP.location.search).get("to") || "patterns";
  const form = new FormData();
  Array.from(files).forEach((file, i) => {
    form.append("photos", file, file.name);
    if (paths[i]) form.append("paths", paths[i]);
  });
  const status = TOP.document.getElementById("status");
  status.textContent = "uploading…";
  const xhr = new XMLHttpRequest();
  xhr.open("POST", `/upload/${to}`);
  xhr.onload = () => {
    const { count } = JSON.parse(xhr.responseText);
    status.textContent = `uploaded ${count}`;
    status.dataset.count = String(count);
  };
  xhr.send(form);
}

/** A file input made by script and never attached to any document, as upload helpers do. */
function detachedInput(doc = document) {
  const input = doc.createElement("input");
  input.type = "file";
  input.accept = "image/*";
  input.multiple = true;
  input.addEventListener("change", (event) => {
    record(event, "input.files", input.files);
    xhrUpload(input.files);
  });
  return input;
}
