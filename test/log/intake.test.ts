import { afterEach, describe, expect, test } from "bun:test";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { connect } from "node:net";
import { join } from "node:path";
import { LogIntake, MAX_FRAME_BYTES } from "../../src/log/intake.ts";
import { silentLogger } from "../../src/log/logger.ts";
import { eventually } from "../console/fake-console-waits.ts";
import { useTempDirs } from "../helpers/tmp.ts";

const tempDir = useTempDirs("alpamon-intake-");
const intakes: LogIntake[] = [];
afterEach(() => {
  for (const i of intakes.splice(0)) i.stop();
});

function frame(value: unknown): Buffer {
  const body = Buffer.from(typeof value === "string" ? value : JSON.stringify(value));
  const head = Buffer.alloc(4);
  head.writeUInt32BE(body.length);
  return Buffer.concat([head, body]);
}

async function send(path: string, data: Buffer): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(path, () => socket.end(data));
    socket.on("close", () => resolve(true));
    socket.on("error", () => resolve(false));
  });
}

/** Waits (bounded) until `n` records have been forwarded; a frame after the ones a test expects dropped proves they were read. */
const forwarded = (sent: unknown[], n: number) => eventually(() => sent.length >= n, 5_000, `${n} forwarded records (have ${sent.length})`);

function start(perMinute = 120) {
  const path = join(tempDir(), "log.sock");
  const sent: { body: Record<string, unknown> }[] = [];
  let now = 0;
  const intake = new LogIntake({ path, enqueue: (item) => sent.push(item as never), log: silentLogger, now: () => now, perMinute });
  intake.start();
  intakes.push(intake);
  return { path, sent, advance: (ms: number) => (now += ms) };
}

const RECORD = { date: "2025-10-13T16:43:40+09:00", level: 30, program: "plugin", path: "x.py", lineno: 3, pid: 42, msg: "hello" };

describe("local log intake", () => {
  test("the socket is born 0600 under a 0177 umask, even when the process umask is 0; the umask is restored", () => {
    const previous = process.umask(0);
    try {
      const { path } = start();
      expect(statSync(path).mode & 0o777).toBe(0o600);
      expect(process.umask()).toBe(0);
    } finally {
      process.umask(previous);
    }
  });

  test("no chmod by path anywhere in src/log: a path swapped after bind could redirect it", () => {
    const dir = join(import.meta.dir, "../../src/log");
    for (const file of readdirSync(dir)) {
      const text = readFileSync(join(dir, file), "utf8");
      expect(`${file}: ${/\b(l?chmod|chown)(Sync)?\(/.test(text)}`).toBe(`${file}: false`);
    }
  });

  test("a Unix socket readable by root only; valid records forwarded as they came", async () => {
    const { path, sent } = start();
    expect(statSync(path).mode & 0o777).toBe(0o600);
    await send(path, Buffer.concat([frame(RECORD), frame({ ...RECORD, msg: "second" })]));
    await forwarded(sent, 2);
    expect(sent.map((s) => s.body.msg)).toEqual(["hello", "second"]);
    expect(sent[0]).toMatchObject({ method: "POST", path: "/api/history/logs/", priority: 90, body: RECORD });
  });

  test("frames split across writes are reassembled; bad JSON and bad fields are skipped", async () => {
    const { path, sent } = start();
    const whole = Buffer.concat([frame("not json"), frame({ ...RECORD, level: "high" }), frame(RECORD)]);
    await new Promise<void>((resolve) => {
      const socket = connect(path, async () => {
        for (let i = 0; i < whole.length; i += 7) {
          socket.write(whole.subarray(i, i + 7));
          await Bun.sleep(1); // part of the scenario: separate writes, so the frames arrive in pieces
        }
        socket.end();
      });
      socket.on("close", () => resolve());
    });
    await forwarded(sent, 1); // the valid frame comes last: once it is through, the bad ones were read
    expect(sent.map((s) => s.body.msg)).toEqual(["hello"]);
  });

  test("an oversized length closes the connection without allocating it", async () => {
    const { path, sent } = start();
    const head = Buffer.alloc(4);
    head.writeUInt32BE(0xffffffff);
    await send(path, head);
    await send(path, frame({ ...RECORD, msg: "x".repeat(MAX_FRAME_BYTES) }));
    await send(path, frame(RECORD));
    await forwarded(sent, 1); // the two refused connections were closed by the intake before this one was sent
    expect(sent.map((s) => s.body.msg)).toEqual(["hello"]);
  });

  test("rate-limited, and the next forwarded record says how many were dropped", async () => {
    const { path, sent, advance } = start(3);
    await send(path, Buffer.concat(Array.from({ length: 10 }, (_, i) => frame({ ...RECORD, msg: `m${i}` }))));
    await forwarded(sent, 3);
    expect(sent).toHaveLength(3);
    advance(60_000);
    await send(path, frame({ ...RECORD, msg: "after" }));
    await forwarded(sent, 4);
    // The count proves all ten were read: 3 forwarded, 7 dropped.
    expect(sent.map((s) => s.body.msg)).toEqual(["m0", "m1", "m2", "after (7 earlier local records dropped: rate limit)"]);
  });
});
