// Requests from the extension's own pages (popup, options) via runtime.sendMessage:
//
//   {type: "state"}                  -> {settings, known, helper}
//   {type: "refresh"}                -> the same, after asking the helper for status and settings
//   {type: "settings.set", data}     -> {settings} (the daemon's reply), or {error: {code, message}}
//   {type: "inject", tabId}          -> {} once the content script runs in that tab
//
// Content scripts cannot use this channel: the sender must be an extension page.

import { RequestError } from "./errors.js";
import { injectNow } from "./registration.js";

export class PageApi {
  constructor({ transport, cache, refresh, scripting, extensionOrigin }) {
    this._transport = transport;
    this._cache = cache;
    this._refresh = refresh;
    this._scripting = scripting;
    this._origin = extensionOrigin;
  }

  /** runtime.onMessage listener (returns true to answer asynchronously). */
  listener = (message, sender, reply) => {
    if (!sender?.url?.startsWith(this._origin)) return false;
    this._handle(message).then(reply, (err) => {
      const error = err instanceof RequestError ? err : new RequestError("internal", String(err));
      reply({ error: { code: error.code, message: error.message } });
    });
    return true;
  };

  _state() {
    return { settings: this._cache.settings, known: this._cache.known, helper: this._cache.helper };
  }

  async _handle(message) {
    switch (message?.type) {
      case "state":
        return this._state();
      case "refresh":
        await this._refresh();
        return this._state();
      case "settings.set": {
        const { message: reply } = await this._transport.call("settings.set", message.data);
        await this._cache.setSettings(reply.data);
        return { settings: this._cache.settings };
      }
      case "inject":
        await injectNow(this._scripting, message.tabId);
        return {};
      default:
        throw new RequestError("unknown_type", `unknown request ${message?.type}`);
    }
  }
}
