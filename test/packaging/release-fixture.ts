// Builds a signed release directory for tests: the given binary as alpamon-linux-<host>, a .deb and an .rpm
// of it, SHA256SUMS, SHA256SUMS.sig and install.sh, signed with a throwaway Ed25519 key made here (the real
// release key never exists on a test machine).
import { generateKeyPairSync } from "node:crypto";
import { copyFileSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { hostTarget, type Target } from "../../build.ts";
import { buildDeb, buildRpm } from "../../packaging/package.ts";
import { signRelease, writeSums } from "../../packaging/release.ts";

export interface TestKeys {
  /** Directory holding the accepted public key (public.pem). */
  keysDir: string;
  privatePem: string;
  publicPem: string;
}

export function makeKeys(dir: string, name = "public.pem"): TestKeys {
  const { privateKey, publicKey } = generateKeyPairSync("ed25519");
  const privatePem = privateKey.export({ type: "pkcs8", format: "pem" }).toString();
  const publicPem = publicKey.export({ type: "spki", format: "pem" }).toString();
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, name), publicPem);
  return { keysDir: dir, privatePem, publicPem };
}

export interface Release {
  dir: string;
  target: Target;
  binary: string;
  deb: string;
  rpm: string;
}

/** A complete signed release of `binary` (host architecture) in `dir`. */
export async function makeRelease(dir: string, binary: string, version: string, keys: TestKeys, xzLevel = 0): Promise<Release> {
  mkdirSync(dir, { recursive: true });
  const target = hostTarget();
  const bin = join(dir, `alpamon-linux-${target.name}`);
  if (binary !== bin) copyFileSync(binary, bin);
  const req = { target, version, binary: bin, outdir: dir, xzLevel };
  const deb = buildDeb(req, [keys.publicPem]);
  const rpm = buildRpm(req, [keys.publicPem]);
  await writeSums(dir, [bin, deb, rpm]);
  signRelease(dir, { keysDir: keys.keysDir, env: { ALPAMON_SIGNING_KEY: keys.privatePem } });
  return { dir, target, binary: bin, deb, rpm };
}
