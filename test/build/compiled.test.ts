// The compiled agent: builds the host binary once with `bun build.ts --target host` and runs it from
// unrelated working directories, including one holding a hostile .env, .env.local, bunfig.toml (with a
// preload) and package.json, which a compiled Bun binary would pick up unless build.ts turns that off.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { Database } from "bun:sqlite";
import { join } from "node:path";
import { BYTECODE_ORDER, ROOT, compileBinary, hostTarget, readElfMachine, resolveVersion, runtimeFor } from "../../build.ts";

const BUILD_TIMEOUT_MS = 120_000;
const SEMVER = /^\d+\.\d+\.\d+(?:-[0-9A-Za-z.-]+)?(?:\+[0-9A-Za-z.-]+)?$/;

let work = "";
let bin = "";
let hostile = "";

/** A directory whose .env/bunfig.toml/package.json would change a binary that autoloads them. */
function makeHostileDir(dir: string): void {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, ".env"), "FOO=bar\nALPAMON_CONFIG=/nonexistent/hostile.conf\n");
  writeFileSync(join(dir, ".env.local"), "LOCAL=yes\n");
  writeFileSync(join(dir, ".env.production"), "PROD=yes\n");
  writeFileSync(join(dir, "bunfig.toml"), 'preload = ["./evil.ts"]\nlogLevel = "debug"\n');
  writeFileSync(join(dir, "evil.ts"), 'console.log("HOSTILE PRELOAD RAN");\n(globalThis as any).__HOSTILE_PRELOAD__ = true;\n');
  writeFileSync(join(dir, "package.json"), '{ "name": "hostile", "version": "6.6.6", "type": "commonjs" }\n');
}

/** The test runner's environment minus the variables the hostile files define. */
function cleanEnv(): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined) env[k] = v;
  for (const k of ["FOO", "LOCAL", "PROD", "ALPAMON_CONFIG"]) delete env[k];
  return env;
}

function run(exe: string, args: string[], cwd: string) {
  const proc = Bun.spawnSync([exe, ...args], { cwd, env: cleanEnv(), stdin: "ignore", stdout: "pipe", stderr: "pipe" });
  return { code: proc.exitCode, stdout: proc.stdout.toString(), stderr: proc.stderr.toString() };
}

/**
 * Writes `files` (name → source; the entry is probe.ts) into work/<name> and compiles probe.ts there with
 * build.ts's compileBinary. Returns the directory and the binary.
 */
async function compileProbe(name: string, files: Record<string, string>): Promise<{ dir: string; outfile: string }> {
  const dir = join(work, name);
  mkdirSync(dir, { recursive: true });
  for (const [file, source] of Object.entries(files)) writeFileSync(join(dir, file), source);
  const outfile = join(dir, "probe");
  const target = hostTarget();
  const runtime = await runtimeFor(target);
  await compileBinary({ entry: join(dir, "probe.ts"), outfile, target, version: resolveVersion(), executablePath: runtime.path });
  return { dir, outfile };
}

beforeAll(
  () => {
    work = mkdtempSync(join(tmpdir(), "alpamon-compiled-"));
    hostile = join(work, "hostile");
    makeHostileDir(hostile);
    const outdir = join(work, "dist");
    const build = Bun.spawnSync([process.execPath, join(ROOT, "build.ts"), "--target", "host", "--outdir", outdir], {
      cwd: ROOT,
      stdin: "ignore",
      stdout: "pipe",
      stderr: "pipe",
    });
    if (build.exitCode !== 0) {
      throw new Error(`build.ts --target host failed (${build.exitCode}):\n${build.stdout}\n${build.stderr}`);
    }
    bin = join(outdir, `alpamon-linux-${hostTarget().name}`);
  },
  { timeout: BUILD_TIMEOUT_MS },
);

