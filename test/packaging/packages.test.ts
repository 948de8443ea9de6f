// The .deb and .rpm of the real compiled agent (host architecture, built once, xz level 0 to save time):
// extracted with dpkg-deb -x and rpm2cpio | cpio, the binary inside still runs (not stripped), the unit
// passes systemd-analyze verify, lintian and rpmlint show only allow-listed tags, and the extracted binary's
// `setup` and `register` write a valid 0600 config. Needs dpkg-dev, rpm, cpio, lintian, rpmlint, systemd.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { buildTarget, hostTarget, resolveVersion } from "../../build.ts";
import { debFileName, packageVersion, rpmFileName } from "../../packaging/package.ts";
import { verifyFile } from "../../packaging/signing.ts";
import { loadConfig } from "../../src/config/load.ts";
import { REGISTER_PATH } from "../../src/config/register.ts";
import { FakeConsole } from "../console/fake-console.ts";
import { makeKeys, makeRelease, type Release, type TestKeys } from "./release-fixture.ts";

const BUILD_TIMEOUT_MS = 240_000;
const PKG = join(import.meta.dir, "../../packaging");
const version = resolveVersion();
let work = "";
let keys: TestKeys;
let release: Release;
let debRoot = "";
let rpmRoot = "";

function run(argv: string[], options: { cwd?: string; env?: Record<string, string> } = {}) {
  const r = Bun.spawnSync(argv, {
    cwd: options.cwd ?? "/",
    env: options.env ?? { PATH: "/usr/sbin:/usr/bin:/sbin:/bin", HOME: join(work, "home"), LC_ALL: "C" },
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe",
  });
  return { code: r.exitCode, stdout: r.stdout.toString(), stderr: r.stderr.toString() };
}

function sha256(path: string): string {
  return createHash("sha256").update(readFileSync(path)).digest("hex");
}

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), "alpamon-packages-"));
  mkdirSync(join(work, "home")); // HOME of the tools run here (rpm and friends write dot-files into it)
  const built = await buildTarget(hostTarget(), join(work, "bin"), version);
  keys = makeKeys(join(work, "keys"));
  release = await makeRelease(join(work, "dist"), built.path, version, keys);
  debRoot = join(work, "deb-root");
  rpmRoot = join(work, "rpm-root");
  mkdirSync(debRoot);
  mkdirSync(rpmRoot);
  const x = run(["dpkg-deb", "-x", release.deb, debRoot]);
  if (x.code !== 0) throw new Error(`dpkg-deb -x failed: ${x.stderr}`);
  const c = run(["sh", "-c", 'rpm2cpio "$1" | cpio -idm --quiet', "sh", release.rpm], { cwd: rpmRoot });
  if (c.code !== 0) throw new Error(`rpm2cpio | cpio failed: ${c.stderr}`);
}, BUILD_TIMEOUT_MS);

