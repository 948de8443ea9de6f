// The backhaul against the fake console over real loopback sockets: handshake headers, the ping frame and pong,
// reconnects with jittered backoff, auth failures, TLS, connect timeout, dead-peer detection and bad frames.
import { afterEach, describe, expect, test } from "bun:test";
import type { TCPSocketListener } from "bun";
import { BACKHAUL_BACKOFF, Backhaul, type BackhaulOptions, backhaulBackoff, backhaulUrl } from "../../src/console/backhaul.ts";
import { ConsoleHttp } from "../../src/console/http.ts";
import { PING_FRAME } from "../../src/console/protocol.ts";
import { createRouter } from "../../src/console/router.ts";
import { buildTlsOptions } from "../../src/console/tls.ts";
import { LogHub, type LogRecord, silentLogger } from "../../src/log/logger.ts";
import { USER_AGENT } from "../../src/version.ts";
import { FakeConsole, type FakeConsoleOptions } from "./fake-console.ts";
import { eventually } from "./fake-console-waits.ts";

const consoles: FakeConsole[] = [];
const backhauls: Backhaul[] = [];
const listeners: TCPSocketListener<unknown>[] = [];

afterEach(async () => {
  await Promise.all(backhauls.splice(0).map((b) => b.stop()));
  await Promise.all(consoles.splice(0).map((c) => c.stop()));
  for (const listener of listeners.splice(0)) listener.stop(true);
});

async function fakeConsole(options: FakeConsoleOptions = {}): Promise<FakeConsole> {
  const fake = await FakeConsole.start(options);
  consoles.push(fake);
  return fake;
}

interface Harness {
  backhaul: Backhaul;
  texts: string[];
  records: LogRecord[];
  logged: (message: RegExp, level?: LogRecord["level"]) => LogRecord[];
}

/** A backhaul wired like the agent does it, with fast timers; every log record is kept. */
function connect(fake: FakeConsole, overrides: Partial<BackhaulOptions> & { key?: string; verify?: boolean; ca?: boolean } = {}): Harness {
  const { key, verify, ca, ...rest } = overrides;
  const records: LogRecord[] = [];
  const hub = new LogHub({ write: () => {}, close: () => {} }, "debug");
  hub.listen((record) => records.push(record));
  const tls = buildTlsOptions({ verify: verify ?? true, caCert: ca ? fake.caCertPath : undefined });
  const http = new ConsoleHttp({ serverUrl: fake.url, id: fake.id, key: key ?? fake.key, tls, userAgent: USER_AGENT, log: silentLogger });
  const texts: string[] = [];
  const backhaul = new Backhaul({
    url: backhaulUrl(fake.url),
    http,
    log: hub.logger("backhaul"),
    random: () => 0.5,
    backoff: { baseMs: 20, capMs: 80 },
    connectTimeoutMs: 2_000,
    closeWaitMs: 500,
    onText: (text) => texts.push(text),
    ...rest,
  });
  backhauls.push(backhaul);
  backhaul.start();
  const logged = (message: RegExp, level?: LogRecord["level"]) =>
    records.filter((r) => message.test(r.message) && (level === undefined || r.level === level));
  return { backhaul, texts, records, logged };
}

const pings = (fake: FakeConsole) => fake.agentFrames.filter((f) => f === PING_FRAME).length;

test("backhaulUrl: http→ws, https→wss, path prefix kept, query dropped; other schemes refused", () => {
  expect(backhaulUrl("http://127.0.0.1:8000")).toBe("ws://127.0.0.1:8000/ws/servers/backhaul/");
  expect(backhaulUrl("https://console.example.com/")).toBe("wss://console.example.com/ws/servers/backhaul/");
  expect(backhaulUrl("https://example.com/alpacon/?x=1")).toBe("wss://example.com/alpacon/ws/servers/backhaul/");
  expect(() => backhaulUrl("ftp://example.com")).toThrow();
});

test("backhaulBackoff: the storm-safe default, ALPAMON_BACKHAUL_BACKOFF_MS when well-formed, bad values ignored", () => {
  expect(backhaulBackoff({})).toEqual({ ...BACKHAUL_BACKOFF });
  expect(BACKHAUL_BACKOFF.baseMs).toBeGreaterThanOrEqual(30_000); // bench/storm.ts: peak ≤ 2 × mean needs a wide first window
  expect(backhaulBackoff({ ALPAMON_BACKHAUL_BACKOFF_MS: "5000,60000" })).toEqual({ baseMs: 5_000, capMs: 60_000 });
  expect(backhaulBackoff({ ALPAMON_BACKHAUL_BACKOFF_MS: " 500 , 100 " })).toEqual({ baseMs: 500, capMs: 500 });
  for (const bad of ["", "5000", "-1,5", "1e3,5", "abc,def", "1,2,3"]) {
    expect(backhaulBackoff({ ALPAMON_BACKHAUL_BACKOFF_MS: bad })).toEqual({ ...BACKHAUL_BACKOFF });
  }
});

