// The smux session against a recording transport: streams the peer opens, data both ways, FIN, the receive
// budget pausing and resuming the transport, NOP keep-alive and the idle close on a manual clock, and the
// per-session and global accept limits.
import { describe, expect, test } from "bun:test";
import { Cmd } from "../../../src/capabilities/tunnel/smux-frame.ts";
import { type SmuxSettings, SmuxSession, type SmuxStream } from "../../../src/capabilities/tunnel/smux-session.ts";
import { createStreamSlots, type StreamSlots } from "../../../src/capabilities/tunnel/stream-slots.ts";
import { silentLogger } from "../../../src/log/logger.ts";
import { ManualClock } from "../../../src/platform/clock.ts";
import { bytes, concat, FakeTransport, fin, nop, psh, rawFrame, recordingLogger, settle, syn, until } from "./smux-harness.ts";

const MiB = 1024 * 1024;

/** A transport like the WebSocket's: it copies each frame before send() returns, so the session may reuse buffers. */
class CopyingTransport extends FakeTransport {
  readonly copiesFrames = true;
  readonly buffers: ArrayBufferLike[] = [];
  override send(frame: Uint8Array): void | Promise<void> {
    this.buffers.push(frame.buffer);
    return super.send(frame.slice());
  }
}

function setup(options: { settings?: Partial<SmuxSettings>; slots?: StreamSlots; log?: ReturnType<typeof recordingLogger> } = {}) {
  const transport = new FakeTransport();
  const clock = new ManualClock();
  const log = options.log ?? recordingLogger();
  const session = new SmuxSession({
    transport,
    clock,
    log,
    slots: options.slots ?? createStreamSlots(silentLogger),
    ...(options.settings ? { settings: options.settings } : {}),
  });
  return { transport, clock, log, session };
}

async function openStream(session: SmuxSession, sid: number): Promise<SmuxStream> {
  session.receive(syn(sid));
  const stream = await session.accept();
  if (!stream) throw new Error("no stream");
  return stream;
}

/** Watches a promise without awaiting it, so a test can show it is still pending. */
function watch<T>(promise: Promise<T>): { done: boolean; value: T | undefined } {
  const state: { done: boolean; value: T | undefined } = { done: false, value: undefined };
  promise.then((value) => {
    state.done = true;
    state.value = value;
  });
  return state;
}

/** Advances the manual clock and waits until the keep-alive loop has parked again (or the session ended). */
async function advance(clock: ManualClock, session: SmuxSession, ms: number): Promise<void> {
  await clock.advance(ms);
  await until(() => clock.pending > 0 || session.isClosed, "keep-alive loop parked");
}

