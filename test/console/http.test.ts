// The console HTTP client against real sockets: credentials stay on the console's origin, redirects are not
// followed, timeouts answer status 0, and HTTP(S)_PROXY / NO_PROXY decide the route.
import { afterEach, describe, expect, test } from "bun:test";
import { ConsoleHttp, authorizationHeader, dialWebSocket } from "../../src/console/http.ts";
import { proxyFor } from "../../src/console/proxy.ts";
import { silentLogger } from "../../src/log/logger.ts";
import { FakeConsole } from "./fake-console.ts";
import { startAgent } from "../helpers/agent.ts";
import { useTempDirs } from "../helpers/tmp.ts";

const tempDir = useTempDirs("alpamon-http-");
const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

function client(fake: FakeConsole, env: Record<string, string> = {}) {
  return new ConsoleHttp({
    serverUrl: fake.url,
    id: fake.id,
    key: fake.key,
    tls: { rejectUnauthorized: true },
    userAgent: "alpamon/test",
    log: silentLogger,
    env,
  });
}

describe("proxy selection", () => {
  const env = { HTTPS_PROXY: "http://proxy:3128", HTTP_PROXY: "http://plain:8080" };
  test.each([
    ["https://console.example.com", env, "http://proxy:3128"],
    ["wss://console.example.com/ws/", env, "http://proxy:3128"],
    ["http://console.example.com", env, "http://plain:8080"],
    ["ws://console.example.com", env, "http://plain:8080"],
    ["https://console.example.com", { ...env, NO_PROXY: "example.com" }, undefined],
    ["https://console.example.com", { ...env, NO_PROXY: ".example.com" }, undefined],
    ["https://console.example.com", { ...env, NO_PROXY: "*" }, undefined],
    ["https://console.example.com:8443", { ...env, NO_PROXY: "console.example.com:443" }, "http://proxy:3128"],
    ["https://console.example.com:8443", { ...env, NO_PROXY: "console.example.com:8443" }, undefined],
    ["https://notexample.com", { ...env, NO_PROXY: "example.com" }, "http://proxy:3128"],
    ["http://127.0.0.1:8000", { http_proxy: "http://lower:1", no_proxy: "localhost, 127.0.0.1" }, undefined],
    ["https://console.example.com", {}, undefined],
  ] as const)("%s with %o → %s", (url, e, expected) => {
    expect(proxyFor(url, e)).toBe(expected);
  });
});

describe("ConsoleHttp", () => {
  test("the exact Authorization format, and credentials only for the console's origin", async () => {
    const fake = await FakeConsole.start();
    cleanups.push(() => fake.stop());
    const http = client(fake);
    expect(authorizationHeader("a", "b")).toBe('id="a", key="b"');
    expect(http.isConsoleOrigin(`${fake.url}/api/x/`)).toBe(true);
    expect(http.isConsoleOrigin(`${fake.url.replace("http://", "ws://")}/ws/`)).toBe(true);
    expect(http.isConsoleOrigin(fake.url.replace("127.0.0.1", "localhost"))).toBe(false);
    expect(http.isConsoleOrigin("https://evil.example/")).toBe(false);
    expect(http.authorizationFor("https://evil.example/upload")).toEqual({});
    expect(http.authorizationFor(`${fake.url}/api/upload/`)).toEqual({ Authorization: `id="${fake.id}", key="${fake.key}"` });
    expect(() => http.url("https://evil.example/x")).toThrow(/must start with one/);
    expect(() => http.url("//evil.example/x")).toThrow(/must start with one/);
  });

  test("a redirect to another origin is not followed, so the key never leaves", async () => {
    const seen: (string | null)[] = [];
    const thief = Bun.serve({
      hostname: "127.0.0.1",
      port: 0,
      fetch: (req) => {
        seen.push(req.headers.get("authorization"));
        return new Response("ok");
      },
    });
    cleanups.push(() => thief.stop(true));
    const fake = await FakeConsole.start();
    cleanups.push(() => fake.stop());
    fake.route("GET", "/api/redirect/", () => ({ status: 302, headers: { Location: `http://127.0.0.1:${thief.port}/steal` } }));
    const result = await client(fake).request("GET", "/api/redirect/");
    expect(result.status).toBe(302);
    expect(seen).toEqual([]);
  });

  test("a slow console answers status 0 with a timeout message", async () => {
    const fake = await FakeConsole.start();
    cleanups.push(() => fake.stop());
    fake.fault({ path: "/api/servers/servers/-/" }, { delayMs: 2_000 });
    const result = await client(fake).request("GET", "/api/servers/servers/-/", { timeoutMs: 200 });
    expect(result).toEqual({ status: 0, text: "", error: "timed out after 200 ms" });
  });
});

