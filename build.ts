// build.ts: compiles src/main.ts into standalone alpamon binaries (linux x64/arm64, glibc) plus SHA256SUMS in
// dist/; with --release also SHA256SUMS.sig (Ed25519, key from the environment) and install.sh with the keys.
// Cross-target Bun runtimes come from the npm registry (`npm pack`), checked against package-lock.json.
// Usage: bun build.ts [--target all|host|x64|arm64[,...]] [--outdir DIR] [--release [--keys-dir DIR]]
// (env ALPAMON_VERSION overrides the version; ALPAMON_SIGNING_KEY_FILE / ALPAMON_SIGNING_KEY sign releases).
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, readSync, closeSync } from "node:fs";
import { renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import type { SyncSubprocess } from "bun";
import { basename, join, relative } from "node:path";
import { parseArgs } from "node:util";
import { releaseSigner, signRelease } from "./packaging/release.ts";

export interface Target {
  /** Short name used on the command line and in the file name: alpamon-linux-<name>. */
  name: "x64" | "arm64";
  /** Bun's compile target (glibc). */
  compileTarget: "bun-linux-x64" | "bun-linux-arm64";
  /** The npm package that carries this target's Bun runtime as package/bin/bun. */
  npmPackage: string;
  /** ELF e_machine of binaries for this target. */
  elfMachine: number;
}

export const TARGETS: Record<Target["name"], Target> = {
  x64: { name: "x64", compileTarget: "bun-linux-x64", npmPackage: "@oven/bun-linux-x64", elfMachine: 0x3e },
  arm64: { name: "arm64", compileTarget: "bun-linux-arm64", npmPackage: "@oven/bun-linux-aarch64", elfMachine: 0xb7 },
};

export const ROOT = import.meta.dir;
export const ENTRY = join(ROOT, "src", "main.ts");
const CACHE_DIR = process.env.ALPAMON_BUILD_CACHE || join(ROOT, "node_modules", ".cache", "alpamon-build");
const SEMVER = /^\d+\.\d+\.\d+(?:-[0-9A-Za-z.-]+)?(?:\+[0-9A-Za-z.-]+)?$/;

function readJson<T>(path: string): T {
  return JSON.parse(readFileSync(path, "utf8")) as T;
}

/** The version to stamp in: $ALPAMON_VERSION (a leading "v" is dropped) or package.json's. */
export function resolveVersion(env: Record<string, string | undefined> = process.env): string {
  const override = env.ALPAMON_VERSION?.trim();
  const version = override ? override.replace(/^v/, "") : String(readJson<{ version?: unknown }>(join(ROOT, "package.json")).version);
  if (!SEMVER.test(version)) throw new Error(`version ${JSON.stringify(version)} is not semver (x.y.z[-pre][+build])`);
  return version;
}

/** The Bun version package.json pins as a devDependency; the bundler and every runtime must match it. */
export function pinnedBunVersion(): string {
  const pinned = String(readJson<{ devDependencies?: Record<string, unknown> }>(join(ROOT, "package.json")).devDependencies?.bun ?? "");
  if (!/^\d+\.\d+\.\d+$/.test(pinned)) throw new Error(`package.json must pin devDependencies.bun exactly, got ${JSON.stringify(pinned)}`);
  return pinned;
}

/** The target this machine can run, or an error on anything but linux x64/arm64. */
export function hostTarget(): Target {
  if (process.platform !== "linux") throw new Error(`host platform ${process.platform} is not linux`);
  if (process.arch === "x64" || process.arch === "arm64") return TARGETS[process.arch];
  throw new Error(`host architecture ${process.arch} is not x64 or arm64`);
}

/** e_machine of a 64-bit little-endian ELF file (0x3E x86-64, 0xB7 aarch64); throws if it is not one. */
export function readElfMachine(path: string): number {
  const header = Buffer.alloc(20);
  const fd = openSync(path, "r");
  try {
    if (readSync(fd, header, 0, 20, 0) < 20) throw new Error(`${path}: too short for an ELF header`);
  } finally {
    closeSync(fd);
  }
  if (header.readUInt32BE(0) !== 0x7f454c46) throw new Error(`${path}: not an ELF file`);
  if (header[4] !== 2 || header[5] !== 1) throw new Error(`${path}: not a 64-bit little-endian ELF file`);
  return header.readUInt16LE(18);
}

async function fileDigest(path: string, algorithm: "sha256" | "sha512", encoding: "hex" | "base64"): Promise<string> {
  const hash = createHash(algorithm);
  for await (const chunk of Bun.file(path).stream()) hash.update(chunk);
  return hash.digest(encoding);
}

/** The integrity (sha512-…) package-lock.json records for an npm package at a version, if any. */
function lockedIntegrity(pkgName: string, version: string): string | undefined {
  const lockPath = join(ROOT, "package-lock.json");
  if (!existsSync(lockPath)) return undefined;
  const entry = readJson<{ packages?: Record<string, { version?: unknown; integrity?: unknown } | undefined> }>(lockPath).packages?.[
    `node_modules/${pkgName}`
  ];
  return entry?.version === version && typeof entry.integrity === "string" ? entry.integrity : undefined;
}

function run(cmd: string[], cwd: string): string {
  let proc: SyncSubprocess<"pipe", "pipe">;
  try {
    proc = Bun.spawnSync(cmd, { cwd, stdin: "ignore", stdout: "pipe", stderr: "pipe" });
  } catch (err) {
    throw new Error(`cannot run ${cmd[0]}: ${(err as Error).message}`);
  }
  if (proc.exitCode !== 0) {
    throw new Error(`${cmd.join(" ")} failed (exit ${proc.exitCode}):\n${proc.stderr.toString().trim()}`);
  }
  return proc.stdout.toString();
}

/**
 * Fetches a target's Bun runtime from the npm registry (`npm pack`, so .npmrc registry settings apply),
 * verifies the tarball against package-lock.json (or npm's own integrity if the lock lacks it) and caches
 * package/bin/bun. Returns the runtime's path and whether it came from the cache.
 */
export async function fetchRuntime(target: Target, cacheDir = CACHE_DIR): Promise<{ path: string; cached: boolean }> {
  const version = pinnedBunVersion();
  const spec = `${target.npmPackage}@${version}`;
  const dir = join(cacheDir, `${basename(target.npmPackage)}-${version}`);
  const bin = join(dir, "bun");
  const marker = join(dir, "integrity");
  const expected = lockedIntegrity(target.npmPackage, version);
  if (existsSync(bin) && existsSync(marker)) {
    const recorded = readFileSync(marker, "utf8").trim();
    if (!expected || recorded === expected) return { path: bin, cached: true };
  }

  mkdirSync(cacheDir, { recursive: true });
  const tmp = mkdtempSync(join(cacheDir, ".fetch-"));
  try {
    const out = run(["npm", "pack", spec, "--json", "--ignore-scripts", "--pack-destination", tmp], ROOT);
    const packed = JSON.parse(out.slice(out.indexOf("[")))[0] as { filename: string; integrity: string };
    const tarball = join(tmp, packed.filename);
    const actual = `sha512-${await fileDigest(tarball, "sha512", "base64")}`;
    const want = expected ?? packed.integrity;
    if (actual !== want) throw new Error(`${spec}: tarball integrity ${actual} does not match ${want}`);
    run(["tar", "-xzf", tarball, "-C", tmp, "package/bin/bun"], ROOT);
    const extracted = join(tmp, "package", "bin", "bun");
    const machine = readElfMachine(extracted);
    if (machine !== target.elfMachine) throw new Error(`${spec}: runtime e_machine 0x${machine.toString(16)}`);
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir, { recursive: true });
    renameSync(extracted, bin);
    writeFileSync(marker, `${actual}\n`);
    return { path: bin, cached: false };
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

/** The Bun runtime to embed for a target: this very bun on the host architecture, else one from npm. */
export async function runtimeFor(target: Target, cacheDir = CACHE_DIR): Promise<{ path: string; cached: boolean }> {
  const pinned = pinnedBunVersion();
  if (Bun.version !== pinned) {
    throw new Error(`build.ts runs on Bun ${Bun.version} but package.json pins ${pinned}; use node_modules/.bin/bun (npm run build)`);
  }
  if (process.platform === "linux" && process.arch === target.name) return { path: process.execPath, cached: true };
  return fetchRuntime(target, cacheDir);
}

/**
 * The profile the bundle's bytecode is laid out by (Bun's `bytecodeOrder`; bench/bytecode-order.ts records it): the
 * functions the idle agent runs lie together at the front, so it touches about 2 MB fewer of the bundle's pages
 * (BENCHMARKS.md, "Round 5"). A build without the file lays the bytecode out as Bun does by default.
 */
export const BYTECODE_ORDER = join(ROOT, "packaging", "bytecode-order.txt");

export interface CompileRequest {
  entry: string;
  outfile: string;
  target: Target;
  version: string;
  /** The target's Bun runtime (from runtimeFor). */
  executablePath: string;
}

/**
 * Compiles one entry point into a standalone executable with the options every alpamon binary uses:
 * minified, version defined, and no autoloading of .env, bunfig.toml, tsconfig.json or package.json from
 * the working directory at run time (a root agent must not take settings from wherever it is started).
 * With JSC bytecode compiled in: each start skips parsing the bundle (`--version` 74 → 21 ms; every file
 * transfer and tunnel starts a process), and the idle agent holds about 1.4 MB less RssAnon for the same CPU
 * and about 1 MB more RSS in file pages (BENCHMARKS.md, "Idle agent, round 2"). Bundled as ES modules split
 * into chunks at every dynamic import: a process loads only the chunks its path imports (the service never
 * loads the setup, register, worker, relay or collector code, nor a command family before its first command),
 * and JSC lets go of each module's top-level code once it has run. Against one CommonJS bundle (which round 3
 * chose over one ES module, whose single record held a binding for every top-level declaration of the whole
 * bundle): 0.2-0.3 MB less idle RssAnon at the same CPU, and shorter starts (BENCHMARKS.md, "Round 8").
 */
export async function compileBinary(req: CompileRequest): Promise<void> {
  const result = await Bun.build({
    entrypoints: [req.entry],
    minify: true,
    bytecode: true,
    format: "esm",
    splitting: true,
    define: { ALPAMON_VERSION: JSON.stringify(req.version) },
    compile: {
      target: req.target.compileTarget,
      outfile: req.outfile,
      executablePath: req.executablePath,
      autoloadDotenv: false,
      autoloadBunfig: false,
      autoloadTsconfig: false,
      autoloadPackageJson: false,
      bytecodeOrder: existsSync(BYTECODE_ORDER) && BYTECODE_ORDER,
    },
    throw: false,
  });
  if (!result.success) {
    throw new Error(`compiling ${req.entry} for ${req.target.compileTarget} failed:\n${result.logs.join("\n")}`);
  }
}

export interface BuiltBinary {
  target: Target;
  path: string;
  size: number;
  sha256: string;
  seconds: number;
  runtime: string;
}

/**
 * Builds alpamon for one target into outdir/alpamon-linux-<name>: compiles to a temporary name, checks the
 * ELF machine, that the app was appended to the runtime, and (host architecture only) that it runs and
 * prints its version, then renames it into place (so a running old binary is never overwritten in place).
 */
export async function buildTarget(target: Target, outdir: string, version: string, cacheDir = CACHE_DIR): Promise<BuiltBinary> {
  const started = performance.now();
  const runtime = await runtimeFor(target, cacheDir);
  const path = join(outdir, `alpamon-linux-${target.name}`);
  // Same file name in a scratch dir: the name is embedded (/$bunfs/root/<name>), so builds stay reproducible.
  mkdirSync(outdir, { recursive: true });
  const scratch = mkdtempSync(join(outdir, ".build-"));
  const tmp = join(scratch, basename(path));
  try {
    await compileBinary({ entry: ENTRY, outfile: tmp, target, version, executablePath: runtime.path });
    const machine = readElfMachine(tmp);
    if (machine !== target.elfMachine) {
      throw new Error(`${tmp}: e_machine 0x${machine.toString(16)}, expected 0x${target.elfMachine.toString(16)}`);
    }
    if (statSync(tmp).size <= statSync(runtime.path).size) throw new Error(`${tmp}: no application embedded`);
    if (process.arch === target.name) {
      const out = run([tmp, "version"], "/").trim();
      if (out !== `alpamon ${version}`) throw new Error(`${tmp} version printed ${JSON.stringify(out)}`);
    }
    renameSync(tmp, path);
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
  const size = statSync(path).size;
  const sha256 = await fileDigest(path, "sha256", "hex");
  const runtimeNote = runtime.path === process.execPath ? "this bun" : runtime.cached ? "cached npm" : "fetched from npm";
  return { target, path, size, sha256, seconds: (performance.now() - started) / 1000, runtime: runtimeNote };
}

/** Writes outdir/SHA256SUMS for the given binaries in sha256sum format (`<hex>  <file name>`). */
export function writeChecksums(outdir: string, built: BuiltBinary[]): string {
  const path = join(outdir, "SHA256SUMS");
  const body = built.map((b) => `${b.sha256}  ${basename(b.path)}\n`).join("");
  writeFileSync(`${path}.tmp-${process.pid}`, body);
  renameSync(`${path}.tmp-${process.pid}`, path);
  return path;
}

/** Parses the --target value: all (default), host, or a comma-separated list of x64/arm64. */
export function parseTargets(value: string | undefined): Target[] {
  const names = (value ?? "all")
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean);
  const picked = new Map<string, Target>();
  for (const name of names) {
    if (name === "all") for (const t of Object.values(TARGETS)) picked.set(t.name, t);
    else if (name === "host") picked.set(hostTarget().name, hostTarget());
    else if (name === "x64" || name === "arm64") picked.set(name, TARGETS[name]);
    else throw new Error(`unknown target ${JSON.stringify(name)} (want all, host, x64 or arm64)`);
  }
  if (picked.size === 0) throw new Error("no target given");
  return [...picked.values()];
}

async function main(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      target: { type: "string" },
      outdir: { type: "string" },
      release: { type: "boolean" },
      "keys-dir": { type: "string" },
      help: { type: "boolean", short: "h" },
    },
    strict: true,
  });
  if (values.help) {
    console.log("usage: bun build.ts [--target all|host|x64|arm64[,...]] [--outdir DIR] [--release [--keys-dir DIR]]");
    console.log(
      "  env ALPAMON_VERSION overrides the version; --release signs SHA256SUMS with ALPAMON_SIGNING_KEY_FILE or ALPAMON_SIGNING_KEY",
    );
    return 0;
  }
  const started = performance.now();
  const targets = parseTargets(values.target);
  const releaseOptions = values["keys-dir"] ? { keysDir: values["keys-dir"] } : {};
  if (values.release) releaseSigner(releaseOptions); // fail before a long build, not after it
  const outdir = values.outdir ?? join(ROOT, "dist");
  const version = resolveVersion();
  console.log(`building alpamon ${version} with Bun ${Bun.version} for ${targets.map((t) => t.compileTarget).join(", ")}`);
  const built: BuiltBinary[] = [];
  for (const target of targets) {
    const b = await buildTarget(target, outdir, version);
    built.push(b);
    const shown = (relative(process.cwd(), b.path) || b.path).padEnd(28);
    console.log(`  ${shown} ${b.size.toLocaleString("en-US").padStart(13)} B  ${b.seconds.toFixed(1)} s  (runtime: ${b.runtime})`);
  }
  const sums = writeChecksums(outdir, built);
  console.log(`  ${relative(process.cwd(), sums) || sums}`);
  if (values.release) {
    const { sig, installer } = signRelease(outdir, releaseOptions);
    console.log(`  ${relative(process.cwd(), sig) || sig}, ${relative(process.cwd(), installer) || installer}`);
  }
  console.log(`done in ${((performance.now() - started) / 1000).toFixed(1)} s`);
  return 0;
}

if (import.meta.main) {
  try {
    process.exitCode = await main(process.argv.slice(2));
  } catch (err) {
    console.error(`build failed: ${(err as Error).message}`);
    process.exitCode = 1;
  }
}
