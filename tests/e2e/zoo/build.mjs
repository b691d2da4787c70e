// Builds the upload-widget zoo: bundles each page's script (and the CSS its library ships)
// with esbuild from node_modules, offline, and copies the pages next to the bundles.
//
//   node tests/e2e/zoo/build.mjs OUT_DIR
//
// The bundles are not committed: they are about 1 MB of third-party code, derived from the
// versions package-lock.json pins, and build in about a second. The browser tests build
// them into a temporary folder (tests/e2e/zoo_harness.py), so `make test` stays one command.

import { cpSync, mkdirSync, readdirSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

import { build } from "esbuild";

const HERE = dirname(fileURLToPath(import.meta.url));
const out = process.argv[2];
if (!out) {
  console.error("usage: node tests/e2e/zoo/build.mjs OUT_DIR");
  process.exit(2);
}
const outdir = resolve(out);
mkdirSync(outdir, { recursive: true });

const ENTRIES = ["react-dropzone.jsx", "uppy.js", "filepond.js", "dropzone.js", "fs-access.js", "entries.js"];

await build({
  entryPoints: ENTRIES.map((name) => join(HERE, "src", name)),
  outdir,
  bundle: true,
  format: "iife",
  target: "es2022",
  minify: true,
  jsx: "automatic",
  define: { "process.env.NODE_ENV": '"production"' },
  loader: { ".svg": "dataurl", ".png": "dataurl", ".woff": "dataurl", ".woff2": "dataurl" },
  logLevel: "warning",
});
for (const name of readdirSync(join(HERE, "pages"))) cpSync(join(HERE, "pages", name), join(outdir, name));
console.log(`zoo built in ${outdir}`);
