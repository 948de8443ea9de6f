// Proves the fake console itself: authentication, the Origin rule, the 2024/2025/2026 dialects' ack/fin (and the
// 2026 chunks and pings), fault injection and TLS. Every later console test trusts this fixture, so it must be able to fail here first.
import { afterEach, describe, expect, test } from "bun:test";
import { existsSync } from "node:fs";
import { dirname } from "node:path";
import { FakeConsole, type FakeConsoleOptions } from "./fake-console.ts";
import { eventually } from "./fake-console-waits.ts";

const consoles: FakeConsole[] = [];
const sockets: WebSocket[] = [];

afterEach(async () => {
  for (const ws of sockets.splice(0)) ws.terminate();
  await Promise.all(consoles.splice(0).map((c) => c.stop()));
});

async function start(options: FakeConsoleOptions = {}): Promise<FakeConsole> {
  const fake = await FakeConsole.start(options);
  consoles.push(fake);
  return fake;
}

function auth(fake: FakeConsole, key = fake.key): string {
  return `id="${fake.id}", key="${key}"`;
}

async function call(fake: FakeConsole, method: string, path: string, options: { body?: unknown; authorization?: string | null } = {}) {
  const headers: Record<string, string> = { "User-Agent": "alpamon/test" };
  const authorization = options.authorization === undefined ? auth(fake) : options.authorization;
  if (authorization !== null) headers.Authorization = authorization;
  if (options.body !== undefined) headers["Content-Type"] = "application/json";
  const body = options.body === undefined ? undefined : typeof options.body === "string" ? options.body : JSON.stringify(options.body);
  const response = await fetch(fake.url + path, { method, headers, body });
  const text = await response.text();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: response.status, text, json };
}

interface Dialed {
  ws: WebSocket;
  frames: string[];
  opened: Promise<boolean>;
  error: () => string | undefined;
}

function dial(fake: FakeConsole, headers: Record<string, string>, tls?: { ca?: string; rejectUnauthorized?: boolean }): Dialed {
  const ws = new WebSocket(fake.backhaulUrl, { headers, ...(tls ? { tls } : {}) });
  sockets.push(ws);
  const frames: string[] = [];
  let error: string | undefined;
  ws.addEventListener("message", (ev) => frames.push(String(ev.data)));
  ws.addEventListener("error", (ev) => (error = (ev as ErrorEvent).message));
  const opened = new Promise<boolean>((resolve) => {
    ws.addEventListener("open", () => resolve(true));
    ws.addEventListener("close", () => resolve(false));
  });
  return { ws, frames, opened, error: () => error };
}