describe("connection", () => {
  test("the handshake carries exactly the Authorization, Origin and User-Agent the console expects", async () => {
    const fake = await fakeConsole();
    const { backhaul, logged } = connect(fake);
    await fake.waitForBackhaul(2_000);
    const handshake = fake.handshakes[0]!;
    expect(handshake.accepted).toBe(true);
    expect(handshake.headers.authorization).toBe(`id="${fake.id}", key="${fake.key}"`);
    expect(handshake.headers.origin).toBe(fake.url);
    expect(handshake.headers["user-agent"]).toBe(USER_AGENT);
    expect(handshake.headers["user-agent"]).toMatch(/^alpamon\/\d+\.\d+\.\d+/);
    expect(handshake.headers["sec-websocket-extensions"]).toBeUndefined();
    await eventually(() => backhaul.isOpen, 1_000);
    expect(logged(/backhaul connected/, "info")).toHaveLength(1);
  });

  test("follows every inbound text frame with {query:ping} and hands the text over unparsed", async () => {
    const fake = await fakeConsole({ dialect: "2024" });
    const { texts } = connect(fake);
    await fake.waitForBackhaul(2_000);
    await eventually(() => pings(fake) === 1, 1_000, "the ping after the 2024 commit frame");
    const id = fake.sendCommand({ line: "ls" });
    fake.sendFrame({ query: "reconnect-not", reason: "x" });
    await eventually(() => pings(fake) === 3, 1_000, "three ping frames");
    expect(texts[0]).toBe('{"query":"commit"}');
    expect(JSON.parse(texts[1]!).command.id).toBe(id);
    expect(texts).toHaveLength(3);
  });

  test("send() delivers text frames while open and says false when not", async () => {
    const fake = await fakeConsole();
    const { backhaul } = connect(fake);
    await eventually(() => backhaul.isOpen, 2_000);
    expect(backhaul.send('{"query":"hello"}')).toBe(true);
    await fake.waitForAgentFrame((f) => f === '{"query":"hello"}', 1_000);
    await backhaul.stop();
    expect(backhaul.isOpen).toBe(false);
    expect(backhaul.send("x")).toBe(false);
  });

  test("stop() sends close 1000 and never reconnects", async () => {
    const fake = await fakeConsole();
    const { backhaul } = connect(fake);
    await eventually(() => backhaul.isOpen, 2_000);
    await backhaul.stop();
    await eventually(() => fake.backhaulCloses.length === 1, 1_000);
    expect(fake.backhaulCloses[0]!.code).toBe(1000);
    // Nothing to wait for: no reconnect must come. Several backoff periods pass first (a negative check).
    await Bun.sleep(150);
    expect(fake.handshakes).toHaveLength(1);
    expect(fake.backhaulCount()).toBe(0);
  });
});

