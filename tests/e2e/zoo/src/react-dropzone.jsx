// react-dropzone: a drop zone that opens the file dialog on click. Its pages differ only in
// `useFsAccessApi`: with it, a click calls window.showOpenFilePicker where the browser has it
// (Chromium, secure contexts) and reads the handles' files; without it, a hidden <input>.
import { useCallback } from "react";
import { createRoot } from "react-dom/client";
import { useDropzone } from "react-dropzone";

import { failed, post, saw } from "./zoo.js";

const widget = document.body.dataset.widget;
const useFsAccessApi = document.body.dataset.fsAccess === "true";

function Zone() {
  const onDrop = useCallback(async (accepted) => {
    try {
      await saw("onDrop", accepted);
      await post(widget, accepted);
    } catch (err) {
      failed("upload", err);
    }
  }, []);
  const onError = useCallback((err) => failed("react-dropzone", err), []);
  const { getRootProps, getInputProps, isDragActive } = useDropzone({
    onDrop,
    onError,
    accept: { "image/*": [] },
    useFsAccessApi,
  });
  return (
    <div {...getRootProps({ id: "zone", className: isDragActive ? "zone active" : "zone" })}>
      <input {...getInputProps()} />
      <p>Drop photos here, or click to choose</p>
    </div>
  );
}

createRoot(document.getElementById("app")).render(<Zone />);
