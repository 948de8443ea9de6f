// The release build: `bun build.ts` for every target (the arm64 runtime comes from the npm registry),
// checked for ELF machine, SHA256SUMS and reproducibility; plus build.ts's version and target parsing.
// Needs the npm registry on the first run; later runs use node_modules/.cache/alpamon-build.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ROOT, TARGETS, hostTarget, parseTargets, readElfMachine, resolveVersion } from "../../build.ts";

const BUILD_TIMEOUT_MS = 300_000;

let work = "";
let outdir = "";

function buildInto(dir: string, ...args: string[]) {
  const proc = Bun.spawnSync([process.execPath, join(ROOT, "build.ts"), "--outdir", dir, ...args], {
    cwd: ROOT,
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe",
  });
  return { code: proc.exitCode, stdout: proc.stdout.toString(), stderr: proc.stderr.toString() };
}

function sha256(path: string): string {
  return createHash("sha256").update(readFileSync(path)).digest("hex");
}

beforeAll(
  () => {
    work = mkdtempSync(join(tmpdir(), "alpamon-release-"));
    outdir = join(work, "dist");
    const r = buildInto(outdir);
    if (r.code !== 0) throw new Error(`bun build.ts failed (${r.code}):\n${r.stdout}\n${r.stderr}`);
  },
  { timeout: BUILD_TIMEOUT_MS },
);

afterAll(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

describe("bun build.ts (all targets)", () => {
  test("writes exactly the two binaries and SHA256SUMS, leaving no scratch files", () => {
    expect(readdirSync(outdir).sort()).toEqual(["SHA256SUMS", "alpamon-linux-arm64", "alpamon-linux-x64"]);
  });

  test("alpamon-linux-x64 is an x86-64 ELF and alpamon-linux-arm64 an aarch64 ELF", () => {
    expect(readElfMachine(join(outdir, "alpamon-linux-x64"))).toBe(0x3e);
    expect(readElfMachine(join(outdir, "alpamon-linux-arm64"))).toBe(0xb7);
  });

  test("SHA256SUMS is in sha256sum format and matches the files", () => {
    const lines = readFileSync(join(outdir, "SHA256SUMS"), "utf8").split("\n");
    expect(lines.pop()).toBe("");
    expect(lines).toHaveLength(2);
    const names: string[] = [];
    for (const line of lines) {
      const m = /^([0-9a-f]{64}) {2}(alpamon-linux-(?:x64|arm64))$/.exec(line);
      expect(m).not.toBeNull();
      expect(sha256(join(outdir, m![2]!))).toBe(m![1]!);
      names.push(m![2]!);
    }
    expect(names.sort()).toEqual(["alpamon-linux-arm64", "alpamon-linux-x64"]);
  });

  test("the host binary prints its version", () => {
    const bin = join(outdir, `alpamon-linux-${hostTarget().name}`);
    const r = Bun.spawnSync([bin, "version"], { cwd: "/", stdin: "ignore", stdout: "pipe", stderr: "pipe" });
    expect(r.exitCode).toBe(0);
    expect(r.stdout.toString()).toBe(`alpamon ${resolveVersion()}\n`);
  });

  test(
    "the build is reproducible: a second host build is byte-identical",
    () => {
      const again = join(work, "again");
      const r = buildInto(again, "--target", "host");
      expect(r.code).toBe(0);
      const name = `alpamon-linux-${hostTarget().name}`;
      expect(sha256(join(again, name))).toBe(sha256(join(outdir, name)));
    },
    BUILD_TIMEOUT_MS,
  );
});

describe("build.ts helpers", () => {
  test("resolveVersion takes package.json's version, or ALPAMON_VERSION without a leading v", () => {
    const pkg = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8"));
    expect(resolveVersion({})).toBe(pkg.version);
    expect(resolveVersion({ ALPAMON_VERSION: "v1.2.3" })).toBe("1.2.3");
    expect(resolveVersion({ ALPAMON_VERSION: "2.0.0-rc.1+g1234abc" })).toBe("2.0.0-rc.1+g1234abc");
  });

  test("resolveVersion rejects a version that is not semver", () => {
    for (const bad of ["1.2", "latest", "1.2.3.4", "1.2.3\nx", "1.2.3-"]) {
      expect(() => resolveVersion({ ALPAMON_VERSION: bad })).toThrow(/semver/);
    }
  });

  test("parseTargets understands all, host and lists, and rejects others", () => {
    expect(parseTargets(undefined).map((t) => t.name)).toEqual(["x64", "arm64"]);
    expect(parseTargets("host")).toEqual([hostTarget()]);
    expect(parseTargets("arm64,x64,arm64").map((t) => t.name)).toEqual(["arm64", "x64"]);
    expect(() => parseTargets("mips")).toThrow(/unknown target/);
    expect(() => parseTargets("")).toThrow(/no target/);
  });

  test("readElfMachine rejects files that are not 64-bit ELF", () => {
    const notElf = join(work, "not-elf");
    writeFileSync(notElf, "#!/bin/sh\necho this is a shell script\n");
    expect(() => readElfMachine(notElf)).toThrow(/not an ELF/);
    const short = join(work, "short");
    writeFileSync(short, "\x7fELF");
    expect(() => readElfMachine(short)).toThrow(/too short/);
    expect(TARGETS.arm64.elfMachine).toBe(0xb7);
  });
});