afterAll(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

describe("compiled alpamon (host target)", () => {
  test("is an ELF for the host architecture", () => {
    expect(readElfMachine(bin)).toBe(hostTarget().elfMachine);
  });

  for (const args of [["version"], ["--version"]]) {
    test(`\`alpamon ${args.join(" ")}\` from / prints exactly "alpamon <semver>"`, () => {
      const r = run(bin, args, "/");
      expect(r.stderr).toBe("");
      expect(r.code).toBe(0);
      expect(r.stdout).toBe(`alpamon ${resolveVersion()}\n`);
      expect(r.stdout.trim().slice("alpamon ".length)).toMatch(SEMVER);
    });

    test(`\`alpamon ${args.join(" ")}\` ignores a hostile .env, bunfig.toml and package.json in its cwd`, () => {
      const r = run(bin, args, hostile);
      expect(r.stdout).not.toContain("HOSTILE");
      expect(r.stderr).toBe("");
      expect(r.code).toBe(0);
      expect(r.stdout).toBe(`alpamon ${resolveVersion()}\n`);
    });
  }

  test("--once --json from / and from the hostile directory: one object, migrations embedded", () => {
    for (const cwd of ["/", hostile]) {
      const dataDir = join(work, `state-${cwd === "/" ? "root" : "hostile"}`);
      const result = run(bin, ["--once", "--json", "--data-dir", dataDir], cwd);
      expect(result.stderr).toBe("");
      expect(result.code).toBe(0);
      expect(result.stdout).not.toContain("HOSTILE");
      const sample = JSON.parse(result.stdout);
      expect(Object.keys(sample)).toEqual(expect.arrayContaining(["timestamp", "cpu", "memory", "disk_usage", "disk_io", "traffic"]));
      expect(sample.cpu.usage).toBeGreaterThanOrEqual(0);
      expect(sample.cpu.usage).toBeLessThanOrEqual(100);
      // The binary carried its own migrations: the database it wrote has them and holds the sample.
      const db = new Database(join(dataDir, "alpamon.db"), { readonly: true });
      try {
        const ids = db.query("SELECT id FROM schema_migrations ORDER BY id").all() as { id: string }[];
        expect(ids.map((r) => r.id)).toContain("0000_metrics");
        const row = db.query("SELECT timestamp, usage FROM cpu_samples").get() as { timestamp: number; usage: number };
        expect(row.timestamp).toBe(Date.parse(sample.timestamp));
        expect(row.usage).toBe(sample.cpu.usage);
      } finally {
        db.close();
      }
    }
  });
});

// The version output alone cannot show whether .env was loaded, so a probe compiled with the very same
// options (build.ts's compileBinary) prints what it sees. A control compiled with autoloading left on
// proves the hostile directory is effective, so the negative result is not vacuous.
describe("build options stop .env and bunfig.toml autoloading", () => {
  const PROBE = [
    "const g = globalThis as any;",
    "console.log(JSON.stringify({ FOO: process.env.FOO ?? null, LOCAL: process.env.LOCAL ?? null,",
    "  PROD: process.env.PROD ?? null, preloaded: g.__HOSTILE_PRELOAD__ ?? null }));",
  ].join("\n");
  const NOTHING = { FOO: null, LOCAL: null, PROD: null, preloaded: null };

  async function buildProbe(name: string, autoload: boolean): Promise<string> {
    if (!autoload) return (await compileProbe(name, { "probe.ts": PROBE })).outfile;
    const dir = join(work, name);
    mkdirSync(dir, { recursive: true });
    const entry = join(dir, "probe.ts");
    writeFileSync(entry, PROBE);
    const outfile = join(dir, "probe");
    const target = hostTarget();
    const runtime = await runtimeFor(target);
    const result = await Bun.build({
      entrypoints: [entry],
      compile: { target: target.compileTarget, outfile, executablePath: runtime.path, autoloadDotenv: true, autoloadBunfig: true },
    });
    expect(result.success).toBe(true);
    return outfile;
  }

  test(
    "control: a binary built with autoloading on picks up the hostile directory",
    async () => {
      const probe = await buildProbe("probe-autoload", true);
      const r = run(probe, [], hostile);
      expect(r.code).toBe(0);
      expect(r.stdout).toContain("HOSTILE PRELOAD RAN");
      expect(r.stdout).toContain('"FOO":"bar"');
    },
    BUILD_TIMEOUT_MS,
  );

  test(
    "a binary built by compileBinary sees neither .env files nor the bunfig preload",
    async () => {
      const probe = await buildProbe("probe-alpamon", false);
      const r = run(probe, [], hostile);
      expect(r.stderr).toBe("");
      expect(r.code).toBe(0);
      expect(JSON.parse(r.stdout)).toEqual(NOTHING);
    },
    BUILD_TIMEOUT_MS,
  );
});

// The layout profile (packaging/bytecode-order.txt): a probe compiled with compileBinary reports, through bun:jsc,
// that its bytecode was laid out by an order file. A profile that went missing or stopped being passed fails here.
describe("the bytecode is laid out by the recorded profile", () => {
  test(
    "the profile is there, and a binary built by compileBinary was laid out by it",
    async () => {
      expect(readFileSync(BYTECODE_ORDER, "latin1").startsWith("v2\n")).toBe(true);
      const { dir, outfile } = await compileProbe("probe-order", {
        "probe.ts": 'import { bytecodeOrderStats } from "bun:jsc";\nconsole.log(JSON.stringify(bytecodeOrderStats()));\n',
      });
      const r = run(outfile, [], dir);
      expect(r.stderr).toBe("");
      const stats = JSON.parse(r.stdout) as { regions?: { hot: number } } | null;
      expect(stats).not.toBeNull();
      expect(stats!.regions).toBeDefined();
    },
    BUILD_TIMEOUT_MS,
  );
});

// The split (build.ts): a module reached only by a dynamic import is a chunk of its own, loaded when imported.
// A build as one bundle (CommonJS or one ES module) gives both modules the same URL, and fails here.
describe("the bundle is split at dynamic imports", () => {
  test(
    "a dynamically imported module is its own chunk, not run before it is imported",
    async () => {
      const { dir, outfile } = await compileProbe("probe-split", {
        "probe.ts": [
          "const before = (globalThis as { lazyRan?: boolean }).lazyRan === true;",
          'const { url } = await import("./lazy.ts");',
          "console.log(JSON.stringify({ entry: import.meta.url, lazy: url, before }));",
          "",
        ].join("\n"),
        "lazy.ts": "(globalThis as { lazyRan?: boolean }).lazyRan = true;\nexport const url = import.meta.url;\n",
      });
      const r = run(outfile, [], dir);
      expect(r.stderr).toBe("");
      const seen = JSON.parse(r.stdout) as { entry: string; lazy: string; before: boolean };
      expect(seen.before).toBe(false);
      expect(seen.entry).toStartWith("file:///$bunfs/");
      expect(seen.lazy).toStartWith("file:///$bunfs/");
      expect(seen.lazy).not.toBe(seen.entry);
    },
    BUILD_TIMEOUT_MS,
  );
});
