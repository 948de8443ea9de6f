// HTTPS_PROXY / HTTP_PROXY / NO_PROXY, decided once per URL for fetch and WebSocket alike.
// Never sends console credentials to the proxy: they travel inside the tunnel, not in proxy headers.

function noProxyMatches(host: string, port: string, noProxy: string): boolean {
  const hostname = host.toLowerCase();
  for (const raw of noProxy.split(/[,\s]+/)) {
    const entry = raw.trim().toLowerCase();
    if (!entry) continue;
    if (entry === "*") return true;
    const [name, entryPort] = entry.split(/:(?=\d+$)/);
    if (entryPort && entryPort !== port) continue;
    const bare = name!.replace(/^\*?\./, "");
    if (hostname === bare || hostname.endsWith(`.${bare}`)) return true;
  }
  return false;
}

/** The proxy URL to use for `target`, or undefined to connect directly. */
export function proxyFor(target: string, env: Record<string, string | undefined> = process.env): string | undefined {
  const url = new URL(target);
  const secure = url.protocol === "https:" || url.protocol === "wss:";
  const proxy = secure
    ? env.HTTPS_PROXY || env.https_proxy || env.ALL_PROXY || env.all_proxy
    : env.HTTP_PROXY || env.http_proxy || env.ALL_PROXY || env.all_proxy;
  if (!proxy) return undefined;
  const noProxy = env.NO_PROXY ?? env.no_proxy ?? "";
  const port = url.port || (secure ? "443" : "80");
  if (noProxyMatches(url.hostname.replace(/^\[|\]$/g, ""), port, noProxy)) return undefined;
  return proxy;
}
