// The cache of the daemon's settings and of the helper's status, kept current by the daemon's
// pushes and mirrored into storage.local, where the content scripts, the popup and the
// options page read it (and where it survives a service-worker restart).
//
// storage.local keys: "settings" ({version, protection, mode, sites: [{host, enabled}]}) and
// "helper" ({connection, state, device, version, limits, error, jobs}).

import { DEFAULT_SETTINGS } from "../shared/defaults.js";

function validSettings(s) {
  return Boolean(
    s && typeof s.protection === "boolean" && typeof s.mode === "string" && Array.isArray(s.sites),
  );
}

export class SettingsCache {
  constructor({ storage, onChange = () => {} }) {
    this._storage = storage;
    this._onChange = onChange;
    this.settings = DEFAULT_SETTINGS;
    this.known = false; // true once the daemon (now or in an earlier session) has told us
    this.helper = {
      connection: "disconnected",
      state: null,
      device: null,
      version: null,
      limits: null,
      error: null,
      jobs: 0,
    };
  }

  /** Load what an earlier session stored. */
  async load() {
    const { settings } = await this._storage.get("settings");
    if (validSettings(settings)) {
      this.settings = settings;
      this.known = true;
    }
    await this._storage.set({ settings: this.settings, helper: this.helper });
    this._onChange(this);
  }

  /** Replace the settings with what the daemon sent (settings.get / settings.set / push). */
  async setSettings(data) {
    if (!validSettings(data)) return;
    this.settings = { version: data.version, protection: data.protection, mode: data.mode, sites: data.sites };
    this.known = true;
    await this._storage.set({ settings: this.settings });
    this._onChange(this);
  }

  /** Merge fields into the helper status (connection, state, device, ...). */
  async setHelper(fields) {
    this.helper = { ...this.helper, ...fields };
    await this._storage.set({ helper: this.helper });
    this._onChange(this);
  }
}
