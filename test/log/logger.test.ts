import { describe, expect, test } from "bun:test";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { LogForwarder, LOGS_PATH } from "../../src/log/forward.ts";
import { formatRecord, LogHub, RotatingFileSink } from "../../src/log/logger.ts";
import { useTempDirs } from "../helpers/tmp.ts";

const tempDir = useTempDirs("alpamon-log-");

describe("log lines", () => {
  test("one line: RFC 3339 time, level, message, key=value; secrets redacted; newlines escaped", () => {
    const line = formatRecord({
      time: Date.UTC(2025, 9, 13, 7, 43, 40, 123),
      level: "warn",
      component: "console",
      message: "first\nsecond",
      fields: { status: 403, key: "s3cret", path: "/a b", err: new Error("boom") },
    });
    expect(line).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}(Z|[+-]\d\d:\d\d) \[WARN\] first\\nsecond component=console status=403 key=\[redacted\] path="\/a b" err=boom$/);
    expect(line).not.toContain("s3cret");
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

describe("log forwarding", () => {
  function setup(now = { t: 0 }) {
    const hub = new LogHub({ write: () => {}, close: () => {} }, "debug");
    const sent: { body: Record<string, unknown> }[] = [];
    const forwarder = new LogForwarder({ hub, enqueue: (item) => sent.push(item as never), now: () => now.t, burst: 3, perMinute: 6 });
    forwarder.start();
    return { hub, sent, forwarder, now };
  }

  test("forwards warnings and errors with Python levels, not info; never the key", () => {
    const { hub, sent } = setup();
    const log = hub.logger("backhaul");
    log.info("fine");
    log.warn("connection failed", { status: 502, key: "zzz" });
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

  test("no loop on the log endpoint; a 404 from the console turns forwarding off", () => {
    const { hub, sent, forwarder } = setup();
    hub.logger().warn("dropped a request", { path: LOGS_PATH, status: 400 });
    expect(sent).toHaveLength(0);
    forwarder.settled(LOGS_PATH, 404);
    hub.logger().error("anything");
    expect(sent).toHaveLength(0);
  });
});
