// `bun run package`: builds the binaries (build.ts), then alpamon_<ver>_<arch>.deb (dpkg-deb, xz) and
// alpamon-<ver>-1.<arch>.rpm (rpmbuild with stripping off: strip removes Bun's embedded app) into dist/,
// a SHA256SUMS over everything, its Ed25519 signature when a signing key is given, and install.sh with keys.
// Usage: bun packaging/package.ts [--target all|host|x64|arm64] [--outdir DIR] [--xz-level 0-9] [--release] [--keys-dir D]
import { createHash } from "node:crypto";
import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { gzipSync } from "node:zlib";
import { basename, join } from "node:path";
import { parseArgs } from "node:util";
import { buildTarget, parseTargets, resolveVersion, ROOT, type Target } from "../build.ts";
import { releaseSigner, signRelease, writeSums } from "./release.ts";
import { acceptedKeys, KEYS_DIR } from "./signing.ts";

const PKG = import.meta.dir;
const DEB_ARCH = { x64: "amd64", arm64: "arm64" } as const;
const RPM_ARCH = { x64: "x86_64", arm64: "aarch64" } as const;
const SUMMARY = "Secure server agent for the Alpacon console";
const DESCRIPTION = [
  "alpamon keeps a connection to the Alpacon console and runs what it asks:",
  "commands as a given user, user and group management, package updates,",
  "terminals, file transfers and firewall rules; it also reports inventory",
  "and metrics. One self-contained binary (Bun); runs as root under systemd.",
];

export interface PackageRequest {
  target: Target;
  version: string;
  /** The compiled alpamon binary for this target. */
  binary: string;
  outdir: string;
  /** xz preset for the payload (default 6; tests use 0-1 to save time). */
  xzLevel?: number;
  maintainer?: string;
}

function run(cmd: string[], cwd = ROOT): string {
  const proc = Bun.spawnSync(cmd, { cwd, stdin: "ignore", stdout: "pipe", stderr: "pipe", env: { ...process.env, LC_ALL: "C" } });
  if (proc.exitCode !== 0) throw new Error(`${cmd.join(" ")} failed (exit ${proc.exitCode}):\n${proc.stderr.toString().trim()}`);
  return proc.stdout.toString();
}

/** Debian and rpm versions cannot hold "-": a semver pre-release "1.2.0-rc.1" becomes "1.2.0~rc.1" (sorts before 1.2.0). */
export function packageVersion(version: string): string {
  return version.replace("-", "~");
}

export function debFileName(version: string, target: Target): string {
  return `alpamon_${packageVersion(version)}_${DEB_ARCH[target.name]}.deb`;
}

export function rpmFileName(version: string, target: Target): string {
  return `alpamon-${packageVersion(version)}-1.${RPM_ARCH[target.name]}.rpm`;
}

function maintainer(req: PackageRequest): string {
  return req.maintainer ?? process.env.ALPAMON_MAINTAINER ?? "AlpacaX <support@alpacax.com>";
}

function put(root: string, path: string, data: string | Buffer, mode: number): void {
  const full = join(root, path);
  mkdirSync(join(full, ".."), { recursive: true, mode: 0o755 });
  writeFileSync(full, data);
  chmodSync(full, mode);
}

/** The files both packages install (unit path differs: /lib on Debian, /usr/lib on rpm distros). */
function stageFiles(root: string, req: PackageRequest, unitDir: string, keys: readonly string[]): void {
  mkdirSync(join(root, "usr/bin"), { recursive: true, mode: 0o755 });
  copyFileSync(req.binary, join(root, "usr/bin/alpamon"));
  chmodSync(join(root, "usr/bin/alpamon"), 0o755);
  put(root, `${unitDir}/alpamon.service`, readFileSync(join(PKG, "alpamon.service")), 0o644);
  put(root, "usr/lib/tmpfiles.d/alpamon.conf", readFileSync(join(PKG, "tmpfiles.conf")), 0o644);
  keys.forEach((pem, i) => {
    put(root, `usr/share/alpamon/release-keys/key${i + 1}.pem`, pem, 0o644);
  });
}

function copyrightText(): string {
  return [
    "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/",
    "Upstream-Name: alpamon",
    "Source: https://github.com/alpacax/alpamon",
    "",
    "Files: *",
    "Copyright: 2024-2026 AlpacaX and the alpamon contributors",
    "License: MIT",
    "",
    "License: MIT",
    ...readFileSync(join(PKG, "LICENSE.MIT"), "utf8")
      .trimEnd()
      .split("\n")
      .map((l) => (l.trim() === "" ? " ." : ` ${l}`)),
    "",
  ].join("\n");
}