describe("reconnects", () => {
  test("after dropBackhaul() (1006) and after closeBackhaul(), with one socket open at a time", async () => {
    const fake = await fakeConsole();
    const { logged } = connect(fake);
    await fake.waitForBackhaul(2_000);
    fake.dropBackhaul();
    await eventually(() => fake.acceptedHandshakes() === 2 && fake.backhaulCount() === 1, 2_000, "a reconnect after a drop");
    fake.closeBackhaul(4000, "bye");
    await eventually(() => fake.acceptedHandshakes() === 3 && fake.backhaulCount() === 1, 2_000, "a reconnect after a close");
    expect(fake.backhaulCount()).toBe(1);
    const closed = logged(/backhaul connection closed/, "warn");
    expect(closed.map((r) => r.fields.code)).toEqual([1006, 4000]);
    expect(closed[1]!.fields.reason).toBe("bye");
  });

  test("reconnect(reason) closes with 1000 and the reason, then dials again after a jittered delay", async () => {
    const fake = await fakeConsole();
    const { backhaul, logged } = connect(fake);
    await eventually(() => backhaul.isOpen, 2_000);
    backhaul.reconnect("asked by the console");
    await eventually(() => fake.acceptedHandshakes() === 2 && backhaul.isOpen, 2_000);
    expect(fake.backhaulCloses[0]).toEqual({ code: 1000, reason: "asked by the console" });
    expect(logged(/backhaul reconnecting/, "info")[0]!.fields).toMatchObject({ reason: "asked by the console", retry_in_ms: 10 });
    expect(fake.backhaulCount()).toBe(1);
  });

  test("with the storm-safe default, a drop waits up to 35 s but a reconnect the console asked for only up to 5 s", async () => {
    const fake = await fakeConsole();
    const { backhaul, logged } = connect(fake, { backoff: { ...BACKHAUL_BACKOFF } });
    await eventually(() => backhaul.isOpen, 2_000);
    backhaul.reconnect("asked by the console");
    expect(logged(/backhaul reconnecting/, "info")[0]!.fields).toMatchObject({ retry_in_ms: 2_500 });
    const fake2 = await fakeConsole();
    const other = connect(fake2, { backoff: { ...BACKHAUL_BACKOFF } });
    await eventually(() => other.backhaul.isOpen, 2_000);
    fake2.dropBackhaul();
    await eventually(() => other.logged(/backhaul connection closed/).length === 1, 2_000);
    expect(other.logged(/backhaul connection closed/)[0]!.fields).toMatchObject({ retry_in_ms: 17_500 });
  });

  test("a late close of the old socket does not touch the new one", async () => {
    const fake = await fakeConsole();
    const { backhaul, logged } = connect(fake, { random: () => 0, closeWaitMs: 100 });
    await eventually(() => backhaul.isOpen, 2_000);
    fake.freezeBackhaul(); // the old socket's close frame goes unanswered until closeWaitMs cuts it
    backhaul.reconnect("test");
    await eventually(() => fake.acceptedHandshakes() === 2 && backhaul.isOpen, 2_000, "the new connection");
    await Bun.sleep(250); // past closeWaitMs: the old socket has been cut and its close event has fired
    expect(backhaul.isOpen).toBe(true);
    expect(fake.acceptedHandshakes()).toBe(2);
    // (the fake still counts the frozen socket as open: a paused server socket never reads the FIN)
    expect(logged(/backhaul connection (closed|failed)/)).toHaveLength(0);
  });

  test("backoff grows while connections keep failing and resets after a connection stayed up stableMs", async () => {
    const fake = await fakeConsole();
    const { backhaul, logged } = connect(fake, { backoff: { baseMs: 40, capMs: 1_000 }, stableMs: 200 });
    const delays = () => logged(/backhaul connection closed/).map((r) => r.fields.retry_in_ms);
    await eventually(() => backhaul.isOpen, 2_000);
    fake.dropBackhaul();
    await eventually(() => fake.acceptedHandshakes() === 2 && backhaul.isOpen, 2_000);
    fake.dropBackhaul();
    await eventually(() => fake.acceptedHandshakes() === 3 && backhaul.isOpen, 2_000);
    await Bun.sleep(250); // the scenario: this connection stays up past stableMs, so the backoff resets
    fake.dropBackhaul();
    await eventually(() => fake.acceptedHandshakes() === 4, 2_000);
    expect(delays()).toEqual([20, 40, 20]);
  });

  test("a wrong key: 403 logged once as an error with the hint, retried with growing backoff", async () => {
    const fake = await fakeConsole();
    const { logged } = connect(fake, { key: "wrong-key" });
    await eventually(() => fake.handshakes.length >= 4, 3_000, "four refused handshakes");
    expect(fake.handshakes.every((h) => h.status === 403 && h.refused === "auth")).toBe(true);
    const errors = logged(/refused the backhaul handshake/, "error");
    expect(errors).toHaveLength(1);
    expect(errors[0]!.message).toContain("check [server] id and key");
    const again = logged(/refused again/, "debug");
    expect(again.length).toBeGreaterThanOrEqual(2);
    expect([errors[0]!.fields.retry_in_ms, ...again.slice(0, 2).map((r) => r.fields.retry_in_ms)]).toEqual([10, 20, 40]);
    expect(logged(/connection failed/, "warn")).toHaveLength(0);
  });

  test("the 403 error is logged again after a successful connection ended the streak", async () => {
    const fake = await fakeConsole();
    fake.fault({ path: "/ws/servers/backhaul/" }, { status: 403, times: 2 });
    const { backhaul, logged } = connect(fake);
    await eventually(() => backhaul.isOpen, 2_000);
    fake.fault({ path: "/ws/servers/backhaul/" }, { status: 403, times: 1 });
    fake.dropBackhaul();
    await eventually(() => fake.acceptedHandshakes() === 2 && backhaul.isOpen, 2_000);
    expect(logged(/refused the backhaul handshake \(403\)/, "error")).toHaveLength(2);
  });

  test("other handshake failures are warnings with the reason", async () => {
    const fake = await fakeConsole();
    fake.fault({ path: "/ws/servers/backhaul/" }, { status: 502, times: 1 });
    const { backhaul, logged } = connect(fake);
    await eventually(() => backhaul.isOpen, 2_000);
    const warnings = logged(/backhaul connection failed/, "warn");
    expect(warnings).toHaveLength(1);
    expect(String(warnings[0]!.fields.reason)).toContain("502");
  });
});

