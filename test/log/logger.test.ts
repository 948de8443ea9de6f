import { describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { LogForwarder, LOGS_PATH } from "../../src/log/forward.ts";
import { formatRecord, LogHub, RotatingFileSink, type LogRecord } from "../../src/log/logger.ts";
import { useTempDirs } from "../helpers/tmp.ts";

const tempDir = useTempDirs("alpamon-log-");

describe("log lines", () => {
  test("one line: RFC 3339 time, level, message, key=value; credential fields redacted; newlines escaped", () => {
    const line = formatRecord({
      time: Date.UTC(2025, 9, 13, 7, 43, 40, 123),
      level: "warn",
      component: "console",
      message: "first\nsecond",
      fields: { status: 403, password: "s3cret", path: "/a b", err: new Error("boom") },
    });
    expect(line).toMatch(
      /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}(Z|[+-]\d\d:\d\d) \[WARN\] first\\nsecond component=console status=403 password=\[redacted\] path="\/a b" err=boom$/,
    );
    expect(line).not.toContain("s3cret");
  });

  test("`key` is not a credential field: an inventory warning names its key", () => {
    const hub = new LogHub({ write: () => {}, close: () => {} }, "debug");
    const records: LogRecord[] = [];
    hub.listen((r) => records.push(r));
    hub.logger("inventory").warn("could not collect this inventory key; it is left out", { key: "cpu", error: "ENOENT" });
    expect(formatRecord(records[0]!)).toContain(
      "could not collect this inventory key; it is left out component=inventory key=cpu error=ENOENT",
    );
  });

  test("the level filters, and the file rotates at the size limit keeping N files", () => {
    const path = join(tempDir(), "logs", "alpamon.log");
    const hub = new LogHub(new RotatingFileSink(path, 200, 2), "info");
    const log = hub.logger();
    log.debug("invisible");
    for (let i = 0; i < 20; i++) log.info(`line ${i} ${"x".repeat(40)}`);
    hub.close();
    expect(readFileSync(path, "utf8")).not.toContain("invisible");
    expect(existsSync(`${path}.1`)).toBe(true);
    expect(existsSync(`${path}.2`)).toBe(true);
    expect(existsSync(`${path}.3`)).toBe(false);
    expect(readFileSync(path, "utf8")).toContain("line 19");
    for (const file of [path, `${path}.1`, `${path}.2`]) expect(readFileSync(file).length).toBeLessThanOrEqual(200);
  });
});

test("the log file is never opened through a symlink planted in its place; the victim is untouched", () => {
  const dir = tempDir();
  const victim = join(dir, "victim");
  writeFileSync(victim, "precious\n");
  mkdirSync(join(dir, "logs"));
  const path = join(dir, "logs", "alpamon.log");
  symlinkSync(victim, path);
  expect(() => new RotatingFileSink(path)).toThrow(/ELOOP|symbolic link/i);
  expect(readFileSync(victim, "utf8")).toBe("precious\n");
});