describe("streams", () => {
  test("accepts a stream the peer opens with SYN; a second SYN for the same id is ignored", async () => {
    const { session } = setup();
    session.receive(concat(syn(2), syn(2), syn(4)));
    expect((await session.accept())?.id).toBe(2);
    expect((await session.accept())?.id).toBe(4);
    const third = watch(session.accept());
    await settle();
    expect(third.done).toBe(false);
  });

  test("delivers PSH data in order; empty PSH and PSH for an unknown id are dropped", async () => {
    const { session } = setup();
    const stream = await openStream(session, 2);
    session.receive(concat(psh(2, bytes("hello ")), psh(2, new Uint8Array(0)), psh(8, bytes("nobody")), psh(2, bytes("world"))));
    expect(await stream.read()).toEqual(bytes("hello "));
    expect(await stream.read()).toEqual(bytes("world"));
    const pending = watch(stream.read());
    await settle();
    expect(pending.done).toBe(false);
    session.receive(psh(2, bytes("late")));
    await until(() => pending.done, "pending read resolved");
    expect(pending.value).toEqual(bytes("late"));
    expect(session.isClosed).toBe(false);
  });

  test("writes go out as one frame per message, split into PSH frames of at most 32 KiB", async () => {
    const { session, transport } = setup();
    const stream = await openStream(session, 6);
    const data = new Uint8Array(70_000).map((_, i) => i % 253);
    await stream.write(data);
    const frames = transport.frames();
    expect(frames.map((f) => [f.cmd, f.streamId, f.payload.length])).toEqual([
      [Cmd.PSH, 6, 32_768],
      [Cmd.PSH, 6, 32_768],
      [Cmd.PSH, 6, 4_464],
    ]);
    expect(concat(...frames.map((f) => f.payload))).toEqual(data);
    await stream.write(new Uint8Array(0));
    expect(transport.sent.length).toBe(3);
  });

  test("while nothing waits, a frame goes to the transport at once, without a turn of the event loop", async () => {
    const { session, transport } = setup();
    const stream = await openStream(session, 2);
    const write = stream.write(bytes("now"));
    expect(transport.sent.length).toBe(1);
    await write;
    expect(transport.frames()[0]?.payload).toEqual(bytes("now"));
  });

  test("a transport that copies what it sends gets frames built in one reused buffer; writeOwned frames in place", async () => {
    const transport = new CopyingTransport();
    const session = new SmuxSession({ transport, clock: new ManualClock(), log: silentLogger, slots: createStreamSlots(silentLogger) });
    const stream = await openStream(session, 4);
    const data = new Uint8Array(100_000).map((_, i) => (i * 7) % 251);
    await stream.write(data);
    const owned = data.slice();
    await stream.writeOwned(owned);
    const frames = transport.frames();
    expect(frames.map((f) => f.payload.length)).toEqual([32_768, 32_768, 32_768, 1_696, 32_768, 32_768, 32_768, 1_696]);
    expect(frames.every((f) => f.cmd === Cmd.PSH && f.streamId === 4)).toBe(true);
    expect(concat(...frames.slice(0, 4).map((f) => f.payload))).toEqual(data);
    expect(concat(...frames.slice(4).map((f) => f.payload))).toEqual(data);
    // write: every frame in the session's one buffer. writeOwned: the first there too, the rest over the buffer given.
    const shared = transport.buffers[0];
    expect(transport.buffers.slice(0, 5).every((b) => b === shared)).toBe(true);
    expect(transport.buffers.slice(5).every((b) => b === owned.buffer)).toBe(true);
  });

  test("writeOwned to a transport that keeps what it is given leaves the buffer alone", async () => {
    const { session, transport } = setup();
    const stream = await openStream(session, 2);
    const data = new Uint8Array(70_000).map((_, i) => i % 253);
    const owned = data.slice();
    await stream.writeOwned(owned);
    expect(owned).toEqual(data);
    expect(concat(...transport.frames().map((f) => f.payload))).toEqual(data);
  });

  test("a send that has not settled holds back the next frame", async () => {
    const { session, transport } = setup();
    const stream = await openStream(session, 2);
    let open = () => {};
    transport.gate = new Promise<void>((resolve) => {
      open = resolve;
    });
    const write = watch(stream.write(new Uint8Array(40_000)));
    await until(() => transport.sent.length === 1, "first frame sent");
    await settle();
    expect(transport.sent.length).toBe(1);
    expect(write.done).toBe(false);
    transport.gate = undefined;
    open();
    await until(() => write.done, "write finished");
    expect(transport.sent.length).toBe(2);
  });

  test("a failing send closes the session", async () => {
    const { session, transport } = setup();
    const stream = await openStream(session, 2);
    transport.gate = Promise.reject(new Error("socket gone"));
    await expect(stream.write(bytes("x"))).rejects.toThrow("socket gone");
    expect(await session.closed).toContain("socket gone");
    expect(transport.closes).toBe(1);
  });

  test("after the peer's FIN, buffered data is still read, then end of stream; we may still write", async () => {
    const { session, transport } = setup();
    const stream = await openStream(session, 2);
    session.receive(concat(psh(2, bytes("a")), psh(2, bytes("b")), fin(2), psh(2, bytes("after fin"))));
    expect(await stream.read()).toEqual(bytes("a"));
    expect(await stream.read()).toEqual(bytes("b"));
    expect(await stream.read()).toBeNull();
    await stream.write(bytes("reply"));
    expect(transport.frames().map((f) => f.cmd)).toEqual([Cmd.PSH]);
  });

  test("a pending read ends when the peer's FIN arrives", async () => {
    const { session } = setup();
    const stream = await openStream(session, 2);
    const pending = watch(stream.read());
    session.receive(fin(2));
    await until(() => pending.done, "read ended");
    expect(pending.value).toBeNull();
  });

  test("close sends one FIN, ends reads, refuses writes and forgets the id", async () => {
    const { session, transport } = setup();
    const stream = await openStream(session, 2);
    session.receive(psh(2, bytes("unread")));
    await stream.close();
    await stream.close();
    expect(transport.frames().map((f) => [f.cmd, f.streamId])).toEqual([[Cmd.FIN, 2]]);
    expect(await stream.read()).toBeNull();
    await expect(stream.write(bytes("x"))).rejects.toThrow("closed");
    session.receive(psh(2, bytes("discarded")));
    const again = await openStream(session, 2);
    expect(again).not.toBe(stream);
    session.receive(psh(2, bytes("new")));
    expect(await again.read()).toEqual(bytes("new"));
  });

  test("FIN goes out after the data written before close", async () => {
    const { session, transport } = setup();
    const stream = await openStream(session, 2);
    void stream.write(new Uint8Array(40_000));
    await stream.close();
    expect(transport.frames().map((f) => f.cmd)).toEqual([Cmd.PSH, Cmd.PSH, Cmd.FIN]);
  });
});

