// Uppy: Dashboard (browse button, drop anywhere on it, paste into it) and XHR upload.
import Uppy from "@uppy/core";
import Dashboard from "@uppy/dashboard";
import XHRUpload from "@uppy/xhr-upload";
import "@uppy/core/css/style.min.css";
import "@uppy/dashboard/css/style.min.css";

import { failed, saw, uploaded } from "./zoo.js";

const uppy = new Uppy({ autoProceed: true, restrictions: { allowedFileTypes: ["image/*"] } })
  .use(Dashboard, {
    inline: true,
    target: "#app",
    height: 380,
    width: "100%",
    proudlyDisplayPoweredByUppy: false,
  })
  .use(XHRUpload, { endpoint: "/upload/uppy", fieldName: "photos", formData: true });

uppy.on("file-added", (file) => saw("file-added", [file.data]));
uppy.on("upload-success", () => uploaded(1));
uppy.on("upload-error", (file, err) => failed("upload-error", err));
uppy.on("restriction-failed", (file, err) => failed("restriction-failed", err));
