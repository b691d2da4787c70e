// Builds the extension for each browser from the one source tree: a loadable folder
// (src/ + that browser's manifest as manifest.json) and a packed archive (.zip for Chrome,
// .xpi for Firefox; both are plain zip files).
//
//   node extension/build.mjs [--out DIR] [--browser chrome|firefox] [--no-pack]
//                            [--extra-host-permission PATTERN]...
//
// --extra-host-permission adds a pattern to host_permissions; the end-to-end tests use it to
// grant the local test site up front, as a default site is (a test cannot click the
// browser's permission prompt). Release builds never use it.

import { mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { crc32, deflateRawSync } from "node:zlib";

const HERE = dirname(fileURLToPath(import.meta.url));
const SRC = join(HERE, "src");
const BROWSERS = ["chrome", "firefox"];
const ARCHIVE_EXT = { chrome: "zip", firefox: "xpi" };

function parseArgs(argv) {
  const opts = { out: resolve(HERE, "..", "build", "extension"), browsers: BROWSERS, pack: true, extra: [] };
  for (let i = 0; i < argv.length; i += 1) {
    const arg = argv[i];
    if (arg === "--out") opts.out = resolve(argv[(i += 1)]);
    else if (arg === "--browser") opts.browsers = [argv[(i += 1)]];
    else if (arg === "--no-pack") opts.pack = false;
    else if (arg === "--extra-host-permission") opts.extra.push(argv[(i += 1)]);
    else throw new Error(`unknown argument ${arg}`);
  }
  for (const b of opts.browsers) if (!BROWSERS.includes(b)) throw new Error(`unknown browser ${b}`);
  return opts;
}

function listFiles(dir) {
  return readdirSync(dir)
    .sort()
    .flatMap((name) => {
      const path = join(dir, name);
      return statSync(path).isDirectory() ? listFiles(path) : [path];
    });
}

/** A zip archive (deflate, fixed timestamp so builds are reproducible) of {name: Buffer}. */
export function zip(entries) {
  const locals = [];
  const centrals = [];
  let offset = 0;
  const DOS_TIME = 0; // 00:00:00
  const DOS_DATE = (1 << 5) | 1; // 1980-01-01
  for (const [name, data] of entries) {
    const nameBuf = Buffer.from(name, "utf8");
    const packed = deflateRawSync(data, { level: 9 });
    const crc = crc32(data);
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(20, 4);
    local.writeUInt16LE(0x0800, 6); // UTF-8 names
    local.writeUInt16LE(8, 8); // deflate
    local.writeUInt16LE(DOS_TIME, 10);
    local.writeUInt16LE(DOS_DATE, 12);
    local.writeUInt32LE(crc, 14);
    local.writeUInt32LE(packed.length, 18);
    local.writeUInt32LE(data.length, 22);
    local.writeUInt16LE(nameBuf.length, 26);
    const central = Buffer.alloc(46);
    central.writeUInt32LE(0x02014b50, 0);
    central.writeUInt16LE(20, 4);
    central.writeUInt16LE(20, 6);
    central.writeUInt16LE(0x0800, 8);
    central.writeUInt16LE(8, 10);
    central.writeUInt16LE(DOS_TIME, 12);
    central.writeUInt16LE(DOS_DATE, 14);
    central.writeUInt32LE(crc, 16);
    central.writeUInt32LE(packed.length, 20);
    central.writeUInt32LE(data.length, 24);
    central.writeUInt16LE(nameBuf.length, 28);
    central.writeUInt32LE(offset, 42);
    locals.push(local, nameBuf, packed);
    centrals.push(central, nameBuf);
    offset += local.length + nameBuf.length + packed.length;
  }
  const centralBuf = Buffer.concat(centrals);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(entries.length, 8);
  end.writeUInt16LE(entries.length, 10);
  end.writeUInt32LE(centralBuf.length, 12);
  end.writeUInt32LE(offset, 16);
  return Buffer.concat([...locals, centralBuf, end]);
}

/** Build one browser's folder (and archive); returns {dir, archive}. */
export function buildOne(browser, { out, pack = true, extra = [] }) {
  const manifest = JSON.parse(readFileSync(join(HERE, "manifests", `${browser}.json`), "utf8"));
  manifest.host_permissions = [...new Set([...manifest.host_permissions, ...extra])];
  const dir = join(out, browser);
  rmSync(dir, { recursive: true, force: true });
  const entries = [["manifest.json", Buffer.from(`${JSON.stringify(manifest, null, 2)}\n`)]];
  for (const path of listFiles(SRC)) entries.push([relative(SRC, path).split("\\").join("/"), readFileSync(path)]);
  for (const [name, data] of entries) {
    mkdirSync(dirname(join(dir, name)), { recursive: true });
    writeFileSync(join(dir, name), data);
  }
  let archive = null;
  if (pack) {
    archive = join(out, `cloaker-${browser}-${manifest.version}.${ARCHIVE_EXT[browser]}`);
    writeFileSync(archive, zip(entries));
  }
  return { dir, archive };
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const opts = parseArgs(process.argv.slice(2));
  for (const browser of opts.browsers) {
    const { dir, archive } = buildOne(browser, opts);
    console.log(`${browser}: ${dir}${archive ? ` and ${archive}` : ""}`);
  }
}