describe("receive budget", () => {
  test("pauses the transport when 4 MiB are unread, keeps the rest undecoded, resumes once data is taken", async () => {
    const { session, transport } = setup();
    const stream = await openStream(session, 2);
    const chunk = (n: number) => new Uint8Array(32_768).fill(n);
    // 128 frames fill the 4 MiB budget exactly; two more ride in the same message.
    const frames = Array.from({ length: (4 * MiB) / 32_768 + 2 }, (_, i) => psh(2, chunk(i)));
    session.receive(concat(...frames.slice(0, 100)));
    expect(transport.pauses).toBe(0);
    session.receive(concat(...frames.slice(100)));
    expect(transport.paused).toBe(true);
    expect(transport.pauses).toBe(1);

    // Each chunk read gives 32 KiB back, which lets exactly one held frame in: still paused.
    expect((await stream.read())?.[0]).toBe(0);
    expect(transport.paused).toBe(true);
    expect((await stream.read())?.[0]).toBe(1);
    expect(transport.paused).toBe(true);
    expect(transport.resumes).toBe(0);
    // Nothing is held any more: the next read frees budget with nothing to decode, so reading resumes.
    expect((await stream.read())?.[0]).toBe(2);
    expect(transport.paused).toBe(false);
    expect(transport.resumes).toBe(1);
    for (let i = 3; i < frames.length; i++) expect((await stream.read())?.[0]).toBe(i);
    expect(session.isClosed).toBe(false);
  });

  test("data for streams not yet accepted counts too, and closing a stream gives its unread bytes back", async () => {
    const { session, transport } = setup({ settings: { receiveBufferBytes: 100 } });
    const stream = await openStream(session, 2);
    session.receive(concat(psh(2, new Uint8Array(60)), syn(4), psh(4, new Uint8Array(60)), psh(2, bytes("dropped"))));
    expect(transport.paused).toBe(true);
    await stream.close();
    // 60 bytes back: reading resumes, and the held PSH for the closed stream is discarded.
    expect(transport.paused).toBe(false);
    const other = await session.accept();
    expect((await other?.read())?.length).toBe(60);
    const pending = watch(other!.read());
    await settle();
    expect(pending.done).toBe(false);
  });

  test("a peer that ignores the pause and sends past the held-input bound is cut off", async () => {
    const { session, transport, log } = setup({ settings: { receiveBufferBytes: 10, maxHeldInputBytes: 1000 } });
    await openStream(session, 2);
    session.receive(psh(2, new Uint8Array(20)));
    expect(transport.paused).toBe(true);
    session.receive(psh(2, new Uint8Array(900)));
    expect(session.isClosed).toBe(false);
    session.receive(psh(2, new Uint8Array(900)));
    expect(await session.closed).toContain("pause");
    expect(log.warnings).toContain("smux session closed");
  });

  test("a full accept backlog stops reading until a stream is accepted", async () => {
    const { session, transport } = setup({ settings: { acceptBacklog: 2 } });
    session.receive(concat(syn(2), syn(4), syn(6)));
    expect(transport.paused).toBe(true);
    expect((await session.accept())?.id).toBe(2);
    // Taking one lets the third SYN in, which fills the backlog again.
    expect(transport.paused).toBe(true);
    expect((await session.accept())?.id).toBe(4);
    expect(transport.paused).toBe(false);
    expect((await session.accept())?.id).toBe(6);
  });
});

