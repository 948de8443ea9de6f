// The console's command signer and its public-key server, for tests (upstream-2026.md §1): TestSigner signs a
// command's canonical payload with a throwaway Ed25519 key (or wrongly, on purpose); KeyServer is mounted on
// the fake console's own origin and serves `GET /api/commands/public-key/` with no authentication, as
// alpacon.ai does, answering whatever the test sets (a signer's key, an error, nothing).
import { createHash, generateKeyPairSync, type KeyObject, sign } from "node:crypto";
import type { ServerWebSocket } from "bun";
import { canonicalPayload, type SignedFields } from "../../src/commands/signing/payload.ts";
import type { MountedSocketData, SocketMount } from "./fake-console-types.ts";

export const KEY_PATH = "/api/commands/public-key/";

export class TestSigner {
  readonly publicKey: string;
  private readonly privateKey: KeyObject;

  constructor(readonly keyId: string) {
    const pair = generateKeyPairSync("ed25519");
    this.privateKey = pair.privateKey;
    // The raw 32 bytes are the last 32 of the SPKI DER.
    this.publicKey = pair.publicKey.export({ format: "der", type: "spki" }).subarray(-32).toString("base64");
  }

  /** Standard base64 of the signature over the canonical payload, with `serverId` as the agent's id. */
  sign(command: SignedFields, serverId: string): string {
    return sign(null, canonicalPayload(command, serverId), this.privateKey).toString("base64");
  }

  /** The key server's body for this key. */
  keyBody(expiresAt?: string): Record<string, unknown> {
    return {
      algorithm: "Ed25519",
      public_key: this.publicKey,
      key_id: this.keyId,
      valid_from: "2026-01-01T00:00:00Z",
      ...(expiresAt ? { expires_at: expiresAt } : {}),
    };
  }

  /** `public_keys` entry for alpamon.conf. */
  pin(): string {
    return `${this.keyId}:${this.publicKey}`;
  }
}

/** What the key server answers: a JSON body (status 200 unless given) or an error status. */
export type KeyAnswer = { status?: number; body: unknown } | { status: number; body?: unknown };

export class KeyServer implements SocketMount {
  private server: ReturnType<typeof Bun.serve> | undefined;
  /** Every request that reached the key path, with its headers (lower-case names) and query. */
  readonly requests: { headers: Record<string, string>; search: string }[] = [];
  answer: KeyAnswer;

  constructor(signer: TestSigner) {
    this.answer = { body: signer.keyBody() };
  }

  serve(signer: TestSigner, expiresAt?: string): void {
    this.answer = { body: signer.keyBody(expiresAt) };
  }

  down(status = 503): void {
    this.answer = { status, body: { detail: "unavailable" } };
  }

  handle(req: Request): Response | null {
    const url = new URL(req.url);
    if (url.pathname !== KEY_PATH) return null;
    this.requests.push({ headers: Object.fromEntries(req.headers.entries()), search: url.search });
    const { status = 200, body } = this.answer;
    const text = body === undefined ? "" : typeof body === "string" ? body : JSON.stringify(body);
    return new Response(text, { status, headers: { "Content-Type": "application/json" } });
  }

  /** Serves on its own loopback port too (a key server that outlives one fake console); returns the key URL. */
  listen(): string {
    this.server = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: (req) => this.handle(req) ?? new Response("", { status: 404 }) });
    return `http://127.0.0.1:${this.server.port}${KEY_PATH}`;
  }

  async stop(): Promise<void> {
    await this.server?.stop(true);
  }

  open(_ws: ServerWebSocket<MountedSocketData>): void {}
  message(_ws: ServerWebSocket<MountedSocketData>, _message: string | Buffer): void {}
  close(_ws: ServerWebSocket<MountedSocketData>, _code: number): void {}
}

/** SHA-256 hex, for the spec's payload checks. */
export function sha256Hex(bytes: Uint8Array): string {
  return createHash("sha256").update(bytes).digest("hex");
}
