// packaging/install.sh run by /bin/sh against a release served by Bun.serve on 127.0.0.1, installing into a
// scratch root (ALPAMON_INSTALL_ROOT), never onto this host: a good release installs by distro, and a
// tampered file, checksum list or signature, an unknown distro, a truncated script or a missing key refuse.
// The "binary" here is a tiny script: install.sh only downloads, verifies and unpacks.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Server } from "bun";
import { renderInstallScript } from "../../packaging/signing.ts";
import { makeKeys, makeRelease, type Release, type TestKeys } from "./release-fixture.ts";

const FAKE_BINARY = "#!/bin/sh\necho fake-alpamon\n";
const OS_RELEASE = {
  debian: 'ID=debian\nVERSION_ID="12"\n',
  ubuntu: 'ID=ubuntu\nID_LIKE=debian\nVERSION_ID="24.04"\n',
  rocky: 'ID="rocky"\nID_LIKE="rhel centos fedora"\nVERSION_ID="9.4"\n',
  arch: "ID=arch\n",
} as const;

let work = "";
let keys: TestKeys;
let release: Release;
let server: Server<undefined>;
let base = "";
let roots = 0;

/** Serves the release under /good/ and tampered variants under /bad-file/, /bad-sums/ and /bad-sig/. */
function serve(dir: string): Server<undefined> {
  return Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    fetch(req) {
      const [, variant, name] = new URL(req.url).pathname.split("/");
      if (!name || name.includes("..") || !existsSync(join(dir, name))) return new Response("not found", { status: 404 });
      const file = Bun.file(join(dir, name));
      if (variant === "bad-file" && /\.(deb|rpm)$|^alpamon-linux-/.test(name)) return new Response(new Blob([file, "X"]));
      if (variant === "bad-sums" && name === "SHA256SUMS") {
        const text = readFileSync(join(dir, name), "utf8");
        return new Response(text.replace(/^[0-9a-f]/gm, (c) => (c === "0" ? "1" : "0")));
      }
      if (variant === "bad-sig" && name === "SHA256SUMS.sig") {
        const sig = readFileSync(join(dir, name));
        sig[10] = sig[10]! ^ 0xff;
        return new Response(sig);
      }
      return new Response(file);
    },
  });
}

function scratchRoot(osRelease?: string): string {
  const root = join(work, `root-${++roots}`);
  mkdirSync(join(root, "etc"), { recursive: true });
  if (osRelease !== undefined) writeFileSync(join(root, "etc/os-release"), osRelease);
  return root;
}

async function install(script: string, env: Record<string, string>) {
  const path = join(work, `install-${++roots}.sh`);
  writeFileSync(path, script);
  const proc = Bun.spawn(["/bin/sh", path], {
    cwd: work,
    env: { PATH: "/usr/sbin:/usr/bin:/sbin:/bin", HOME: join(work, "home"), TMPDIR: work, ...env },
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe",
  });
  const [stdout, stderr, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  return { code, stdout, stderr };
}

function installer(): string {
  return readFileSync(join(release.dir, "install.sh"), "utf8");
}

function leftoverTempDirs(): string[] {
  return readdirSync(work).filter((n) => n.startsWith("alpamon-install."));
}

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), "alpamon-install-"));
  mkdirSync(join(work, "home")); // HOME of the tools run here (rpm and friends write dot-files into it)
  keys = makeKeys(join(work, "keys"));
  writeFileSync(join(work, "fake-bin"), FAKE_BINARY, { mode: 0o755 });
  release = await makeRelease(join(work, "release"), join(work, "fake-bin"), "1.2.3", keys);
  server = serve(release.dir);
  base = `http://127.0.0.1:${server.port}`;
}, 120_000);

afterAll(async () => {
  await server?.stop(true);
  if (work) rmSync(work, { recursive: true, force: true });
});