describe("HTTP authentication and routes", () => {
  test("the server detail needs the id and key; a wrong key or none is a 403 with the console's detail", async () => {
    const fake = await start({ commissioned: true });
    const ok = await call(fake, "GET", "/api/servers/servers/-/");
    expect(ok.status).toBe(200);
    expect(ok.json).toMatchObject({ id: fake.id, commissioned: true, is_connected: false });

    for (const authorization of [auth(fake, "wrong"), null, `id="${fake.id}"`]) {
      const denied = await call(fake, "GET", "/api/servers/servers/-/", { authorization });
      expect(denied.status).toBe(403);
      expect(denied.json).toEqual({ detail: "Authentication credentials were not provided." });
    }
  });

  test("the console's regex: the unquoted form passes, a key with other characters is cut and fails", async () => {
    const fake = await start();
    expect((await call(fake, "GET", "/api/servers/servers/-/", { authorization: `id=${fake.id} key=${fake.key}` })).status).toBe(200);
    expect((await call(fake, "GET", "/api/servers/servers/-/", { authorization: `id="${fake.id}", key="${fake.key}+x"` })).status).toBe(
      200,
    );
    const cut = await start({ key: "ab+c" });
    expect((await call(cut, "GET", "/api/servers/servers/-/", { authorization: auth(cut, "ab+c") })).status).toBe(403);
  });

  test("unknown routes are 404 even without credentials; a known path with the wrong method is 405", async () => {
    const fake = await start();
    const missing = await call(fake, "GET", "/api/nothing/here/", { authorization: null });
    expect(missing.status).toBe(404);
    expect(missing.json).toEqual({ detail: "Not found." });
    expect((await call(fake, "DELETE", "/api/servers/servers/-/")).status).toBe(405);
  });

  test("every request is recorded with lower-case header names, body text and parsed JSON", async () => {
    const fake = await start();
    await call(fake, "POST", "/api/events/events/", { body: { reporter: "alpamon", record: "started", description: "d" } });
    const [recorded] = fake.requests;
    expect(recorded).toMatchObject({ method: "POST", path: "/api/events/events/", status: 201 });
    expect(recorded!.headers["user-agent"]).toBe("alpamon/test");
    expect(recorded!.headers.authorization).toBe(auth(fake));
    expect(recorded!.json).toEqual({ reporter: "alpamon", record: "started", description: "d" });
    expect(JSON.parse(recorded!.body)).toEqual(recorded!.json as object);
  });

  test("events: 201 echo; `committed` sets commissioned; a missing record is a 400", async () => {
    const fake = await start();
    const created = await call(fake, "POST", "/api/events/events/", {
      body: { reporter: "alpamon", record: "committed", description: "x" },
    });
    expect(created.status).toBe(201);
    expect(created.json).toEqual({ record: "committed", reporter: "alpamon", description: "x", data: null });
    expect((await call(fake, "GET", "/api/servers/servers/-/")).json).toMatchObject({ commissioned: true });
    expect((await call(fake, "POST", "/api/events/events/", { body: { reporter: "alpamon" } })).status).toBe(400);
  });

  test("history logs: 201 in 2025, 404 in 2024; the 2024 commit wants load as an object", async () => {
    const now = await start();
    const old = await start({ dialect: "2024" });
    const record = { date: "d", level: 20, program: "alpamon", path: "p", lineno: 1, pid: 1, msg: "m" };
    expect((await call(now, "POST", "/api/history/logs/", { body: record })).status).toBe(201);
    expect((await call(old, "POST", "/api/history/logs/", { body: record })).status).toBe(404);
    const floatLoad = await call(old, "PUT", "/api/servers/servers/-/commit/", { body: { load: 0.5 } });
    expect(floatLoad.status).toBe(400);
    expect(floatLoad.json).toEqual({ load: { non_field_errors: ["Invalid data. Expected a dictionary, but got float."] } });
    expect((await call(old, "PUT", "/api/servers/servers/-/commit/", { body: { load: { period: "1m", average: 0.5 } } })).status).toBe(200);
    expect((await call(now, "PUT", "/api/servers/servers/-/commit/", { body: { load: 0.5 } })).status).toBe(200);
  });
});

