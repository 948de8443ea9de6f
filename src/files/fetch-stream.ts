// HTTP for streaming transfers: redirects followed by hand so the console's Authorization header goes only to
// the console's own origin (ConsoleHttp.authorizationFor, re-decided at every hop), the agent's TLS and proxy
// settings, and an idle watchdog that cancels a transfer with no progress. Never buffers a body.
import type { ConsoleHttp } from "../console/http.ts";

export const IDLE_TIMEOUT_MS = 120_000;
const MAX_REDIRECTS = 5;

export type TransferHttp = Pick<ConsoleHttp, "authorizationFor" | "proxyFor" | "tls">;

export interface StreamRequest {
  method: "GET" | "POST" | "PUT";
  headers?: Record<string, string>;
  body?: ReadableStream<Uint8Array>;
  signal?: AbortSignal;
  userAgent: string;
}

export async function fetchTransfer(http: TransferHttp, url: string, request: StreamRequest): Promise<Response> {
  let current = url;
  for (let hop = 0; ; hop++) {
    const proxy = http.proxyFor(current);
    const response = await fetch(current, {
      method: request.method,
      headers: { "User-Agent": request.userAgent, ...request.headers, ...http.authorizationFor(current) },
      ...(request.body ? { body: request.body } : {}),
      redirect: "manual",
      signal: request.signal,
      tls: http.tls,
      ...(proxy ? { proxy } : {}),
    } as RequestInit);
    const location = response.headers.get("location");
    // A streamed body cannot be sent twice, so only GETs follow redirects.
    if (request.method !== "GET" || response.status < 300 || response.status > 399 || !location || hop >= MAX_REDIRECTS) return response;
    await response.body?.cancel();
    current = new URL(location, current).toString();
  }
}

/** Passes `source` through, erroring it when no chunk arrives for `idleMs`. */
export function withIdleTimeout(source: ReadableStream<Uint8Array>, idleMs: number): AsyncIterable<Uint8Array> {
  return {
    async *[Symbol.asyncIterator]() {
      const reader = source.getReader();
      try {
        for (;;) {
          let timer: ReturnType<typeof setTimeout> | undefined;
          const idle = new Promise<never>((_, reject) => {
            timer = setTimeout(() => reject(new Error(`no data for ${Math.round(idleMs / 1000)} s`)), idleMs);
          });
          try {
            const { done, value } = await Promise.race([reader.read(), idle]);
            if (done) return;
            yield value;
          } finally {
            clearTimeout(timer);
          }
        }
      } finally {
        await reader.cancel().catch(() => {});
      }
    },
  };
}
