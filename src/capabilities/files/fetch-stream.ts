// HTTP for streaming transfers: redirects followed by hand so the console's Authorization header goes only to
// the console's own origin (ConsoleHttp.authorizationFor, re-decided at every hop), the agent's TLS and proxy
// settings, and an idle watchdog that cancels a transfer with no progress. Never buffers a body, and never
// fetches anything but http(s): Bun's fetch reads file: URLs, so a redirect to one would read a file as root.
import type { ConsoleHttp } from "../../console/http.ts";

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

/** Why a transfer refuses to follow: a scheme other than http(s), or a chain longer than MAX_REDIRECTS. */
export class TransferRefused extends Error {}

/** Scheme and host only: a transfer URL may carry a token in its path or query. */
function origin(url: URL): string {
  return url.host ? `${url.protocol}//${url.host}` : url.protocol;
}

/** The next URL to fetch; refuses anything but http(s), since Bun's fetch also reads file:, data: and s3: URLs. */
function checkedUrl(location: string, base: URL | undefined): URL {
  let url: URL;
  try {
    url = new URL(location, base);
  } catch {
    throw new TransferRefused(base ? `${origin(base)} redirected to a location that is not a valid URL` : "the URL is not valid");
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    const what = `a ${url.protocol} URL; only http and https are allowed`;
    throw new TransferRefused(base ? `refused a redirect from ${origin(base)} to ${what}` : `refused ${what}`);
  }
  return url;
}

export async function fetchTransfer(http: TransferHttp, url: string, request: StreamRequest): Promise<Response> {
  let current = checkedUrl(url, undefined);
  for (let hop = 0; ; hop++) {
    const href = current.toString();
    const proxy = http.proxyFor(href);
    // redirect "manual" never follows on its own in Bun (checked on 1.4.5): every hop passes checkedUrl.
    const response = await fetch(href, {
      method: request.method,
      headers: { "User-Agent": request.userAgent, ...request.headers, ...http.authorizationFor(href) },
      ...(request.body ? { body: request.body } : {}),
      redirect: "manual",
      signal: request.signal,
      tls: http.tls,
      ...(proxy ? { proxy } : {}),
    } as RequestInit);
    const location = response.headers.get("location");
    // A streamed body cannot be sent twice, so only GETs follow redirects.
    if (request.method !== "GET" || response.status < 300 || response.status > 399 || !location) return response;
    await response.body?.cancel();
    if (hop >= MAX_REDIRECTS) throw new TransferRefused(`too many redirects (more than ${MAX_REDIRECTS}, last from ${origin(current)})`);
    current = checkedUrl(location, current);
  }
}

/**
 * Stops a transfer whose source sends nothing for `idleMs` while it is waited on (the time a sink takes is not
 * idle time): one timer per transfer, re-armed lazily, instead of a timer and a race per chunk. `onExpire`
 * cancels the source; the reader then checks `expired` after every read, because a cancelled reader ends as if
 * the stream were complete.
 */
export class IdleWatchdog {
  expired = false;
  private waitingSince: number | undefined;
  private timer: ReturnType<typeof setTimeout> | undefined;

  constructor(
    private readonly idleMs: number,
    private readonly onExpire: () => void,
  ) {
    this.arm(idleMs);
  }

  /** A wait for the source's next chunk begins. */
  wait(): void {
    this.waitingSince = performance.now();
  }

  /** The wait ended: a chunk (or the end) arrived. */
  progress(): void {
    this.waitingSince = undefined;
  }

  /** The error a transfer stopped by the watchdog fails with. */
  error(): Error {
    return new Error(`no data for ${Math.round(this.idleMs / 1000)} s`);
  }

  stop(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  private arm(ms: number): void {
    this.timer = setTimeout(() => {
      const quiet = this.waitingSince === undefined ? 0 : performance.now() - this.waitingSince;
      if (quiet < this.idleMs) return this.arm(this.idleMs - quiet);
      this.expired = true;
      this.onExpire();
    }, ms);
  }
}