describe("install.sh with a good release", () => {
  for (const [distro, kind] of [
    ["debian", "deb"],
    ["ubuntu", "deb"],
    ["rocky", "rpm"],
  ] as const) {
    test(`${distro}: verifies the signature and checksum, then unpacks the ${kind} into the scratch root`, async () => {
      const root = scratchRoot(OS_RELEASE[distro]);
      const r = await install(installer(), { ALPAMON_BASE_URL: `${base}/good/`, ALPAMON_INSTALL_ROOT: root });
      expect(r.stderr).toBe("");
      expect(r.code).toBe(0);
      expect(r.stdout).toContain("signature verified");
      expect(r.stdout).toContain(kind === "deb" ? ".deb checksum verified" : ".rpm checksum verified");
      expect(readFileSync(join(root, "usr/bin/alpamon"), "utf8")).toBe(FAKE_BINARY);
      const unitDir = kind === "deb" ? "lib/systemd/system" : "usr/lib/systemd/system";
      expect(existsSync(join(root, unitDir, "alpamon.service"))).toBe(true);
      expect(leftoverTempDirs()).toEqual([]);
    });
  }

  test("binary mode installs the bare binary on any distro", async () => {
    const root = scratchRoot(OS_RELEASE.arch);
    const r = await install(installer(), { ALPAMON_BASE_URL: `${base}/good`, ALPAMON_INSTALL_ROOT: root, ALPAMON_INSTALL_MODE: "binary" });
    expect(r.code).toBe(0);
    expect(readFileSync(join(root, "usr/bin/alpamon"), "utf8")).toBe(FAKE_BINARY);
  });

  test("a dry run verifies and changes nothing", async () => {
    const root = scratchRoot(OS_RELEASE.debian);
    const r = await install(installer(), { ALPAMON_BASE_URL: `${base}/good`, ALPAMON_INSTALL_ROOT: root, ALPAMON_DRY_RUN: "1" });
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("dry run: would install alpamon_1.2.3_");
    expect(readdirSync(root)).toEqual(["etc"]);
  });

  test("a second accepted key (rotation) still verifies a release signed with the first", async () => {
    const next = makeKeys(join(work, "next-keys"));
    const script = renderInstallScript(readFileSync(join(import.meta.dir, "../../packaging/install.sh"), "utf8"), [
      next.publicPem,
      keys.publicPem,
    ]);
    const root = scratchRoot(OS_RELEASE.debian);
    const r = await install(script, { ALPAMON_BASE_URL: `${base}/good`, ALPAMON_INSTALL_ROOT: root });
    expect(r.code).toBe(0);
    expect(existsSync(join(root, "usr/bin/alpamon"))).toBe(true);
  });
});

describe("install.sh refuses", () => {
  const refusals = [
    ["a tampered package", "bad-file", "checksum mismatch"],
    ["a tampered SHA256SUMS", "bad-sums", "signature"],
    ["a tampered signature", "bad-sig", "signature"],
  ] as const;
  for (const [what, variant, message] of refusals) {
    test(`${what}, installing nothing`, async () => {
      const root = scratchRoot(OS_RELEASE.debian);
      const r = await install(installer(), { ALPAMON_BASE_URL: `${base}/${variant}`, ALPAMON_INSTALL_ROOT: root });
      expect(r.code).toBe(1);
      expect(r.stderr).toContain(message);
      expect(r.stderr).toContain("refusing to install");
      expect(readdirSync(root)).toEqual(["etc"]);
      expect(leftoverTempDirs()).toEqual([]);
    });
  }

  test("a release signed by a key it does not embed", async () => {
    const stranger = makeKeys(join(work, "stranger"));
    const script = renderInstallScript(readFileSync(join(import.meta.dir, "../../packaging/install.sh"), "utf8"), [stranger.publicPem]);
    const root = scratchRoot(OS_RELEASE.debian);
    const r = await install(script, { ALPAMON_BASE_URL: `${base}/good`, ALPAMON_INSTALL_ROOT: root });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("does not verify");
    expect(readdirSync(root)).toEqual(["etc"]);
  });

  test("the unrendered template, which embeds no key", async () => {
    const script = readFileSync(join(import.meta.dir, "../../packaging/install.sh"), "utf8");
    const r = await install(script, { ALPAMON_BASE_URL: `${base}/good`, ALPAMON_INSTALL_ROOT: scratchRoot(OS_RELEASE.debian) });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("embeds no release key");
  });

  test("an unknown distribution, with exit 78 and a clear message", async () => {
    const root = scratchRoot(OS_RELEASE.arch);
    const r = await install(installer(), { ALPAMON_BASE_URL: `${base}/good`, ALPAMON_INSTALL_ROOT: root });
    expect(r.code).toBe(78);
    expect(r.stderr).toContain("unsupported distribution 'arch'");
    expect(r.stderr).toContain("ALPAMON_INSTALL_MODE=binary");
  });

  test("a missing base URL or a non-http(s) one", async () => {
    const none = await install(installer(), { ALPAMON_INSTALL_ROOT: scratchRoot(OS_RELEASE.debian) });
    expect(none.code).toBe(1);
    expect(none.stderr).toContain("ALPAMON_BASE_URL");
    const ftp = await install(installer(), { ALPAMON_BASE_URL: "ftp://127.0.0.1/x", ALPAMON_INSTALL_ROOT: scratchRoot(OS_RELEASE.debian) });
    expect(ftp.code).toBe(1);
    expect(ftp.stderr).toContain("https://");
  });

  test("a truncated download runs nothing at all", async () => {
    const full = installer();
    const marker = join(work, "ran-anything");
    const start = full.indexOf("main() {");
    const cuts = [start + 9, Math.floor((start + full.length) / 2), full.lastIndexOf('main "$@"'), full.length - 3];
    for (const cut of cuts) {
      // A command right after the cut lands inside main's unclosed body (a syntax error), so even it never runs.
      const truncated = cut < full.lastIndexOf('main "$@"') ? `${full.slice(0, cut)}\ntouch ${marker}\n` : full.slice(0, cut);
      const root = scratchRoot(OS_RELEASE.debian);
      const r = await install(truncated, { ALPAMON_BASE_URL: `${base}/good`, ALPAMON_INSTALL_ROOT: root });
      expect(existsSync(marker)).toBe(false);
      expect(r.stdout).not.toContain("downloading");
      expect(readdirSync(root)).toEqual(["etc"]);
    }
  });
});
