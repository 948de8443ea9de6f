// One fetch of the signer's public key (upstream-2026.md §1.3): a GET with no credentials (the key server is not
// the console), 10 s, at most 16 KiB of body, no redirects (a hop could only lead away from the configured
// source), the [ssl]/[signing] TLS options and the proxy of the environment. The body is checked against
// the schema below; nothing of it is trusted otherwise.
import * as v from "valibot";
import { proxyFor } from "../../console/proxy.ts";
import type { TlsOptions } from "../../console/tls.ts";
import { parseRfc3339 } from "../../platform/time.ts";
import { decodeBase64Exact } from "./verify.ts";

export const KEY_FETCH_TIMEOUT_MS = 10_000;
export const KEY_BODY_MAX_BYTES = 16 * 1024;

const KeyBody = v.object({
  algorithm: v.literal("Ed25519", "algorithm is not Ed25519"),
  public_key: v.string("public_key is not a string"),
  key_id: v.pipe(v.string("key_id is not a string"), v.nonEmpty("key_id is empty"), v.maxLength(256, "key_id is too long")),
  expires_at: v.optional(v.nullable(v.string("expires_at is not a string"))),
});

export interface FetchedKey {
  keyId: string;
  publicKey: string;
  /** Epoch ms from `expires_at`; undefined when absent. */
  expiresAt: number | undefined;
  /** Set when `expires_at` was present but not RFC 3339 (the key then gets the default lifetime). */
  badExpiry?: true;
}

export type KeyFetchResult = { ok: true; key: FetchedKey } | { ok: false; error: string };

export interface KeyFetchOptions {
  tls: TlsOptions;
  userAgent: string;
  env?: Record<string, string | undefined>;
  fetch?: typeof fetch;
  timeoutMs?: number;
}

async function boundedText(response: Response, max: number): Promise<string | undefined> {
  const reader = response.body?.getReader();
  if (!reader) return "";
  const parts: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.length;
    if (size > max) {
      await reader.cancel().catch(() => {});
      return undefined;
    }
    parts.push(value);
  }
  return Buffer.concat(parts).toString("utf8");
}

export async function fetchSigningKey(url: string, options: KeyFetchOptions): Promise<KeyFetchResult> {
  const timeoutMs = options.timeoutMs ?? KEY_FETCH_TIMEOUT_MS;
  const signal = AbortSignal.timeout(timeoutMs);
  const proxy = proxyFor(url, options.env ?? process.env);
  let response: Response;
  try {
    response = await (options.fetch ?? fetch)(url, {
      method: "GET",
      headers: { Accept: "application/json", "User-Agent": options.userAgent },
      redirect: "manual",
      signal,
      tls: options.tls,
      ...(proxy ? { proxy } : {}),
    } as RequestInit);
  } catch (err) {
    return { ok: false, error: signal.aborted ? `no answer within ${timeoutMs} ms` : (err as Error).message };
  }
  try {
    if (response.status !== 200) {
      await response.body?.cancel().catch(() => {});
      return {
        ok: false,
        error: `status ${response.status}${response.status >= 300 && response.status < 400 ? " (redirects are not followed)" : ""}`,
      };
    }
    const text = await boundedText(response, KEY_BODY_MAX_BYTES);
    if (text === undefined) return { ok: false, error: `body larger than ${KEY_BODY_MAX_BYTES} bytes` };
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      return { ok: false, error: "body is not JSON" };
    }
    const parsed = v.safeParse(KeyBody, json);
    if (!parsed.success) return { ok: false, error: parsed.issues[0].message };
    const body = parsed.output;
    if (!decodeBase64Exact(body.public_key, 32)) return { ok: false, error: "public_key is not base64 of 32 bytes" };
    const expiresAt = body.expires_at ? parseRfc3339(body.expires_at) : undefined;
    return {
      ok: true,
      key: {
        keyId: body.key_id,
        publicKey: body.public_key,
        expiresAt,
        ...(body.expires_at && expiresAt === undefined ? { badExpiry: true as const } : {}),
      },
    };
  } catch (err) {
    return { ok: false, error: signal.aborted ? `no answer within ${timeoutMs} ms` : (err as Error).message };
  }
}
