// FilePond: browse label, drop on the pond, paste anywhere on the page; uploads each file
// as soon as it is added (its own XHR to the server's process endpoint).
import * as FilePond from "filepond";
import "filepond/dist/filepond.min.css";

import { failed, saw, uploaded } from "./zoo.js";

const pond = FilePond.create(document.getElementById("pond"), {
  allowMultiple: true,
  allowPaste: true,
  instantUpload: true,
  server: { process: { url: "/upload/filepond", method: "POST" } },
});

pond.on("addfile", (err, item) => (err ? failed("addfile", err.body || err) : saw("addfile", [item.file])));
pond.on("processfile", (err) => (err ? failed("processfile", err.body || err) : uploaded(1)));