describe("redaction", () => {
  const SERVER_KEY = "srv-KEY-0123456789abcdef";

  function hubWithKey() {
    const lines: string[] = [];
    const records: LogRecord[] = [];
    const hub = new LogHub({ write: (line) => lines.push(line), close: () => {} }, "debug");
    hub.addSecret(SERVER_KEY);
    hub.listen((r) => records.push(r));
    return { hub, lines, records, log: hub.logger("test") };
  }

  test("a registered secret is redacted by value in the message, string fields, errors and nested values", () => {
    const { lines, records, log } = hubWithKey();
    log.warn(`header was id="x", key="${SERVER_KEY}"`, {
      url: `https://c.example/?k=${SERVER_KEY}`,
      error: new Error(`bad key ${SERVER_KEY}`),
      request: { headers: { "x-any": `key=${SERVER_KEY}` }, list: [SERVER_KEY] },
      encoded: encodeURIComponent(`${SERVER_KEY}/`),
    });
    const everything = lines.join("\n") + JSON.stringify(records) + String((records[0]!.fields.error as Error).message);
    expect(everything).not.toContain(SERVER_KEY);
    expect(lines[0]).toContain('header was id="x", key="[redacted]"');
    expect(records[0]!.fields).toMatchObject({
      url: "https://c.example/?k=[redacted]",
      request: { headers: { "x-any": "key=[redacted]" }, list: ["[redacted]"] },
      encoded: "[redacted]%2F",
    });
    expect(records[0]!.fields.error).toBeInstanceOf(Error);
  });

  test("credential field names are a precise list, nested too; `key`, `session`, `auth` are shown", () => {
    const { lines, records, log } = hubWithKey();
    log.warn("could not collect this inventory key; it is left out", {
      key: "cpu",
      session: "s-1",
      auth: true,
      token: "t-123",
      "Set-Cookie": "c=1",
      nested: { access_token: "a-1", name: "n" },
    });
    expect(lines[0]).toContain("key=cpu session=s-1 auth=true token=[redacted] Set-Cookie=[redacted]");
    expect(records[0]!.fields.nested).toEqual({ access_token: "[redacted]", name: "n" });
    expect(JSON.stringify(records)).not.toMatch(/t-123|c=1|a-1/);
  });

  test("short values are not redacted by value (they would shred every line); objects left as they are when clean", () => {
    const { hub, lines, records, log } = hubWithKey();
    hub.addSecret("abc");
    const request = { path: "/abc/" };
    log.info("abc", { request });
    expect(lines[0]).toContain("[INFO] abc component=test");
    expect(records[0]!.fields.request).toBe(request);
  });

  test("forwarded records are redacted too, and an inventory warning keeps its key name", () => {
    const { hub } = hubWithKey();
    const sent: { body: Record<string, unknown> }[] = [];
    new LogForwarder({ hub, enqueue: (item) => sent.push(item as never), now: () => 0 }).start();
    hub.logger("inventory").warn(`failed with ${SERVER_KEY}`, { key: "cpu", password: "pw-1", detail: SERVER_KEY });
    expect(sent[0]!.body.msg).toBe("failed with [redacted] key=cpu detail=[redacted]");
  });
});

describe("log forwarding", () => {
  function setup(now = { t: 0 }) {
    const hub = new LogHub({ write: () => {}, close: () => {} }, "debug");
    const sent: { body: Record<string, unknown> }[] = [];
    const forwarder = new LogForwarder({ hub, enqueue: (item) => sent.push(item as never), now: () => now.t, burst: 3, perMinute: 6 });
    forwarder.start();
    return { hub, sent, forwarder, now };
  }

  test("forwards warnings and errors with Python levels, not info; never a credential field", () => {
    const { hub, sent } = setup();
    const log = hub.logger("backhaul");
    log.info("fine");
    log.warn("connection failed", { status: 502, password: "zzz" });
    log.error("broken");
    expect(sent.map((s) => s.body.level)).toEqual([30, 40]);
    expect(sent[0]!.body).toMatchObject({ program: "alpamon", path: "backhaul", msg: "connection failed status=502" });
  });

  test("rate-limited, then says how many were skipped", () => {
    const { hub, sent, now } = setup();
    const log = hub.logger();
    for (let i = 0; i < 10; i++) log.warn(`w${i}`);
    expect(sent).toHaveLength(3);
    now.t += 10_000;
    log.warn("later");
    expect(sent).toHaveLength(4);
    expect(sent[3]!.body.msg).toBe("later (7 earlier records not forwarded: rate limit)");
  });

  test("no loop on the log endpoint; nothing is queued while the console is known to lack it", () => {
    const hub = new LogHub({ write() {}, close() {} });
    const sent: { body: { msg: string }; fallback?: unknown }[] = [];
    let lacks = false;
    new LogForwarder({ hub, enqueue: (item) => sent.push(item as never), now: () => 0, lacksLogs: () => lacks }).start();
    hub.logger().warn("dropped a request", { path: LOGS_PATH, status: 400 });
    expect(sent).toHaveLength(0);
    hub.logger().warn("first");
    // Queued with the "logs" dialect: a 404 drops the row and is remembered by the outbox (per console, a day).
    expect(sent).toEqual([expect.objectContaining({ fallback: { dialect: "logs", drop: true } })]);
    lacks = true;
    hub.logger().error("anything");
    expect(sent).toHaveLength(1);
  });
});
