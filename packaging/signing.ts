// Release signing: a detached Ed25519 signature (raw 64 bytes) over SHA256SUMS, checkable in POSIX sh with
// `openssl pkeyutl -verify -pubin -inkey key.pem -rawin -in SHA256SUMS -sigfile SHA256SUMS.sig` (OpenSSL 3).
// The secret key only ever comes from the environment (a file path or PEM text); it is never written or printed.
import { createPrivateKey, createPublicKey, sign, verify, type KeyObject } from "node:crypto";
import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";

/** The public keys installers accept: packaging/keys/*.pem (two during a rotation, see keys/README.md). */
export const KEYS_DIR = join(import.meta.dir, "keys");

/** The signing key from $ALPAMON_SIGNING_KEY_FILE (a PEM file) or $ALPAMON_SIGNING_KEY (PEM text), if any. */
export function loadSigningKey(env: Record<string, string | undefined> = process.env): KeyObject | undefined {
  const file = env.ALPAMON_SIGNING_KEY_FILE?.trim();
  const text = file ? readFileSync(file, "utf8") : env.ALPAMON_SIGNING_KEY;
  if (!text?.trim()) return undefined;
  let key: KeyObject;
  try {
    key = createPrivateKey(text);
  } catch {
    throw new Error(`the signing key${file ? ` in ${file}` : ""} is not a PEM private key`);
  }
  if (key.asymmetricKeyType !== "ed25519") throw new Error(`the signing key is ${key.asymmetricKeyType}, not ed25519`);
  return key;
}

/** The PEM (SPKI) public key of a private or public key. */
export function publicKeyPem(key: KeyObject): string {
  const pub = key.type === "public" ? key : createPublicKey(key);
  return pub.export({ type: "spki", format: "pem" }).toString();
}

/** PEM public keys in a directory (*.pem, sorted by name); [] when the directory is missing. */
export function acceptedKeys(dir = KEYS_DIR): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((name) => name.endsWith(".pem"))
    .sort()
    .map((name) => {
      const pem = readFileSync(join(dir, name), "utf8");
      const key = createPublicKey(pem);
      if (key.asymmetricKeyType !== "ed25519") throw new Error(`${join(dir, name)} is not an Ed25519 public key`);
      return publicKeyPem(key);
    });
}

/** Writes `<path>.sig` (raw Ed25519 signature of the file's bytes) and returns its path. */
export function signFile(path: string, key: KeyObject): string {
  const signature = sign(null, readFileSync(path), key);
  writeFileSync(`${path}.sig`, signature);
  return `${path}.sig`;
}

/** True when `sigPath` is a valid signature of `path` by any of the PEM public keys. */
export function verifyFile(path: string, sigPath: string, publicKeys: readonly string[]): boolean {
  const data = readFileSync(path);
  const signature = readFileSync(sigPath);
  return publicKeys.some((pem) => verify(null, data, createPublicKey(pem), signature));
}

const KEYS_BEGIN = "# BEGIN RELEASE KEYS";
const KEYS_END = "# END RELEASE KEYS";

/** install.sh with the accepted public keys written between its release-key markers. */
export function renderInstallScript(template: string, publicKeys: readonly string[]): string {
  const start = template.indexOf(KEYS_BEGIN);
  const end = template.indexOf(KEYS_END);
  if (start < 0 || end < start) throw new Error("install.sh has no release-key markers");
  for (const pem of publicKeys) {
    if (!/^-----BEGIN PUBLIC KEY-----\n[A-Za-z0-9+/=\n]+-----END PUBLIC KEY-----\n?$/.test(pem)) throw new Error("not a PEM public key");
  }
  const body = publicKeys.map((pem) => pem.trimEnd()).join("\n");
  const block = `${KEYS_BEGIN}\nrelease_keys() {\n    cat <<'ALPAMON_KEYS'\n${body}${body ? "\n" : ""}ALPAMON_KEYS\n}\n`;
  return template.slice(0, start) + block + template.slice(end);
}