describe("dialWebSocket", () => {
  /** Resolves once the socket opened or failed. */
  function settle(ws: WebSocket): Promise<"open" | "failed"> {
    return new Promise((resolve) => {
      ws.addEventListener("open", () => resolve("open"), { once: true });
      ws.addEventListener("close", () => resolve("failed"), { once: true });
    });
  }

  test("one handshake for every socket: Authorization, Origin, User-Agent, no compression; binaryType as asked", async () => {
    const fake = await FakeConsole.start();
    cleanups.push(() => fake.stop());
    const ws = dialWebSocket(client(fake), `${fake.url.replace("http://", "ws://")}/ws/servers/backhaul/`, { binaryType: "arraybuffer" });
    cleanups.push(() => ws.terminate());
    expect(ws.binaryType).toBe("arraybuffer");
    expect(await settle(ws)).toBe("open");
    const headers = fake.handshakes[0]!.headers;
    expect(headers.authorization).toBe(`id="${fake.id}", key="${fake.key}"`);
    expect(headers.origin).toBe(fake.url);
    expect(headers["user-agent"]).toBe("alpamon/test");
    expect(headers["sec-websocket-extensions"]).toBeUndefined();
  });

  test("another origin gets Origin and User-Agent but never the server's credentials", async () => {
    const seen: Record<string, string>[] = [];
    const other = Bun.serve({
      hostname: "127.0.0.1",
      port: 0,
      fetch: (req) => {
        seen.push(Object.fromEntries(req.headers));
        return new Response("no", { status: 403 });
      },
    });
    cleanups.push(() => other.stop(true));
    const fake = await FakeConsole.start();
    cleanups.push(() => fake.stop());
    const ws = dialWebSocket(client(fake), `ws://127.0.0.1:${other.port}/ws/`);
    expect(await settle(ws)).toBe("failed");
    expect(seen).toHaveLength(1);
    expect(seen[0]!.authorization).toBeUndefined();
    expect(seen[0]!.origin).toBe(fake.url);
    expect(seen[0]!["user-agent"]).toBe("alpamon/test");
  });
});

describe("proxy environment in the agent", () => {
  test("HTTP_PROXY is used (a dead proxy means no request reaches the console); NO_PROXY bypasses it", async () => {
    const fake = await FakeConsole.start();
    cleanups.push(() => fake.stop());
    const proxied = startAgent(fake, tempDir(), { env: { HTTP_PROXY: "http://127.0.0.1:9" } });
    cleanups.push(() => proxied.stop());
    await proxied.waitForLog(/console session check failed; retrying/);
    expect(fake.requests).toHaveLength(0);
    await proxied.stop();

    const bypass = startAgent(fake, tempDir(), { env: { HTTP_PROXY: "http://127.0.0.1:9", NO_PROXY: "127.0.0.1" } });
    cleanups.push(() => bypass.stop());
    await fake.waitForBackhaul(15_000);
    expect((await fake.waitForFin(fake.sendCommand({ shell: "internal", line: "ping" }))).success).toBe(true);
  });
});
