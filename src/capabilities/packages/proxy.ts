// `package_proxy` from the `upgrade` command's data (upstream-2026 §7.1): which values are accepted and the
// environment they give the package-manager child. The URL may carry credentials, so it only ever travels as
// an environment value: never in argv, never in a log line (a rejection names the reason, not the value).

export const PROXY_SCHEMES: ReadonlySet<string> = new Set(["http", "https", "socks5", "socks5h"]);

/** Always bypassed: loopback and the cloud metadata endpoints; the console's host is added after them. */
const NO_PROXY_BASE = ["localhost", "127.0.0.1", "::1", "169.254.169.254", "fd00:ec2::254", "metadata.google.internal"];

/** `scheme://` followed by an authority; "http:///x" would otherwise be normalised into host "x". */
const WITH_AUTHORITY = /^[A-Za-z][A-Za-z0-9+.-]*:\/\/[^/?#]/;

export type ProxyChoice =
  | { kind: "none" }
  | { kind: "proxy"; url: string }
  /** Why the value was ignored, in words that never include the value. */
  | { kind: "ignored"; reason: string };

/** The proxy a `package_proxy` value names; absent or empty means none, anything invalid is ignored. */
export function choosePackageProxy(raw: unknown): ProxyChoice {
  if (raw === undefined || raw === null || raw === "") return { kind: "none" };
  if (typeof raw !== "string") return { kind: "ignored", reason: "not a string" };
  // Go's url.Parse refuses control characters; a space has no place in a proxy URL either.
  // biome-ignore lint/suspicious/noControlCharactersInRegex: refusing control characters is the point
  if (/[\u0000-\u0020\u007f]/.test(raw)) return { kind: "ignored", reason: "contains whitespace or control characters" };
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return { kind: "ignored", reason: "not a URL" };
  }
  if (!PROXY_SCHEMES.has(url.protocol.slice(0, -1))) return { kind: "ignored", reason: "scheme is not http, https, socks5 or socks5h" };
  if (!WITH_AUTHORITY.test(raw) || url.hostname === "") return { kind: "ignored", reason: "no host" };
  return { kind: "proxy", url: raw };
}

/** The host of the console's URL, without IPv6 brackets; undefined when there is none. */
export function consoleHostOf(serverUrl: string | undefined): string | undefined {
  if (!serverUrl) return undefined;
  try {
    return new URL(serverUrl).hostname.replace(/^\[(.*)\]$/, "$1") || undefined;
  } catch {
    return undefined;
  }
}

/** The variables the package-manager child gets for `proxyUrl` (both spellings: tools differ in which they read). */
export function proxyEnvironment(proxyUrl: string, consoleHost?: string): Record<string, string> {
  const noProxy = [...NO_PROXY_BASE, ...(consoleHost ? [consoleHost] : [])].join(",");
  return {
    http_proxy: proxyUrl,
    https_proxy: proxyUrl,
    HTTP_PROXY: proxyUrl,
    HTTPS_PROXY: proxyUrl,
    no_proxy: noProxy,
    NO_PROXY: noProxy,
  };
}
