// browser-fs-access `fileOpen`: window.showOpenFilePicker where the browser has it (Chromium,
// secure contexts), else an <input> it creates, appends, opens with showPicker() and
// removes after `change`. The app then posts the files it got.
import { fileOpen } from "browser-fs-access";

import { failed, post, saw } from "./zoo.js";

document.getElementById("open").addEventListener("click", async () => {
  try {
    const files = await fileOpen({ mimeTypes: ["image/*"], multiple: true, description: "Photos" });
    await saw("fileOpen", files);
    await post("fsaccess", files);
  } catch (err) {
    failed("fileOpen", err);
  }
});