describe("keep-alive", () => {
  test("sends NOP every 10 s", async () => {
    const { session, transport, clock } = setup();
    await advance(clock, session, 9_999);
    expect(transport.sent.length).toBe(0);
    await advance(clock, session, 1);
    await until(() => transport.sent.length === 1, "first NOP");
    expect([...transport.sent[0]!]).toEqual([1, 3, 0, 0, 0, 0, 0, 0]);
    session.receive(nop());
    await advance(clock, session, 10_000);
    await until(() => transport.sent.length === 2, "second NOP");
    expect(transport.frames().every((f) => f.cmd === Cmd.NOP && f.streamId === 0)).toBe(true);
  });

  test("closes the session after 30 s without any frame from the peer", async () => {
    const { session, transport, clock } = setup();
    await advance(clock, session, 20_000);
    expect(session.isClosed).toBe(false);
    await advance(clock, session, 10_000);
    expect(await session.closed).toContain("no frame");
    expect(transport.closes).toBe(1);
  });

  test("any frame within each 30 s period keeps the session open", async () => {
    const { session, clock } = setup();
    for (let period = 0; period < 4; period++) {
      await advance(clock, session, 20_000);
      session.receive(nop());
      await advance(clock, session, 10_000);
      expect(session.isClosed).toBe(false);
    }
    await advance(clock, session, 30_000);
    expect(session.isClosed).toBe(true);
  });

  test("while paused on a full budget, silence is not held against the peer", async () => {
    const { session, transport, clock } = setup({ settings: { receiveBufferBytes: 10 } });
    const stream = await openStream(session, 2);
    session.receive(psh(2, new Uint8Array(20)));
    expect(transport.paused).toBe(true);
    await advance(clock, session, 90_000);
    expect(session.isClosed).toBe(false);
    await stream.read();
    await advance(clock, session, 30_000);
    expect(session.isClosed).toBe(true);
  });

  test("close stops the timers", async () => {
    const { session, transport, clock } = setup();
    session.close("done");
    await until(() => clock.pending === 0, "timer cancelled");
    await clock.advance(60_000);
    expect(transport.sent.length).toBe(0);
    expect(await session.closed).toBe("done");
  });
});

describe("accept limits", () => {
  test("at 64 open streams per session it stops accepting (no rejection) until one closes; warns once at 75 %", async () => {
    const { session, transport, log } = setup();
    session.receive(concat(...Array.from({ length: 66 }, (_, i) => syn(2 * (i + 1)))));
    const streams: SmuxStream[] = [];
    for (let i = 0; i < 47; i++) streams.push((await session.accept())!);
    expect(log.warnings).toHaveLength(0);
    for (let i = 47; i < 64; i++) streams.push((await session.accept())!);
    const waiting = watch(session.accept());
    await settle();
    expect(waiting.done).toBe(false);
    expect(transport.sent.length).toBe(0); // nothing refused on the wire
    expect(log.warnings.filter((w) => w.includes("session limit"))).toHaveLength(1);
    await streams[0]!.close();
    await until(() => waiting.done, "65th stream accepted");
    expect(waiting.value?.id).toBe(130);
    expect(session.isClosed).toBe(false);
  });

  test("the global limit (256 by default) is shared: a slot freed in one session lets another accept", async () => {
    const log = recordingLogger();
    const slots = createStreamSlots(log);
    const sessions = Array.from({ length: 5 }, () => setup({ slots }).session);
    const opened: SmuxStream[] = [];
    for (const session of sessions.slice(0, 4)) {
      session.receive(concat(...Array.from({ length: 64 }, (_, i) => syn(2 * (i + 1)))));
      for (let i = 0; i < 64; i++) opened.push((await session.accept())!);
    }
    expect(log.warnings.filter((w) => w.includes("global limit"))).toHaveLength(1);
    const last = sessions[4]!;
    last.receive(syn(2));
    const waiting = watch(last.accept());
    await settle();
    expect(waiting.done).toBe(false);
    await opened[10]!.close();
    await until(() => waiting.done, "stream accepted in the fifth session");
    expect(waiting.value?.id).toBe(2);
  });

  test("a closed session gives its global slots back", async () => {
    const slots = createStreamSlots(silentLogger, 1);
    const first = setup({ slots }).session;
    const second = setup({ slots }).session;
    await openStream(first, 2);
    second.receive(syn(2));
    const waiting = watch(second.accept());
    await settle();
    expect(waiting.done).toBe(false);
    first.close();
    await until(() => waiting.done, "slot handed over");
    expect(waiting.value?.id).toBe(2);
  });
});

describe("protocol errors", () => {
  test("a bad frame closes the whole session: streams end, accepts resolve null, the transport closes", async () => {
    for (const bad of [rawFrame(2, 0, 2), rawFrame(1, 4, 2, new Uint8Array(8)), rawFrame(1, 9, 2)]) {
      const { session, transport } = setup();
      const stream = await openStream(session, 2);
      const read = watch(stream.read());
      const accept = watch(session.accept());
      session.receive(concat(bad, syn(4)));
      expect(await session.closed).toContain("protocol error");
      await until(() => read.done && accept.done, "waiters released");
      expect(read.value).toBeNull();
      expect(accept.value).toBeNull();
      expect(transport.closes).toBe(1);
      await expect(stream.write(bytes("x"))).rejects.toThrow();
      session.receive(syn(6));
      expect(await session.accept()).toBeNull();
    }
  });
});
