// The error value that every failed request carries, from the transport up to the page.
// `code` is a protocol error name (PROTOCOL.md, "Error codes") or one of the extension's own:
// "timeout" (no word from the helper in time), "disconnected" (the native port closed),
// "not_connected" (the helper could not be started), "transfer_error" (bad chunks).

export class RequestError extends Error {
  constructor(code, message) {
    super(message);
    this.name = "RequestError";
    this.code = code;
  }
}

/** A RequestError from a protocol `error` message's data ({code, name, message}). */
export function fromProtocolError(data) {
  const name = typeof data?.name === "string" ? data.name : "internal";
  const message = typeof data?.message === "string" ? data.message : "unknown error";
  return new RequestError(name, message);
}