describe("TLS", () => {
  test("wss verifies with the configured CA; without it the handshake fails; verify=false connects", async () => {
    const fake = await fakeConsole({ tls: true });
    const withCa = connect(fake, { ca: true });
    await eventually(() => withCa.backhaul.isOpen, 3_000, "a verified wss connection");
    await withCa.backhaul.stop();

    const withoutCa = connect(fake);
    await eventually(() => withoutCa.logged(/backhaul connection failed/).length > 0, 3_000, "a TLS failure");
    expect(String(withoutCa.logged(/backhaul connection failed/)[0]!.fields.reason)).toMatch(/certificate|TLS|self.signed|issuer/i);
    expect(withoutCa.backhaul.isOpen).toBe(false);
    await withoutCa.backhaul.stop();

    const unverified = connect(fake, { verify: false });
    await eventually(() => unverified.backhaul.isOpen, 3_000, "an unverified wss connection");
    expect(fake.acceptedHandshakes()).toBe(2);
  });
});

describe("liveness", () => {
  test("a handshake that never completes is abandoned after connectTimeoutMs and retried", async () => {
    let accepted = 0;
    const silent = Bun.listen({
      hostname: "127.0.0.1",
      port: 0,
      socket: {
        open: () => {
          accepted += 1;
        },
        data: () => {},
      },
    });
    listeners.push(silent);
    const fake = await fakeConsole(); // for the credentials only
    const { logged } = connect(fake, { url: `ws://127.0.0.1:${silent.port}/ws/servers/backhaul/`, connectTimeoutMs: 100 });
    await eventually(() => logged(/handshake timed out again/).length >= 1 && accepted >= 2, 2_000, "two timeouts");
    // One warning for the streak; the repeats are debug lines.
    expect(logged(/handshake timed out/, "warn")).toHaveLength(1);
    expect(logged(/handshake timed out/, "warn")[0]!.fields.timeout_ms).toBe(100);
  });

  test("pings keep a quiet but healthy link up past deadPeerMs", async () => {
    const fake = await fakeConsole();
    const { backhaul, logged } = connect(fake, { pingIntervalMs: 40, deadPeerMs: 200 });
    await eventually(() => backhaul.isOpen, 2_000);
    // Five ping intervals and more than twice deadPeerMs: a healthy link must still be the first one.
    const began = performance.now();
    await eventually(() => fake.agentPings >= 5 && performance.now() - began >= 450, 3_000, "five pings past 2 x deadPeerMs");
    expect(logged(/went silent/)).toHaveLength(0);
    expect(fake.acceptedHandshakes()).toBe(1);
  });

  test("a peer that stops answering is dropped within deadPeerMs and the agent reconnects", async () => {
    const fake = await fakeConsole();
    const { backhaul, logged } = connect(fake, { pingIntervalMs: 40, deadPeerMs: 200 });
    await eventually(() => backhaul.isOpen, 2_000);
    const frozenAt = performance.now();
    fake.freezeBackhaul();
    await eventually(() => logged(/went silent/, "warn").length === 1, 2_000, "dead-peer detection");
    const detectedAfter = performance.now() - frozenAt;
    expect(detectedAfter).toBeLessThan(200 + 200); // the budget counts from the last pong, before the freeze
    expect(Number(logged(/went silent/)[0]!.fields.silent_ms)).toBeGreaterThanOrEqual(200);
    await eventually(() => fake.acceptedHandshakes() === 2 && backhaul.isOpen, 2_000, "a reconnect");
  });
});

