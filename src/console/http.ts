// The one HTTP client for every console call: Authorization and User-Agent headers, JSON bodies, per-call
// timeouts, the shared TLS options and proxy. It only takes paths on the console's own origin, so the
// server key can never be sent anywhere else; absolute URLs go through `authorizationFor`.
// And the one WebSocket dialer (dialWebSocket) for the backhaul, terminal and file-manager sockets.
import type { RequestMethod } from "../db/outbox-store.ts";
import type { Logger } from "../log/logger.ts";
import { proxyFor } from "./proxy.ts";
import type { TlsOptions } from "./tls.ts";

export type HttpMethod = RequestMethod;

export interface HttpResult {
  /** HTTP status, or 0 when no response arrived (network error, timeout, abort). */
  status: number;
  /** The response body as text ("" when none). */
  text: string;
  /** Why no response arrived (status 0 only). */
  error?: string;
}

export interface RequestOptions {
  /** JSON-encoded unless it is already a string. Undefined sends no body. */
  body?: unknown;
  timeoutMs?: number;
  signal?: AbortSignal;
  /** Extra headers (X-Sync-Hash); they never replace Authorization, User-Agent or Content-Type. */
  headers?: Record<string, string>;
}

export interface ConsoleHttpOptions {
  serverUrl: string;
  id: string;
  key: string;
  tls: TlsOptions;
  userAgent: string;
  log: Logger;
  env?: Record<string, string | undefined>;
  fetch?: typeof fetch;
}

export const DEFAULT_TIMEOUT_MS = 10_000;

/** `Authorization: id="<id>", key="<key>"`; config validation guarantees neither contains a quote. */
export function authorizationHeader(id: string, key: string): string {
  return `id="${id}", key="${key}"`;
}

export function isSuccess(status: number): boolean {
  return status >= 200 && status < 300;
}

export class ConsoleHttp {
  readonly origin: string;
  private readonly fetchImpl: typeof fetch;

  constructor(private readonly options: ConsoleHttpOptions) {
    this.origin = new URL(options.serverUrl).origin;
    this.fetchImpl = options.fetch ?? fetch;
  }

  get serverUrl(): string {
    return this.options.serverUrl;
  }

  get tls(): TlsOptions {
    return this.options.tls;
  }

  /**
   * The headers for a WebSocket handshake to `url` (default: the console itself): Authorization (only on the
   * console's own origin), Origin and User-Agent, in that order.
   */
  websocketHeaders(url: string = this.options.serverUrl): Record<string, string> {
    return {
      ...this.authorizationFor(url),
      Origin: this.options.serverUrl,
      "User-Agent": this.options.userAgent,
    };
  }

  /** The proxy for a URL (HTTPS_PROXY/HTTP_PROXY/NO_PROXY), for fetch and WebSocket alike. */
  proxyFor(url: string): string | undefined {
    return proxyFor(url, this.options.env ?? process.env);
  }

  /** True when `url` has the console's scheme, host and port. */
  isConsoleOrigin(url: string): boolean {
    try {
      const u = new URL(url);
      const asHttp = u.protocol === "wss:" ? "https:" : u.protocol === "ws:" ? "http:" : u.protocol;
      return `${asHttp}//${u.host}` === this.origin;
    } catch {
      return false;
    }
  }

  /** The Authorization header for an absolute URL: only on the console's own origin, else nothing. */
  authorizationFor(url: string): Record<string, string> {
    return this.isConsoleOrigin(url) ? { Authorization: authorizationHeader(this.options.id, this.options.key) } : {};
  }

  /** Joins a console path (must start with "/") to the server URL, keeping any path prefix of the URL. */
  url(path: string): string {
    if (!path.startsWith("/") || path.startsWith("//")) throw new Error(`console path must start with one "/": ${path}`);
    return this.options.serverUrl + path;
  }

  async request(method: HttpMethod, path: string, options: RequestOptions = {}): Promise<HttpResult> {
    const url = this.url(path);
    const headers: Record<string, string> = {
      ...options.headers,
      Authorization: authorizationHeader(this.options.id, this.options.key),
      "User-Agent": this.options.userAgent,
      Accept: "application/json",
    };
    if (method === "POST" || method === "PUT" || method === "PATCH") headers["Content-Type"] = "application/json";
    const body = options.body === undefined ? undefined : typeof options.body === "string" ? options.body : JSON.stringify(options.body);
    // One controller and one timer per request, both released when it ends: AbortSignal.timeout and
    // AbortSignal.any leave more garbage per request than the GC counts (bench/stream.ts, BENCHMARKS.md).
    const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    const abort = new AbortController();
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      abort.abort(new Error(`timed out after ${timeoutMs} ms`));
    }, timeoutMs);
    const outer = options.signal;
    const onOuterAbort = () => abort.abort(outer?.reason);
    if (outer?.aborted) onOuterAbort();
    else outer?.addEventListener("abort", onOuterAbort, { once: true });
    const proxy = this.proxyFor(url);
    try {
      const response = await this.fetchImpl(url, {
        method,
        headers,
        body,
        signal: abort.signal,
        redirect: "manual", // a redirect could carry the Authorization header to another origin
        tls: this.options.tls,
        ...(proxy ? { proxy } : {}),
      } as RequestInit);
      const text = await response.text();
      return { status: response.status, text };
    } catch (err) {
      const error = timedOut ? `timed out after ${timeoutMs} ms` : (err as Error).message;
      return { status: 0, text: "", error };
    } finally {
      clearTimeout(timer);
      outer?.removeEventListener("abort", onOuterAbort);
    }
  }
}

/** What the WebSocket dialer needs of the HTTP client (ConsoleHttp is one). */
export type WebSocketClient = Pick<ConsoleHttp, "websocketHeaders" | "tls" | "proxyFor">;

export interface DialOptions {
  /** How binary frames arrive; Bun's default ("nodebuffer") when not given. */
  binaryType?: WebSocket["binaryType"];
}

/**
 * The one WebSocket dialer: every socket to the console (backhaul, terminal, file manager) opens here, with
 * the handshake headers (the server's credentials only on the console's origin), the [ssl] TLS options, the
 * proxy for the URL and no permessage-deflate (like the reference's zero-value dialer: frames are small and
 * CPU is the host's). Returns the socket at once, connecting; a URL Bun refuses throws.
 */
export function dialWebSocket(http: WebSocketClient, url: string, options: DialOptions = {}): WebSocket {
  const proxy = http.proxyFor(url);
  // Bun's client takes headers, tls, proxy and perMessageDeflate in its constructor (Bun.WebSocketOptions),
  // beyond the standard (url, protocols).
  const init: Bun.WebSocketOptions = {
    headers: http.websocketHeaders(url),
    tls: http.tls,
    perMessageDeflate: false,
    ...(proxy ? { proxy } : {}),
  };
  const ws = new WebSocket(url, init);
  if (options.binaryType) ws.binaryType = options.binaryType;
  return ws;
}
