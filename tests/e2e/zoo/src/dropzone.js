// Dropzone: click opens its hidden <input> (kept on document.body, replaced after each
// pick), drop on the zone; the page wires paste to Dropzone's own `paste` method, which reads
// clipboard items the way it reads dropped ones.
import Dropzone from "dropzone";
import "dropzone/dist/dropzone.css";

import { failed, saw, uploaded } from "./zoo.js";

Dropzone.autoDiscover = false;
const dz = new Dropzone("#zone", {
  url: "/upload/dropzone",
  paramName: "photos",
  acceptedFiles: "image/*",
});

dz.on("addedfile", (file) => saw("addedfile", [file]));
dz.on("success", () => uploaded(1));
dz.on("error", (file, message) => failed("error", message));
document.addEventListener("paste", (event) => dz.paste(event));
