// A drop zone that reads dropped files only through DataTransferItem.webkitGetAsEntry(), as
// folder-aware upload helpers do: a file entry's file(), a folder's readEntries(), and
// nothing else (an item without an entry is skipped, as those helpers skip it).
import { failed, post, saw } from "./zoo.js";

const zone = document.getElementById("zone");

function fileOf(entry) {
  return new Promise((resolve, reject) => entry.file(resolve, reject));
}

async function filesIn(entry) {
  if (entry.isFile) return [await fileOf(entry)];
  const reader = entry.createReader();
  const out = [];
  for (;;) {
    const batch = await new Promise((resolve, reject) => reader.readEntries(resolve, reject));
    if (batch.length === 0) return out;
    for (const child of batch) out.push(...(await filesIn(child)));
  }
}

zone.addEventListener("dragover", (event) => event.preventDefault());
zone.addEventListener("drop", async (event) => {
  event.preventDefault();
  // Entries must be taken while the event is dispatched; they are read afterwards.
  const entries = Array.from(event.dataTransfer.items, (item) => item.webkitGetAsEntry());
  const usable = entries.filter(Boolean);
  if (usable.length < entries.length) {
    failed("drop", `webkitGetAsEntry() gave ${usable.length} entries for ${entries.length} items`);
  }
  try {
    const files = (await Promise.all(usable.map(filesIn))).flat();
    if (files.length === 0) return;
    await saw("entries", files);
    await post("entries", files);
  } catch (err) {
    failed("entries", err);
  }
});