/** The changelog date: $SOURCE_DATE_EPOCH when set (reproducible builds), else now. */
function releaseDate(): Date {
  const epoch = Number(process.env.SOURCE_DATE_EPOCH);
  return Number.isFinite(epoch) && epoch > 0 ? new Date(epoch * 1000) : new Date();
}

/** rpm's changelog date: "Thu Nov 26 2026". */
function rpmDate(): string {
  const [weekday, day, month, year] = releaseDate().toUTCString().split(" ");
  return `${weekday!.replace(",", "")} ${month} ${day} ${year}`;
}

/** The md5sums control file dpkg uses for `dpkg --verify`: every regular file under root, DEBIAN/ excluded. */
function md5sums(root: string): string {
  const files = (readdirSync(root, { recursive: true }) as string[])
    .filter((p) => !p.startsWith("DEBIAN") && statSync(join(root, p)).isFile())
    .sort();
  return files
    .map(
      (p) =>
        `${createHash("md5")
          .update(readFileSync(join(root, p)))
          .digest("hex")}  ${p}\n`,
    )
    .join("");
}

function debChangelog(version: string, who: string): Buffer {
  const date = releaseDate().toUTCString().replace("GMT", "+0000");
  const text = `alpamon (${packageVersion(version)}) unstable; urgency=medium\n\n  * Release ${version}.\n\n -- ${who}  ${date}\n`;
  return gzipSync(text, { level: 9 });
}

/** Builds the .deb with dpkg-deb (root-owned files, xz payload) and returns its path. */
export function buildDeb(req: PackageRequest, keys: readonly string[] = []): string {
  const stage = mkdtempSync(join(req.outdir, ".deb-"));
  try {
    const root = join(stage, "root");
    stageFiles(root, req, "lib/systemd/system", keys);
    put(root, "usr/share/doc/alpamon/copyright", copyrightText(), 0o644);
    put(root, "usr/share/doc/alpamon/changelog.gz", debChangelog(req.version, maintainer(req)), 0o644);
    const installedKb = Math.ceil(statSync(req.binary).size / 1024) + 16;
    const control = [
      "Package: alpamon",
      `Version: ${packageVersion(req.version)}`,
      `Architecture: ${DEB_ARCH[req.target.name]}`,
      `Maintainer: ${maintainer(req)}`,
      `Installed-Size: ${installedKb}`,
      // libc only (the Bun runtime needs GLIBC_2.17); setpriv, getent and id come from essential packages.
      "Depends: libc6 (>= 2.17), adduser | passwd",
      "Recommends: systemd, nftables | iptables",
      "Section: admin",
      "Priority: optional",
      "Homepage: https://github.com/alpacax/alpamon",
      `Description: ${SUMMARY}`,
      ...DESCRIPTION.map((l) => ` ${l}`),
      "",
    ].join("\n");
    put(root, "DEBIAN/md5sums", md5sums(root), 0o644);
    put(root, "DEBIAN/control", control, 0o644);
    for (const script of ["postinst", "prerm", "postrm"]) put(root, `DEBIAN/${script}`, readFileSync(join(PKG, "scripts", script)), 0o755);
    const out = join(req.outdir, debFileName(req.version, req.target));
    run(["dpkg-deb", "--root-owner-group", "-Zxz", `-z${req.xzLevel ?? 6}`, "--build", root, out]);
    return out;
  } finally {
    rmSync(stage, { recursive: true, force: true });
  }
}

