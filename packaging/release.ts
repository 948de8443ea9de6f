// The release directory's trust files: SHA256SUMS over every artifact, its detached Ed25519 signature
// (release builds only, with a key from the environment that installers accept), and install.sh with the
// accepted public keys embedded. Refuses to sign with a key that no installer would accept.
import { createHash, type KeyObject } from "node:crypto";
import { readFileSync, renameSync, writeFileSync } from "node:fs";
import { basename, join } from "node:path";
import { acceptedKeys, KEYS_DIR, loadSigningKey, publicKeyPem, renderInstallScript, signFile, verifyFile } from "./signing.ts";

async function sha256(path: string): Promise<string> {
  const hash = createHash("sha256");
  for await (const chunk of Bun.file(path).stream()) hash.update(chunk);
  return hash.digest("hex");
}

/** Writes outdir/SHA256SUMS (`<hex>  <name>`, sorted by name) for files that all live in outdir. */
export async function writeSums(outdir: string, files: readonly string[]): Promise<string> {
  const names = [...new Set(files.map((f) => basename(f)))].sort();
  const lines: string[] = [];
  for (const name of names) lines.push(`${await sha256(join(outdir, name))}  ${name}\n`);
  const path = join(outdir, "SHA256SUMS");
  writeFileSync(`${path}.tmp-${process.pid}`, lines.join(""));
  renameSync(`${path}.tmp-${process.pid}`, path);
  return path;
}

export interface ReleaseOptions {
  /** Public keys installers accept (default packaging/keys). */
  keysDir?: string;
  env?: Record<string, string | undefined>;
}

/** The signing key and the accepted keys, checked before anything is built: throws a clear error when unusable. */
export function releaseSigner(options: ReleaseOptions = {}): { key: KeyObject; accepted: string[] } {
  const keysDir = options.keysDir ?? KEYS_DIR;
  const key = loadSigningKey(options.env ?? process.env);
  if (!key) throw new Error("a release build needs ALPAMON_SIGNING_KEY_FILE (or ALPAMON_SIGNING_KEY) holding the Ed25519 private key");
  const accepted = acceptedKeys(keysDir);
  if (accepted.length === 0) throw new Error(`no accepted release keys in ${keysDir} (see packaging/keys/README.md)`);
  if (!accepted.includes(publicKeyPem(key))) {
    throw new Error(`the signing key's public key is not among the accepted keys in ${keysDir}; installers would refuse this release`);
  }
  return { key, accepted };
}

/**
 * Signs outdir/SHA256SUMS into SHA256SUMS.sig and writes outdir/install.sh with the accepted keys. The signing
 * key ($ALPAMON_SIGNING_KEY_FILE or $ALPAMON_SIGNING_KEY) is required and must match an accepted key.
 */
export function signRelease(outdir: string, options: ReleaseOptions = {}): { sig: string; installer: string } {
  const { key, accepted } = releaseSigner(options);
  const sums = join(outdir, "SHA256SUMS");
  const sig = signFile(sums, key);
  if (!verifyFile(sums, sig, accepted)) throw new Error("the fresh signature does not verify");
  const installer = join(outdir, "install.sh");
  writeFileSync(installer, renderInstallScript(readFileSync(join(import.meta.dir, "install.sh"), "utf8"), accepted), { mode: 0o755 });
  return { sig, installer };
}
