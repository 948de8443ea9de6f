// Ed25519 (RFC 8032, pure) through the runtime's own crypto: no curve code of ours.
import { createPublicKey, type KeyObject, verify } from "node:crypto";

/** SubjectPublicKeyInfo DER header of an Ed25519 key (RFC 8410): the 32 raw key bytes follow it. */
const ED25519_SPKI_PREFIX = Buffer.from("302a300506032b6570032100", "hex");
const STD_BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

/** Standard base64 with padding (RFC 4648 §4) of exactly `length` bytes, or undefined. */
export function decodeBase64Exact(text: string, length: number): Buffer | undefined {
  if (text.length % 4 !== 0 || !STD_BASE64.test(text)) return undefined;
  const bytes = Buffer.from(text, "base64");
  return bytes.length === length ? bytes : undefined;
}

/** A verifying key from the 32 raw bytes (base64 as the key server and `public_keys` give them), or undefined. */
export function ed25519PublicKey(base64: string): KeyObject | undefined {
  const raw = decodeBase64Exact(base64, 32);
  if (!raw) return undefined;
  try {
    return createPublicKey({ key: Buffer.concat([ED25519_SPKI_PREFIX, raw]), format: "der", type: "spki" });
  } catch {
    return undefined;
  }
}

/** True when `signature` (64 bytes) is `key`'s Ed25519 signature of `message`. */
export function verifyEd25519(key: KeyObject, message: Uint8Array, signature: Uint8Array): boolean {
  try {
    return verify(null, message, key, signature);
  } catch {
    return false;
  }
}
