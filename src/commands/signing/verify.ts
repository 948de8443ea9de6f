// Ed25519 (RFC 8032, pure) through the runtime's own crypto: no curve code of ours.
//
// node:crypto is looked up when the first signature is checked, not imported: in Bun it is a module of
// JavaScript over the native code, and loading it costs the process about 0.6 MB of anonymous memory for as
// long as it runs (BENCHMARKS.md, "Round 10"). An agent that is never sent a signed command (signing off, or a
// console that does not sign) never loads it. `process.getBuiltinModule` is synchronous and not an import, so
// the bundler leaves it where it is. WebCrypto's Ed25519 costs less memory but answers on another thread, which
// would put every signed command behind a promise and the gate's bound on waiting checks.
import type { KeyObject } from "node:crypto";

/** SubjectPublicKeyInfo DER header of an Ed25519 key (RFC 8410): the 32 raw key bytes follow it. */
const ED25519_SPKI_PREFIX = Buffer.from("302a300506032b6570032100", "hex");
const STD_BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

type NodeCrypto = typeof import("node:crypto");
let nodeCrypto: NodeCrypto | undefined;
function crypto(): NodeCrypto {
  nodeCrypto ??= process.getBuiltinModule("node:crypto") as NodeCrypto;
  return nodeCrypto;
}

/** Standard base64 with padding (RFC 4648 §4) of exactly `length` bytes, or undefined. */
export function decodeBase64Exact(text: string, length: number): Buffer | undefined {
  if (text.length % 4 !== 0 || !STD_BASE64.test(text)) return undefined;
  const bytes = Buffer.from(text, "base64");
  return bytes.length === length ? bytes : undefined;
}

/** An Ed25519 verifying key: its 32 raw bytes, made into the runtime's key object on its first check. */
export class Ed25519Key {
  /** The runtime's key; null when the runtime refused the bytes (every check then fails). */
  private key: KeyObject | null | undefined;
  constructor(readonly raw: Buffer) {}

  /** True when `signature` (64 bytes) is this key's signature of `message`. Never throws. */
  verify(message: Uint8Array, signature: Uint8Array): boolean {
    if (this.key === undefined) {
      try {
        this.key = crypto().createPublicKey({ key: Buffer.concat([ED25519_SPKI_PREFIX, this.raw]), format: "der", type: "spki" });
      } catch {
        this.key = null;
      }
    }
    if (this.key === null) return false;
    try {
      return crypto().verify(null, message, this.key, signature);
    } catch {
      return false;
    }
  }
}

/** A verifying key from the 32 raw bytes (base64 as the key server and `public_keys` give them), or undefined. */
export function ed25519PublicKey(base64: string): Ed25519Key | undefined {
  const raw = decodeBase64Exact(base64, 32);
  return raw ? new Ed25519Key(raw) : undefined;
}

/** True when `signature` (64 bytes) is `key`'s Ed25519 signature of `message`. */
export function verifyEd25519(key: Ed25519Key, message: Uint8Array, signature: Uint8Array): boolean {
  return key.verify(message, signature);
}
