// fetchTransfer fetches http(s) only, at every hop: Bun's fetch also reads file:, data: and s3: URLs, and a
// redirect to one would make the agent (root) read what it names. The chain is bounded; refusals name the
// scheme and the redirecting host, never a URL (it may carry a token).
import { afterAll, expect, test } from "bun:test";
import { fetchTransfer, TransferRefused, type TransferHttp } from "../../../src/capabilities/files/fetch-stream.ts";

const http: TransferHttp = { authorizationFor: () => ({}), proxyFor: () => undefined, tls: { rejectUnauthorized: true } };
const server = Bun.serve({
  hostname: "127.0.0.1",
  port: 0,
  fetch(req) {
    const to = new URL(req.url).searchParams.get("to");
    return to ? new Response(null, { status: 302, headers: { location: to } }) : new Response("ok");
  },
});
const base = `http://127.0.0.1:${server.port}`;
afterAll(() => server.stop(true));

const get = (url: string, method: "GET" | "POST" = "GET") => fetchTransfer(http, url, { method, userAgent: "t" });

test("a first URL that is not http(s) is refused before any fetch, for every method", async () => {
  for (const url of ["file:///etc/hostname", "data:text/plain,hi", "s3://bucket/key", "blob:x"]) {
    const err = await get(url).catch((e: Error) => e);
    expect(err).toBeInstanceOf(TransferRefused);
    expect((err as Error).message).toMatch(/^refused a [a-z0-9]+: URL; only http and https are allowed$/);
  }
  expect(await get("file:///etc/hostname", "POST").catch((e: Error) => e.message)).toBe(
    "refused a file: URL; only http and https are allowed",
  );
});

test("redirects to file:, data: and s3: are refused naming the host; token-bearing locations are never echoed", async () => {
  for (const to of ["file:///etc/shadow?token=T0K", "file:/etc/shadow", "data:text/plain,T0K", "s3://b/T0K"]) {
    const message = await get(`${base}/?to=${encodeURIComponent(to)}`).catch((e: Error) => e.message);
    expect(message).toBe(`refused a redirect from ${base} to a ${to.slice(0, to.indexOf(":") + 1)} URL; only http and https are allowed`);
    expect(message).not.toContain("T0K");
  }
});

test("a POST is never redirected: the 3xx comes back as the answer", async () => {
  expect((await get(`${base}/?to=${encodeURIComponent("file:///etc/shadow")}`, "POST")).status).toBe(302);
});