describe("command ack and fin", () => {
  test("2024: POST ack/fin are 404; PATCH acks and fins; a second ack or fin is a 400", async () => {
    const fake = await start({ dialect: "2024" });
    const id = fake.sendCommand({ line: "ls" });
    const base = `/api/events/commands/${id}/`;
    expect((await call(fake, "POST", `${base}ack/`)).status).toBe(404);
    expect((await call(fake, "POST", `${base}fin/`, { body: { success: true, result: "", elapsed_time: 0 } })).status).toBe(404);

    const acked = await call(fake, "PATCH", base, { body: { acked_at: new Date().toISOString() } });
    expect(acked.status).toBe(200);
    expect(acked.json).toMatchObject({ success: null, elapsed_time: null, handled_at: null });
    expect((await fake.waitForAck(id, 1_000)).method).toBe("PATCH");
    const again = await call(fake, "PATCH", base, { body: { acked_at: new Date().toISOString() } });
    expect(again.status).toBe(400);
    expect(again.json).toEqual({ acked_at: ["Command has been already acknowledged."] });

    const fin = { success: true, result: "hello\n", elapsed_time: 0.25, handled_at: new Date().toISOString() };
    expect((await call(fake, "PATCH", base, { body: fin })).status).toBe(200);
    expect(await fake.waitForFin(id, 1_000)).toEqual({ success: true, result: "hello\n", elapsed_time: 0.25 });
    expect(fake.state.commands.get(id)!.result).toBe("hello"); // the console trims the stored result
    const twice = await call(fake, "PATCH", base, { body: fin });
    expect(twice.status).toBe(400);
    expect(twice.json).toEqual({ handled_at: ["Command has been already handled."] });
  });

  test("2025 (inferred): POST ack with no body and POST fin are accepted; a malformed fin is a 400", async () => {
    const fake = await start();
    const id = fake.sendCommand({ line: "ls" });
    expect((await call(fake, "POST", `/api/events/commands/${id}/ack/`)).status).toBe(200);
    expect((await fake.waitForAck(id, 1_000)).path).toBe(`/api/events/commands/${id}/ack/`);
    expect((await call(fake, "POST", `/api/events/commands/${id}/fin/`, { body: { success: "yes" } })).status).toBe(400);
    expect(
      (await call(fake, "POST", `/api/events/commands/${id}/fin/`, { body: { success: false, result: "x", elapsed_time: 1.5 } })).status,
    ).toBe(200);
    expect(await fake.waitForFin(id, 1_000)).toEqual({ success: false, result: "x", elapsed_time: 1.5 });
  });

  test("2026 (inferred): the fin needs an integer exit_code, which is recorded; chunks are 201 and kept by seq", async () => {
    const fake = await start({ dialect: "2026" });
    const id = fake.sendCommand({ line: "ls" });
    const base = `/api/events/commands/${id}/`;
    expect((await call(fake, "POST", `${base}ack/`)).status).toBe(200);
    for (const chunk of [
      { seq: 1, content: "wor" },
      { seq: 0, content: "hello " },
      { seq: 2, content: "ld é" },
    ])
      expect((await call(fake, "POST", `${base}chunk/`, { body: chunk })).status).toBe(201);
    expect((await call(fake, "POST", `${base}chunk/`, { body: { seq: -1, content: "x" } })).status).toBe(400);
    expect((await call(fake, "POST", `${base}chunk/`, { body: { seq: 3 } })).status).toBe(400);
    expect(
      fake
        .chunks(id)
        .map((c) => c.content)
        .join(""),
    ).toBe("hello world é");
    const noCode = { success: false, result: "", elapsed_time: 1 };
    expect((await call(fake, "POST", `${base}fin/`, { body: noCode })).status).toBe(400);
    expect((await call(fake, "POST", `${base}fin/`, { body: { ...noCode, exit_code: 124 } })).status).toBe(200);
    expect(await fake.waitForFin(id, 1_000)).toEqual({ ...noCode, exit_code: 124 });
    expect(fake.state.commands.get(id)!.exit_code).toBe(124);
  });

  test("chunk/ is a 404 for the 2024 and 2025 consoles; their fins take exit_code as an extra field", async () => {
    for (const dialect of ["2024", "2025"] as const) {
      const fake = await start({ dialect });
      const id = fake.sendCommand({ line: "ls" });
      const base = `/api/events/commands/${id}/`;
      expect((await call(fake, "POST", `${base}chunk/`, { body: { seq: 0, content: "x" } })).status).toBe(404);
      const fin = { success: false, result: "x", elapsed_time: 1, exit_code: 3 };
      const [method, path, body] =
        dialect === "2024" ? (["PATCH", base, { ...fin, handled_at: "now" }] as const) : (["POST", `${base}fin/`, fin] as const);
      expect((await call(fake, method, path, { body })).status).toBe(200);
      expect((await fake.waitForFin(id, 1_000)).exit_code).toBe(3);
    }
  });

  test("acks for a command the console never sent are 404; waitForAck times out instead of matching them", async () => {
    const fake = await start();
    expect((await call(fake, "POST", "/api/events/commands/not-sent/ack/")).status).toBe(404);
    await expect(fake.waitForAck("not-sent", 50)).rejects.toThrow(/timed out after 50 ms/);
  });
});