function rpmSpec(req: PackageRequest, stagedRoot: string, keys: readonly string[]): string {
  const script = (name: string) => readFileSync(join(PKG, "scripts", name), "utf8").replace(/^#!.*\n/, "");
  return [
    // rpm's default post-install strips binaries, which deletes the app Bun appended to its runtime.
    "%global __os_install_post %{nil}",
    "%global debug_package %{nil}",
    "%global __strip /bin/true",
    "%global _build_id_links none",
    `%global _binary_payload w${req.xzLevel ?? 6}T.xzdio`, // T: xz on every CPU
    "Name: alpamon",
    `Version: ${packageVersion(req.version)}`,
    "Release: 1",
    `Summary: ${SUMMARY}`,
    "License: MIT",
    "URL: https://github.com/alpacax/alpamon",
    `Packager: ${maintainer(req)}`,
    "Group: System Environment/Daemons",
    // setpriv (util-linux) for running as users; useradd (shadow-utils); the rest is optional.
    "Requires: util-linux",
    "Requires: shadow-utils",
    "Recommends: systemd",
    "Recommends: (nftables or iptables)",
    "",
    "%description",
    ...DESCRIPTION,
    "",
    "%install",
    `cp -a ${stagedRoot}/. %{buildroot}/`,
    "",
    "%files",
    "%attr(0755,root,root) /usr/bin/alpamon",
    "%attr(0644,root,root) /usr/lib/systemd/system/alpamon.service",
    "%attr(0644,root,root) /usr/lib/tmpfiles.d/alpamon.conf",
    ...(keys.length > 0 ? ["%dir /usr/share/alpamon", "/usr/share/alpamon/release-keys"] : []),
    "%license /usr/share/licenses/alpamon/LICENSE",
    "",
    "%post",
    script("postinst"),
    "%preun",
    script("prerm"),
    "%postun",
    script("postrm"),
    "%changelog",
    `* ${rpmDate()} ${maintainer(req)} - ${packageVersion(req.version)}-1`,
    `- Release ${req.version}.`,
    "",
  ].join("\n");
}

/** Builds the .rpm with rpmbuild -bb from a generated spec and returns its path. */
export function buildRpm(req: PackageRequest, keys: readonly string[] = []): string {
  const stage = mkdtempSync(join(req.outdir, ".rpm-"));
  try {
    const root = join(stage, "root");
    stageFiles(root, req, "usr/lib/systemd/system", keys);
    put(root, "usr/share/licenses/alpamon/LICENSE", readFileSync(join(PKG, "LICENSE.MIT")), 0o644);
    const spec = join(stage, "alpamon.spec");
    writeFileSync(spec, rpmSpec(req, root, keys));
    const arch = RPM_ARCH[req.target.name];
    run([
      "rpmbuild",
      "-bb",
      "--quiet",
      "--target",
      `${arch}-linux`,
      "--define",
      `_topdir ${join(stage, "top")}`,
      "--define",
      `_rpmdir ${join(stage, "rpms")}`,
      "--define",
      "_build_name_fmt %%{NAME}-%%{VERSION}-%%{RELEASE}.%%{ARCH}.rpm",
      spec,
    ]);
    const name = rpmFileName(req.version, req.target);
    const out = join(req.outdir, name);
    copyFileSync(join(stage, "rpms", name), out);
    return out;
  } finally {
    rmSync(stage, { recursive: true, force: true });
  }
}

async function main(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      target: { type: "string" },
      outdir: { type: "string" },
      "xz-level": { type: "string" },
      release: { type: "boolean" },
      "keys-dir": { type: "string" },
      help: { type: "boolean", short: "h" },
    },
    strict: true,
  });
  if (values.help) {
    console.log(
      "usage: bun packaging/package.ts [--target all|host|x64|arm64] [--outdir DIR] [--xz-level 0-9] [--release] [--keys-dir DIR]",
    );
    console.log("  --release: sign SHA256SUMS with $ALPAMON_SIGNING_KEY_FILE or $ALPAMON_SIGNING_KEY (required then)");
    return 0;
  }
  const xzLevel = values["xz-level"] === undefined ? 6 : Number(values["xz-level"]);
  if (!Number.isInteger(xzLevel) || xzLevel < 0 || xzLevel > 9) throw new Error("--xz-level must be 0-9");
  const outdir = values.outdir ?? join(ROOT, "dist");
  const version = resolveVersion();
  const keysDir = values["keys-dir"] ?? KEYS_DIR;
  const keys = acceptedKeys(keysDir);
  if (values.release) releaseSigner({ keysDir }); // fail before a long build, not after it
  const files: string[] = [];
  for (const target of parseTargets(values.target)) {
    const built = await buildTarget(target, outdir, version);
    files.push(built.path);
    const req: PackageRequest = { target, version, binary: built.path, outdir, xzLevel };
    for (const make of [buildDeb, buildRpm]) {
      const started = performance.now();
      const path = make(req, keys);
      files.push(path);
      console.log(
        `  ${basename(path).padEnd(36)} ${statSync(path).size.toLocaleString("en-US").padStart(13)} B  ${((performance.now() - started) / 1000).toFixed(1)} s`,
      );
    }
  }
  await writeSums(outdir, files);
  if (values.release) {
    signRelease(outdir, { keysDir });
    console.log(`  SHA256SUMS, SHA256SUMS.sig and install.sh in ${outdir}`);
  } else {
    console.log(`  SHA256SUMS in ${outdir} (unsigned: pass --release with a signing key to sign)`);
  }
  return 0;
}

if (import.meta.main) {
  try {
    process.exitCode = await main(process.argv.slice(2));
  } catch (err) {
    console.error(`package failed: ${(err as Error).message}`);
    process.exitCode = 1;
  }
}
