// The test site's own page code, written the way real sites write theirs: it records what
// its listeners saw (window.seen, for the tests) and uploads with fetch(FormData).

window.seen = [];

function describeFiles(files) {
  return Array.from(files || [], (f) => ({ name: f.name, type: f.type, size: f.size }));
}

/** Remember that a page listener saw `files` in an event. */
function record(event, files) {
  window.seen.push({ type: event.type, trusted: event.isTrusted, files: describeFiles(files) });
  const log = document.getElementById("log");
  if (log) log.textContent += `${event.type}: ${describeFiles(files).map((f) => `${f.name} (${f.size} B)`).join(", ")}\n`;
}

/** Upload files with fetch(FormData), as script-driven apps do; shows the outcome in #status. */
async function upload(flow, files) {
  const form = new FormData();
  for (const file of files) form.append("photos", file, file.name);
  const status = document.getElementById("status");
  status.textContent = "uploading…";
  const response = await fetch(`/upload/${flow}`, { method: "POST", body: form });
  const reply = await response.json();
  status.textContent = `uploaded ${reply.count}`;
  status.dataset.count = String(reply.count);
}