describe("fault injection", () => {
  test("status with `times`: the first answers fail, then the route answers normally", async () => {
    const fake = await start();
    fake.fault({ method: "GET", path: "/api/servers/servers/-/" }, { status: 503, body: "busy", times: 2 });
    expect(await call(fake, "GET", "/api/servers/servers/-/")).toMatchObject({ status: 503, text: "busy" });
    expect((await call(fake, "GET", "/api/servers/servers/-/")).status).toBe(503);
    expect((await call(fake, "GET", "/api/servers/servers/-/")).status).toBe(200);
    expect(fake.requests.map((r) => r.status)).toEqual([503, 503, 200]);
  });

  test("delay, then the normal answer; a method filter leaves other methods alone", async () => {
    const fake = await start();
    fake.fault({ method: "POST", path: /^\/api\/servers\// }, { status: 500 });
    fake.fault({ path: "/api/servers/servers/-/" }, { delayMs: 150 });
    const began = performance.now();
    expect((await call(fake, "GET", "/api/servers/servers/-/")).status).toBe(200);
    expect(performance.now() - began).toBeGreaterThanOrEqual(140);
  });

  test("drop closes the connection with no answer; forMs and clear() end a fault", async () => {
    const fake = await start();
    const dropping = fake.fault({ path: "/api/servers/servers/-/" }, { drop: true });
    await expect(fetch(`${fake.url}/api/servers/servers/-/`, { headers: { Authorization: auth(fake) } })).rejects.toThrow();
    expect(fake.requests[0]!.status).toBe(0);
    dropping.clear();
    expect((await call(fake, "GET", "/api/servers/servers/-/")).status).toBe(200);

    fake.fault({ path: "/api/servers/servers/-/" }, { status: 500, forMs: 100 });
    expect((await call(fake, "GET", "/api/servers/servers/-/")).status).toBe(500);
    const started = performance.now();
    let status = 500;
    while (status === 500 && performance.now() - started < 2_000) status = (await call(fake, "GET", "/api/servers/servers/-/")).status;
    expect(status).toBe(200);
    expect(performance.now() - started).toBeLessThan(2_000);
  });
});

describe("backhaul handshake", () => {
  test("accepted with the key and the console's Origin; 2024 sends {query:commit} on connect, 2025 nothing", async () => {
    for (const dialect of ["2024", "2025"] as const) {
      const fake = await start({ dialect });
      const client = dial(fake, { Authorization: auth(fake), Origin: fake.url });
      expect(await client.opened).toBe(true);
      await fake.waitForBackhaul(1_000);
      expect(fake.handshakes).toHaveLength(1);
      expect(fake.handshakes[0]).toMatchObject({ accepted: true, status: 101 });
      client.ws.send(JSON.stringify({ query: "ping" }));
      await fake.waitForAgentFrame((f) => f === '{"query":"ping"}', 1_000);
      expect(client.frames).toEqual(dialect === "2024" ? ['{"query":"commit"}'] : []);
    }
  });

  test("2026 pings on connect and every pingIntervalMs; the timers end with the socket and with stop()", async () => {
    const fake = await start({ dialect: "2026", pingIntervalMs: 50 });
    const client = dial(fake, { Authorization: auth(fake), Origin: fake.url });
    expect(await client.opened).toBe(true);
    await eventually(() => client.frames.length >= 3, 2_000, "three pings");
    expect(new Set(client.frames)).toEqual(new Set(['{"query":"ping"}']));
    client.ws.send(JSON.stringify({ query: "pong", timestamp: "2026-08-21T03:04:05Z" }));
    await fake.waitUntil(() => fake.pongs().length === 1, 1_000, "the pong recorded");
    expect(fake.agentPingFrames()).toBe(0);
    client.ws.close();
    await fake.waitUntil(() => fake.backhaulCount() === 0, 1_000, "the close");
    const sent = fake.consolePings.length;
    await Bun.sleep(150);
    expect(fake.consolePings.length).toBe(sent);
    // Off by default elsewhere, on demand with sendPing().
    const quiet = await start({ dialect: "2025" });
    const other = dial(quiet, { Authorization: auth(quiet), Origin: quiet.url });
    expect(await other.opened).toBe(true);
    await quiet.waitForBackhaul(1_000);
    expect(quiet.sendPing()).toBe(1);
    await eventually(() => other.frames.length === 1, 1_000, "the ping on demand");
    expect(other.frames).toEqual(['{"query":"ping"}']);
  });

  test("403 on a wrong key, on a missing Origin and on a foreign Origin", async () => {
    const fake = await start();
    const cases: { headers: Record<string, string>; refused: string }[] = [
      { headers: { Authorization: auth(fake, "nope"), Origin: fake.url }, refused: "auth" },
      { headers: { Authorization: auth(fake) }, refused: "origin" },
      { headers: { Authorization: auth(fake), Origin: "http://evil.example" }, refused: "origin" },
    ];
    for (const { headers, refused } of cases) {
      const client = dial(fake, headers);
      expect(await client.opened).toBe(false);
      expect(client.error()).toContain("403");
      expect(fake.handshakes.at(-1)).toMatchObject({ accepted: false, status: 403, refused });
    }
    expect(fake.backhaulCount()).toBe(0);
  });

  test("sendCommand double-encodes data and registers the id; commands reach every open socket", async () => {
    const fake = await start();
    const client = dial(fake, { Authorization: auth(fake), Origin: fake.url });
    expect(await client.opened).toBe(true);
    await fake.waitForBackhaul(1_000);
    const received = new Promise((resolve) => client.ws.addEventListener("message", resolve, { once: true }));
    const id = fake.sendCommand({ shell: "internal", line: "adduser bob", data: { username: "bob", uid: 2000 } });
    await received;
    const frame = JSON.parse(client.frames[0]!);
    expect(frame.query).toBe("command");
    expect(frame.command).toMatchObject({ id, shell: "internal", line: "adduser bob", user: "", group: "" });
    expect(typeof frame.command.data).toBe("string");
    expect(JSON.parse(frame.command.data)).toEqual({ username: "bob", uid: 2000 });
    expect(fake.state.commands.has(id)).toBe(true);
  });
});

describe("TLS", () => {
  test("HTTPS and WSS verify against the generated CA; without it both fail; stop() removes the files", async () => {
    const fake = await start({ tls: true });
    expect(fake.url).toStartWith("https://127.0.0.1:");
    const ca = await Bun.file(fake.caCertPath!).text();
    const ok = await fetch(`${fake.url}/api/servers/servers/-/`, { headers: { Authorization: auth(fake) }, tls: { ca } });
    expect(ok.status).toBe(200);
    await expect(fetch(`${fake.url}/api/servers/servers/-/`, { headers: { Authorization: auth(fake) } })).rejects.toThrow();

    const verified = dial(fake, { Authorization: auth(fake), Origin: fake.url }, { ca });
    expect(await verified.opened).toBe(true);
    const unverified = dial(fake, { Authorization: auth(fake), Origin: fake.url });
    expect(await unverified.opened).toBe(false);

    const dir = dirname(fake.caCertPath!);
    expect(existsSync(dir)).toBe(true);
    await fake.stop();
    expect(existsSync(dir)).toBe(false);
  });
});

test("stop() rejects pending waits and closes open backhauls", async () => {
  const fake = await start();
  const client = dial(fake, { Authorization: auth(fake), Origin: fake.url });
  expect(await client.opened).toBe(true);
  const pending = fake.waitForAck("never", 10_000).catch((err: Error) => err);
  const closed = new Promise<number>((resolve) => client.ws.addEventListener("close", (ev) => resolve(ev.code)));
  await fake.stop();
  expect(String(await pending)).toContain("stopped");
  expect(await closed).toBeGreaterThanOrEqual(1000);
});
