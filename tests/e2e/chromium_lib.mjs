// What the Chromium drivers (chromium.mjs, patterns_chromium.mjs, zoo/chromium.mjs) share.

import { chromium } from "playwright-core";

/**
 * Debian's Chromium, headless, with the unpacked extension in the persistent profile
 * (config: chromium, extension, profile). Origins in `secureOrigins` are secure contexts, as
 * the HTTPS sites they stand for are (pages get showOpenFilePicker there).
 */
export function launchChromium(config, { height = 700, secureOrigins = [] } = {}) {
  return chromium.launchPersistentContext(config.profile, {
    executablePath: config.chromium,
    headless: true,
    viewport: { width: 900, height },
    args: [
      `--disable-extensions-except=${config.extension}`,
      `--load-extension=${config.extension}`,
      "--no-sandbox",
      "--disable-gpu",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      "--no-first-run",
      "--host-resolver-rules=MAP *.test 127.0.0.1",
      "--disable-features=HttpsUpgrades,HttpsFirstBalancedModeAutoEnable",
      ...(secureOrigins.length ? [`--unsafely-treat-insecure-origin-as-secure=${secureOrigins.join(",")}`] : []),
    ],
  });
}