afterAll(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

describe("package files", () => {
  test("names follow alpamon_<ver>_<arch>.deb and alpamon-<ver>-1.<arch>.rpm", () => {
    const arch = { x64: ["amd64", "x86_64"], arm64: ["arm64", "aarch64"] }[hostTarget().name];
    expect(debFileName(version, hostTarget())).toBe(`alpamon_${packageVersion(version)}_${arch[0]}.deb`);
    expect(rpmFileName(version, hostTarget())).toBe(`alpamon-${packageVersion(version)}-1.${arch[1]}.rpm`);
    expect(packageVersion("1.2.0-rc.1")).toBe("1.2.0~rc.1");
    expect(readdirSync(release.dir).sort()).toEqual(
      [
        "SHA256SUMS",
        "SHA256SUMS.sig",
        `alpamon-linux-${hostTarget().name}`,
        debFileName(version, hostTarget()),
        "install.sh",
        rpmFileName(version, hostTarget()),
      ].sort(),
    );
  });

  test("SHA256SUMS covers every artifact and its signature verifies with the accepted key only", () => {
    const sums = join(release.dir, "SHA256SUMS");
    for (const line of readFileSync(sums, "utf8").trim().split("\n")) {
      const [hash, name] = line.split("  ");
      expect(sha256(join(release.dir, name!))).toBe(hash!);
    }
    expect(verifyFile(sums, `${sums}.sig`, [keys.publicPem])).toBe(true);
    const other = makeKeys(join(work, "other-keys"));
    expect(verifyFile(sums, `${sums}.sig`, [other.publicPem])).toBe(false);
    expect(verifyFile(sums, `${sums}.sig`, [other.publicPem, keys.publicPem])).toBe(true); // rotation: two keys
    // The shell-side check install.sh relies on (OpenSSL 3, -rawin).
    const v = run([
      "openssl",
      "pkeyutl",
      "-verify",
      "-pubin",
      "-inkey",
      join(keys.keysDir, "public.pem"),
      "-rawin",
      "-in",
      sums,
      "-sigfile",
      `${sums}.sig`,
    ]);
    expect(v.code).toBe(0);
  });

  test("the .deb declares minimal dependencies and ships maintainer scripts", () => {
    const info = run(["dpkg-deb", "-f", release.deb, "Package", "Version", "Depends", "Recommends", "Architecture"]).stdout;
    expect(info).toContain("Package: alpamon");
    expect(info).toContain("Depends: libc6 (>= 2.17), adduser | passwd");
    expect(info).toContain("Recommends: systemd, nftables | iptables");
    const control = run(["dpkg-deb", "-I", release.deb]).stdout;
    for (const script of ["postinst", "prerm", "postrm", "md5sums"]) expect(control).toContain(script);
  });

  test("the .rpm requires util-linux and shadow-utils and carries the scriptlets", () => {
    const requires = run(["rpm", "-qpR", release.rpm]).stdout;
    expect(requires).toContain("util-linux");
    expect(requires).toContain("shadow-utils");
    expect(run(["rpm", "-qp", "--recommends", release.rpm]).stdout).toContain("(nftables or iptables)");
    const scripts = run(["rpm", "-qp", "--scripts", release.rpm]).stdout;
    expect(scripts).toContain("postinstall scriptlet");
    expect(scripts).toContain("systemd-run");
    expect(scripts).toContain("preuninstall scriptlet");
  });
});

describe("extracted binaries", () => {
  for (const which of ["deb", "rpm"] as const) {
    test(`${which}: usr/bin/alpamon is the unstripped build and runs version and --once`, () => {
      const root = which === "deb" ? debRoot : rpmRoot;
      const bin = join(root, "usr/bin/alpamon");
      expect(statSync(bin).mode & 0o777).toBe(0o755);
      expect(sha256(bin)).toBe(sha256(release.binary));
      const v = run([bin, "version"]);
      expect(v.stdout).toBe(`alpamon ${version}\n`);
      const once = run([bin, "--once", "--json"]);
      expect(once.code).toBe(0);
      const sample = JSON.parse(once.stdout);
      expect(typeof sample.cpu.usage).toBe("number");
      expect(typeof sample.memory.total).toBe("number");
      const unit = which === "deb" ? "lib/systemd/system/alpamon.service" : "usr/lib/systemd/system/alpamon.service";
      expect(readFileSync(join(root, unit), "utf8")).toBe(readFileSync(join(PKG, "alpamon.service"), "utf8"));
      expect(readFileSync(join(root, "usr/lib/tmpfiles.d/alpamon.conf"), "utf8")).toBe(readFileSync(join(PKG, "tmpfiles.conf"), "utf8"));
      expect(readFileSync(join(root, "usr/share/alpamon/release-keys/key1.pem"), "utf8")).toBe(keys.publicPem);
      // /usr/local is the admin's: the compatibility symlink is made by postinst, not shipped.
      expect(existsSync(join(root, "usr/local"))).toBe(false);
    });
  }

  test("the extracted binary's setup writes a valid 0600 config", () => {
    const conf = join(work, "setup", "alpamon.conf");
    const r = run([join(debRoot, "usr/bin/alpamon"), "setup", "--config", conf], {
      env: { PATH: "/usr/bin:/bin", ALPACON_URL: "https://console.example.com", PLUGIN_ID: "abc-123", PLUGIN_KEY: "k3y_value" },
    });
    expect(r.code).toBe(0);
    expect(statSync(conf).mode & 0o777).toBe(0o600);
    const config = loadConfig({ explicitPath: conf, env: {} });
    expect([config.serverUrl, config.id, config.key, config.ssl.verify]).toEqual([
      "https://console.example.com",
      "abc-123",
      "k3y_value",
      true,
    ]);
  });

  test("the extracted binary's register writes a valid 0600 config from the console's answer", async () => {
    const fake = await FakeConsole.start({ tls: true });
    try {
      fake.fault(
        { method: "POST", path: REGISTER_PATH },
        { status: 201, body: JSON.stringify({ id: "srv-1", key: "SrvKey_1", name: "pk" }) },
      );
      const conf = join(work, "register", "alpamon.conf");
      mkdirSync(join(work, "register"), { recursive: true });
      writeFileSync(join(work, "register", "token"), "tok_123\n", { mode: 0o600 });
      const proc = Bun.spawn(
        [
          join(rpmRoot, "usr/bin/alpamon"),
          "register",
          "--url",
          fake.url,
          "--token-file",
          join(work, "register", "token"),
          "--name",
          "pk",
          "--ca-cert",
          fake.caCertPath!,
          "--config",
          conf,
          "--no-start",
        ],
        { cwd: "/", env: { PATH: "/usr/bin:/bin" }, stdin: "ignore", stdout: "pipe", stderr: "pipe" },
      );
      expect(await proc.exited).toBe(0);
      expect(fake.requests.find((r) => r.path === REGISTER_PATH)?.headers.authorization).toBe('token="tok_123"');
      expect(statSync(conf).mode & 0o777).toBe(0o600);
      expect(loadConfig({ explicitPath: conf, env: {} }).id).toBe("srv-1");
    } finally {
      await fake.stop();
    }
  });
});

describe("systemd unit", () => {
  test("has the required settings", () => {
    const unit = readFileSync(join(PKG, "alpamon.service"), "utf8");
    for (const line of [
      "ExecStart=/usr/bin/alpamon",
      "Restart=on-failure",
      "RestartPreventExitStatus=78",
      "KillMode=process",
      "StateDirectory=alpamon",
      "LogsDirectory=alpamon",
      "RuntimeDirectory=alpamon",
      "StandardError=journal",
    ]) {
      expect(unit.split("\n")).toContain(line);
    }
    expect(unit).not.toMatch(/^Restart=always/m);
    expect(unit).not.toMatch(/^NoNewPrivileges=/m);
  });

  test("systemd-analyze verify accepts the unit from the package (and rejects a broken one)", () => {
    if (!Bun.which("systemd-analyze")) throw new Error("systemd-analyze is missing: apt-get install systemd");
    // Verify inside the extracted package root, so ExecStart=/usr/bin/alpamon is the packaged binary; the
    // targets it names come from the host's systemd.
    const root = join(work, "verify-root");
    cpSync(debRoot, root, { recursive: true });
    mkdirSync(join(root, "usr/lib/systemd/system"), { recursive: true });
    for (const name of readdirSync("/usr/lib/systemd/system").filter((n) => n.endsWith(".target"))) {
      cpSync(join("/usr/lib/systemd/system", name), join(root, "usr/lib/systemd/system", name), { dereference: true });
    }
    const good = run(["systemd-analyze", "verify", `--root=${root}`, "--man=no", "alpamon.service"]);
    expect(good.stderr).toBe("");
    expect(good.code).toBe(0);

    const unitPath = join(root, "lib/systemd/system/alpamon.service");
    writeFileSync(unitPath, readFileSync(unitPath, "utf8").replace("KillMode=process", "KillMode=sometimes"));
    const bad = run(["systemd-analyze", "verify", `--root=${root}`, "--man=no", "alpamon.service"]);
    expect(bad.stderr).toContain("kill mode");
  });
});

/** Tags of level E or W not in the allow-list file (first word of each non-comment line). */
function unexpectedTags(output: string, tagPattern: RegExp, allowFile: string): string[] {
  const allowed = new Set(
    readFileSync(join(PKG, "lint", allowFile), "utf8")
      .split("\n")
      .filter((l) => l.trim() && !l.startsWith("#"))
      .map((l) => l.split(/\s+/)[0]!),
  );
  const found = [...output.matchAll(tagPattern)].map((m) => m[1]!);
  return [...new Set(found.filter((tag) => !allowed.has(tag)))];
}

describe("lint", () => {
  test("lintian shows only allow-listed tags", () => {
    if (!Bun.which("lintian")) throw new Error("lintian is missing: apt-get install lintian");
    const r = run(["lintian", "--allow-root", release.deb]);
    expect(r.stdout + r.stderr).toMatch(/unstripped-binary-or-object/); // lintian really looked at the package
    expect(unexpectedTags(r.stdout, /^[EW]: alpamon[^:]*: (\S+)/gm, "lintian-allow.txt")).toEqual([]);
  }, 60_000);

  test("rpmlint shows only allow-listed tags", () => {
    if (!Bun.which("rpmlint")) throw new Error("rpmlint is missing: apt-get install rpmlint");
    const r = run(["rpmlint", release.rpm]);
    expect(r.stdout).toMatch(/1 packages and 0 specfiles checked/);
    expect(unexpectedTags(r.stdout, /^alpamon\.\S+: [EW]: (\S+)/gm, "rpmlint-allow.txt")).toEqual([]);
  }, 60_000);
});