describe("bad frames", () => {
  test("garbage, a 2 MB frame, a throwing handler and a binary frame leave the socket up", async () => {
    const fake = await fakeConsole();
    let calls = 0;
    const { backhaul, logged } = connect(fake, {
      onText: (text) => {
        calls += 1;
        if (text === "boom") throw new Error("handler exploded");
      },
    });
    await eventually(() => backhaul.isOpen, 2_000);
    fake.sendFrame("{not json");
    fake.sendFrame("x".repeat(2 * 1024 * 1024));
    fake.sendFrame("boom");
    fake.sendBinary(new Uint8Array([1, 2, 3]));
    fake.sendFrame('{"query":"after"}');
    await eventually(() => pings(fake) === 4, 3_000, "a ping per text frame");
    expect(calls).toBe(4);
    expect(logged(/handler failed/, "error")[0]!.fields.error).toBeInstanceOf(Error);
    await eventually(() => logged(/binary backhaul frame ignored/, "debug").length === 1, 1_000);
    expect(backhaul.isOpen).toBe(true);
    expect(fake.acceptedHandshakes()).toBe(1);
    expect(backhaul.send('{"query":"still-here"}')).toBe(true);
    await fake.waitForAgentFrame((f) => f.includes("still-here"), 1_000);
  });
});

describe("the console's ping (README: console dialects)", () => {
  /** A backhaul whose frames go through the real router, ping answered by the backhaul as the link wires it. */
  function routed(fake: FakeConsole): Harness {
    let backhaul: Backhaul | undefined;
    const route = createRouter(
      { accept: () => {}, reject: () => {}, quit: () => {}, reconnect: () => {}, commit: () => {}, ping: () => backhaul?.answerPing() },
      silentLogger,
    );
    const harness = connect(fake, { onText: route });
    backhaul = harness.backhaul;
    return harness;
  }

  const pongs = (fake: FakeConsole) => fake.agentFrames.filter((f) => f.startsWith('{"query":"pong"'));

  test("2024 and 2025 consoles never ping: the agent pings after every inbound frame and never pongs", async () => {
    for (const dialect of ["2024", "2025"] as const) {
      const fake = await fakeConsole({ dialect });
      routed(fake);
      await fake.waitForBackhaul(2_000);
      for (let i = 0; i < 3; i++) fake.sendCommand({ shell: "internal", line: "ping" });
      const expected = dialect === "2024" ? 4 : 3; // the 2024 console's commit frame is one more
      await eventually(() => pings(fake) === expected, 2_000, `${expected} agent pings (${dialect})`);
      expect(fake.agentFrames.every((f) => f === PING_FRAME)).toBe(true);
    }
  });

  test("2026: the ping is answered by the very next frame, a pong with the UTC time; then no agent pings", async () => {
    const fake = await fakeConsole({ dialect: "2026" });
    routed(fake);
    await fake.waitForBackhaul(2_000);
    await eventually(() => pongs(fake).length === 1, 2_000, "the pong to the ping on connect");
    const before = Date.now();
    expect(fake.agentFrames[fake.consolePings[0]!.framesBefore]).toStartWith('{"query":"pong"');
    const pong = JSON.parse(pongs(fake)[0]!);
    expect(Object.keys(pong)).toEqual(["query", "timestamp"]);
    expect(pong.timestamp).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    expect(Math.abs(Date.parse(pong.timestamp) - before)).toBeLessThan(5_000);
    for (let i = 0; i < 3; i++) fake.sendCommand({ shell: "internal", line: "ping" });
    fake.sendPing();
    await eventually(() => pongs(fake).length === 2, 2_000, "the second pong");
    expect(fake.agentFrames[fake.consolePings[1]!.framesBefore]).toStartWith('{"query":"pong"');
    expect(pings(fake)).toBe(0);
  });

  test("the rule is per connection: a new connection pings again until the console pings on it", async () => {
    const fake = await fakeConsole({ dialect: "2025" });
    routed(fake);
    await fake.waitForBackhaul(2_000);
    fake.sendCommand({ shell: "internal", line: "ping" });
    await eventually(() => pings(fake) === 1, 2_000, "an agent ping before the console pinged");
    fake.sendPing();
    await eventually(() => pongs(fake).length === 1, 2_000, "the pong");
    fake.sendCommand({ shell: "internal", line: "ping" });
    fake.sendFrame({ query: "commit" });
    fake.sendPing(); // frames are handled in order: an agent ping after the two above would come before this pong
    await eventually(() => pongs(fake).length === 2, 2_000, "the second pong");
    expect(pings(fake)).toBe(1);
    fake.dropBackhaul();
    await fake.waitUntil(() => fake.acceptedHandshakes() === 2 && fake.backhaulCount() === 1, 5_000, "the second connection");
    fake.sendCommand({ shell: "internal", line: "ping" });
    await eventually(() => pings(fake) === 2, 2_000, "an agent ping on the new connection");
  });
});
