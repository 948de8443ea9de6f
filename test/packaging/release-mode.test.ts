// `bun build.ts --release`: signs SHA256SUMS with the key from the environment (a throwaway pair here) and
// writes install.sh with the accepted keys; refuses, before building, without a key or with a key that no
// installer accepts. Also the signing helpers' input checks.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { generateKeyPairSync } from "node:crypto";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ROOT, hostTarget } from "../../build.ts";
import { loadSigningKey, renderInstallScript, verifyFile } from "../../packaging/signing.ts";
import { makeKeys, type TestKeys } from "./release-fixture.ts";

let work = "";
let keys: TestKeys;

function build(args: string[], env: Record<string, string>) {
  const r = Bun.spawnSync([process.execPath, join(ROOT, "build.ts"), ...args], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: process.env.HOME ?? "/root", ...env },
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe",
  });
  return { code: r.exitCode, stdout: r.stdout.toString(), stderr: r.stderr.toString() };
}

beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), "alpamon-release-mode-"));
  keys = makeKeys(join(work, "keys"));
});
afterAll(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

describe("build.ts --release", () => {
  test("signs SHA256SUMS and writes install.sh with the accepted key; the key file is read from the environment", () => {
    const keyFile = join(work, "signing.key");
    writeFileSync(keyFile, keys.privatePem, { mode: 0o600 });
    const out = join(work, "dist");
    const r = build(["--target", "host", "--outdir", out, "--release", "--keys-dir", keys.keysDir], { ALPAMON_SIGNING_KEY_FILE: keyFile });
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(readdirSync(out).sort()).toEqual(["SHA256SUMS", "SHA256SUMS.sig", `alpamon-linux-${hostTarget().name}`, "install.sh"]);
    expect(verifyFile(join(out, "SHA256SUMS"), join(out, "SHA256SUMS.sig"), [keys.publicPem])).toBe(true);
    expect(readFileSync(join(out, "SHA256SUMS.sig")).length).toBe(64);
    expect(readFileSync(join(out, "install.sh"), "utf8")).toContain(keys.publicPem.trim());
    expect(r.stdout + r.stderr).not.toContain("PRIVATE KEY");
  }, 120_000);

  test("refuses without a signing key, before building anything", () => {
    const out = join(work, "nokey");
    const r = build(["--target", "host", "--outdir", out, "--release", "--keys-dir", keys.keysDir], {});
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("ALPAMON_SIGNING_KEY_FILE");
    expect(existsSync(out)).toBe(false);
  });

  test("refuses a signing key that is not among the accepted keys", () => {
    const stranger = makeKeys(join(work, "stranger"));
    const r = build(["--target", "host", "--outdir", join(work, "stranger-out"), "--release", "--keys-dir", keys.keysDir], {
      ALPAMON_SIGNING_KEY: stranger.privatePem,
    });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("not among the accepted keys");
  });

  test("refuses when no accepted key exists yet", () => {
    const r = build(["--target", "host", "--release", "--keys-dir", join(work, "empty")], { ALPAMON_SIGNING_KEY: keys.privatePem });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("no accepted release keys");
  });
});

describe("signing helpers", () => {
  test("only Ed25519 private keys are taken; garbage is a clear error", () => {
    expect(loadSigningKey({})).toBeUndefined();
    expect(() => loadSigningKey({ ALPAMON_SIGNING_KEY: "not a key" })).toThrow(/not a PEM private key/);
    const rsa = generateKeyPairSync("rsa", { modulusLength: 1024 }).privateKey.export({ type: "pkcs8", format: "pem" }).toString();
    expect(() => loadSigningKey({ ALPAMON_SIGNING_KEY: rsa })).toThrow(/not ed25519/);
    expect(loadSigningKey({ ALPAMON_SIGNING_KEY: keys.privatePem })?.asymmetricKeyType).toBe("ed25519");
  });

  test("renderInstallScript embeds PEM keys only, between the markers", () => {
    const template = readFileSync(join(ROOT, "packaging/install.sh"), "utf8");
    const rendered = renderInstallScript(template, [keys.publicPem]);
    expect(rendered).toContain(`cat <<'ALPAMON_KEYS'\n${keys.publicPem}ALPAMON_KEYS`);
    expect(rendered.length).toBeGreaterThan(template.length);
    expect(() => renderInstallScript(template, ["ALPAMON_KEYS\nrm -rf /\n"])).toThrow(/not a PEM/);
    expect(() => renderInstallScript("#!/bin/sh\n", [])).toThrow(/markers/);
  });
});
