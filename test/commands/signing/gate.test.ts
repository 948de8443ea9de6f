// The key source and the gate, in-process, against a real key server on loopback (Bun.serve) and a state DB
// in a temp dir; time is the injected clock. The agent-process tests are in signing-agent.test.ts.
import { afterEach, describe, expect, test } from "bun:test";
import { join } from "node:path";
import { type RejectReason, SigningGate } from "../../../src/commands/signing/gate.ts";
import { fetchSigningKey, KEY_BODY_MAX_BYTES } from "../../../src/commands/signing/key-fetch.ts";
import { FetchedKeys, KEY_TTL_MS, MIN_FORCED_FETCH_MS, PinnedKeys } from "../../../src/commands/signing/keys.ts";
import type { CommandEnvelope } from "../../../src/console/protocol.ts";
import { openStateDb, type StateDb } from "../../../src/db/open.ts";
import { createSigningKeyStore } from "../../../src/db/signing-key.ts";
import { LogHub, type LogRecord } from "../../../src/log/logger.ts";
import { ManualClock } from "../../../src/platform/clock.ts";
import { TestSigner } from "../../console/fake-signer.ts";
import { useTempDirs } from "../../helpers/tmp.ts";

const SERVER_ID = "srv-test";
const tempDir = useTempDirs("alpamon-signing-");
const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** A key server on loopback answering what `answer` says; counts requests and keeps their headers. */
function keyServer(initial: () => Response) {
  const state = { answer: initial, requests: [] as Headers[], delayMs: 0 };
  const server = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    async fetch(req) {
      state.requests.push(req.headers);
      if (state.delayMs) await Bun.sleep(state.delayMs);
      return state.answer();
    },
  });
  cleanups.push(() => server.stop(true));
  return { ...state, state, url: `http://127.0.0.1:${server.port}/api/commands/public-key/` };
}

const json =
  (body: unknown, status = 200) =>
  () =>
    new Response(JSON.stringify(body), { status, headers: { "Content-Type": "application/json" } });

function records() {
  const hub = new LogHub({ write() {}, close() {} }, "debug");
  const lines: LogRecord[] = [];
  hub.listen((r) => lines.push(r));
  return { log: hub.logger("signing"), lines };
}

function openDb(): StateDb {
  const db = openStateDb(join(tempDir(), "alpamon.db"));
  cleanups.push(() => db.close());
  return db;
}

function command(signer: TestSigner | undefined, over: Partial<CommandEnvelope> = {}, clock = new ManualClock()): CommandEnvelope {
  const base: CommandEnvelope = {
    id: `c-${crypto.randomUUID()}`,
    shell: "system",
    line: "echo hi",
    user: "root",
    group: "root",
    env: null,
    data: null,
    allow_sh: null,
    analyzed_at: new Date(clock.now()).toISOString(),
    ...over,
  };
  if (signer && over.signature === undefined) {
    base.signature = signer.sign(base, SERVER_ID);
    if (over.key_id === undefined) base.key_id = signer.keyId;
  }
  return base;
}

/** A gate whose key comes from the key server at `url`; its reject calls go nowhere. */
function fetchingGate(mode: "monitor" | "enforce", url: string, clock: ManualClock): SigningGate {
  const { log } = records();
  return new SigningGate({
    mode,
    serverId: SERVER_ID,
    keys: new FetchedKeys({
      url,
      fetchKey: () => fetchSigningKey(url, { tls: { rejectUnauthorized: true }, userAgent: "t", env: {} }),
      clock,
      log,
    }),
    maxAgeMs: 600_000,
    clock,
    log,
    reject: () => {},
  });
}

async function verdictOf(gate: SigningGate, c: CommandEnvelope) {
  return await gate.check(c);
}

describe("the key fetch", () => {
  test("sends no credentials, checks the body and refuses redirects and oversized bodies", async () => {
    const signer = new TestSigner("k1");
    const ks = keyServer(json(signer.keyBody("2026-12-31T00:00:00Z")));
    const opts = { tls: { rejectUnauthorized: true }, userAgent: "alpamon/test", env: {} };
    const got = await fetchSigningKey(ks.url, opts);
    expect(got).toEqual({ ok: true, key: { keyId: "k1", publicKey: signer.publicKey, expiresAt: Date.UTC(2026, 11, 31) } });
    expect(ks.state.requests[0]!.get("authorization")).toBeNull();

    ks.state.answer = () => new Response(null, { status: 302, headers: { Location: "http://127.0.0.1:1/evil" } });
    expect(await fetchSigningKey(ks.url, opts)).toEqual({ ok: false, error: "status 302 (redirects are not followed)" });
    ks.state.answer = json({ ...signer.keyBody(), pad: "x".repeat(KEY_BODY_MAX_BYTES) });
    expect(await fetchSigningKey(ks.url, opts)).toEqual({ ok: false, error: `body larger than ${KEY_BODY_MAX_BYTES} bytes` });
    ks.state.answer = json({ ...signer.keyBody(), algorithm: "RSA" });
    expect(await fetchSigningKey(ks.url, opts)).toEqual({ ok: false, error: "algorithm is not Ed25519" });
    ks.state.answer = json({ ...signer.keyBody(), key_id: "" });
    expect(await fetchSigningKey(ks.url, opts)).toEqual({ ok: false, error: "key_id is empty" });
    ks.state.answer = json({ ...signer.keyBody(), public_key: Buffer.alloc(33).toString("base64") });
    expect(await fetchSigningKey(ks.url, opts)).toEqual({ ok: false, error: "public_key is not base64 of 32 bytes" });
    ks.state.answer = json(signer.keyBody("next tuesday"));
    expect(await fetchSigningKey(ks.url, opts)).toMatchObject({ ok: true, key: { expiresAt: undefined, badExpiry: true } });
    ks.state.answer = json({ detail: "x" }, 500);
    expect(await fetchSigningKey(ks.url, opts)).toEqual({ ok: false, error: "status 500" });
  });
});

describe("fetched keys", () => {
  function setup(signer: TestSigner, db?: StateDb, clock = new ManualClock()) {
    const ks = keyServer(json(signer.keyBody()));
    const { log, lines } = records();
    const make = () =>
      new FetchedKeys({
        url: ks.url,
        fetchKey: () => fetchSigningKey(ks.url, { tls: { rejectUnauthorized: true }, userAgent: "t", env: {} }),
        ...(db ? { store: createSigningKeyStore(db.sqlite) } : {}),
        clock,
        log,
      });
    return { ks, clock, lines, make };
  }

  test("one fetch for many lookups, then stale after an hour without expires_at", async () => {
    const signer = new TestSigner("k1");
    const { ks, clock, make } = setup(signer);
    const keys = make();
    const all = await Promise.all([keys.lookup("k1"), keys.lookup(undefined), keys.lookup("k1")]);
    expect(all.every((l) => l.ok)).toBe(true);
    expect(ks.state.requests).toHaveLength(1);
    // Fresh: answered at once, without a promise.
    expect(keys.lookup("k1")).toMatchObject({ ok: true });
    clock.advance(KEY_TTL_MS - 1);
    expect(keys.lookup(undefined)).toMatchObject({ ok: true });
    clock.advance(1);
    expect(await keys.lookup(undefined)).toMatchObject({ ok: true });
    expect(ks.state.requests).toHaveLength(2);
  });

  test("an unknown key_id fetches even with a fresh key (rotation); such fetches start at most every 10 s", async () => {
    const old = new TestSigner("k1");
    const next = new TestSigner("k2");
    const { ks, clock, make } = setup(old);
    const keys = make();
    expect(await keys.lookup("k1")).toMatchObject({ ok: true });
    ks.state.answer = json(next.keyBody());
    const rotated = await keys.lookup("k2");
    expect(rotated.ok && rotated.keys[0]!.keyId).toBe("k2");
    expect(ks.state.requests).toHaveLength(2);
    // A made-up key id right after: no new fetch, and it is not the active key.
    expect(await keys.lookup("k3")).toMatchObject({ ok: false, error: expect.stringContaining('key_id "k3" is not the active key') });
    expect(ks.state.requests).toHaveLength(2);
    clock.advance(MIN_FORCED_FETCH_MS);
    await keys.lookup("k3");
    expect(ks.state.requests).toHaveLength(3);
  });

  test("the key and its expiry survive a restart in the state DB; a stale one does not verify", async () => {
    const signer = new TestSigner("k1");
    const db = openDb();
    const clock = new ManualClock();
    const expires = new Date(clock.now() + 2 * KEY_TTL_MS).toISOString();
    const { ks, make } = setup(signer, db, clock);
    ks.state.answer = json(signer.keyBody(expires));
    expect(await make().lookup("k1")).toMatchObject({ ok: true });
    ks.state.answer = json({}, 503);
    // A new process (a new FetchedKeys on the same DB) during the outage: the stored key is used, nothing fetched.
    const restarted = make();
    expect(restarted.lookup("k1")).toMatchObject({ ok: true, keys: [{ keyId: "k1" }] });
    expect(ks.state.requests).toHaveLength(1);
    // expires_at, not the hour, decides: fresh after 1.5 h, stale at 2 h.
    clock.advance(1.5 * KEY_TTL_MS);
    expect(restarted.lookup("k1")).toMatchObject({ ok: true });
    clock.advance(0.5 * KEY_TTL_MS);
    expect(await restarted.lookup("k1")).toMatchObject({ ok: false, error: expect.stringContaining("status 503") });
  });

  test("pinned keys: only they verify, a key_id not pinned is unavailable", () => {
    const a = new TestSigner("a");
    const b = new TestSigner("b");
    const pinned = new PinnedKeys([
      { keyId: "a", publicKey: a.publicKey },
      { keyId: "b", publicKey: b.publicKey },
    ]);
    expect(pinned.lookup(undefined)).toMatchObject({ ok: true, keys: [{ keyId: "a" }, { keyId: "b" }] });
    expect(pinned.lookup("b")).toMatchObject({ ok: true, keys: [{ keyId: "b" }] });
    expect(pinned.lookup("c")).toMatchObject({ ok: false });
  });
});

describe("the gate", () => {
  function gate(mode: "monitor" | "enforce", signer: TestSigner, clock = new ManualClock()) {
    const { log, lines } = records();
    const rejects: [string, RejectReason][] = [];
    const g = new SigningGate({
      mode,
      serverId: SERVER_ID,
      keys: new PinnedKeys([{ keyId: signer.keyId, publicKey: signer.publicKey }]),
      maxAgeMs: 600_000,
      clock,
      log,
      reject: (id, reason) => rejects.push([id, reason]),
    });
    return { g, lines, rejects, clock };
  }

  test("verdicts: valid, unsigned, bad base64, wrong length, wrong key, wrong server id", async () => {
    const signer = new TestSigner("k1");
    const other = new TestSigner("k1");
    const { g, clock } = gate("enforce", signer);
    expect(await verdictOf(g, command(signer, {}, clock))).toEqual({ ok: true });
    expect(await verdictOf(g, command(undefined, {}, clock))).toMatchObject({ ok: false, reason: "unsigned_command" });
    expect(await verdictOf(g, command(undefined, { signature: "not base64!" }, clock))).toMatchObject({ reason: "invalid_signature" });
    expect(await verdictOf(g, command(undefined, { signature: Buffer.alloc(32).toString("base64") }, clock))).toMatchObject({
      reason: "invalid_signature",
    });
    expect(await verdictOf(g, command(other, {}, clock))).toMatchObject({ reason: "signature_mismatch" });
    const forOtherServer = command(undefined, {}, clock);
    forOtherServer.signature = signer.sign(forOtherServer, "another-server");
    expect(await verdictOf(g, forOtherServer)).toMatchObject({ reason: "signature_mismatch" });
  });

  test("enforce refuses a replay: analyzed_at too old, too far ahead, or missing", async () => {
    const signer = new TestSigner("k1");
    const { g, clock } = gate("enforce", signer);
    const at = (ms: number) => new Date(clock.now() + ms).toISOString();
    expect(await verdictOf(g, command(signer, { analyzed_at: at(-600_000) }, clock))).toEqual({ ok: true });
    expect(await verdictOf(g, command(signer, { analyzed_at: at(-600_001) }, clock))).toMatchObject({ reason: "invalid_signature" });
    expect(await verdictOf(g, command(signer, { analyzed_at: at(60_000) }, clock))).toEqual({ ok: true });
    expect(await verdictOf(g, command(signer, { analyzed_at: at(60_001) }, clock))).toMatchObject({ reason: "invalid_signature" });
    expect(await verdictOf(g, command(signer, { analyzed_at: "" }, clock))).toMatchObject({
      detail: expect.stringContaining("analyzed_at"),
    });
    // Python's isoformat with microseconds and an offset.
    const local = new Date(clock.now() + 9 * 3600_000).toISOString().replace("Z", "123+09:00");
    expect(await verdictOf(g, command(signer, { analyzed_at: local }, clock))).toEqual({ ok: true });
  });

  test("enforce: refused commands are rejected once and never reach the dispatcher; internal ones are not checked", async () => {
    const signer = new TestSigner("k1");
    const { g, rejects, lines, clock } = gate("enforce", signer);
    const accepted: string[] = [];
    const bad = command(undefined, { line: "echo SECRET-LINE" }, clock);
    g.admit(bad, (c) => accepted.push(c.id));
    const good = command(signer, {}, clock);
    g.admit(good, (c) => accepted.push(c.id));
    const internal = command(undefined, { shell: "internal", line: "ping" }, clock);
    g.admit(internal, (c) => accepted.push(c.id));
    expect(accepted).toEqual([good.id, internal.id]);
    expect(rejects).toEqual([[bad.id, "unsigned_command"]]);
    const warnings = lines.filter((l) => l.level === "warn");
    expect(warnings).toHaveLength(1);
    expect(warnings[0]!.fields).toMatchObject({ command: bad.id, reason: "unsigned_command" });
    expect(JSON.stringify(warnings)).not.toContain("SECRET-LINE");
  });

  test("monitor: one warning per failing command, and it runs", async () => {
    const signer = new TestSigner("k1");
    const { g, rejects, lines, clock } = gate("monitor", signer);
    const accepted: string[] = [];
    const bad = command(undefined, {}, clock);
    g.admit(bad, (c) => accepted.push(c.id));
    g.admit(command(signer, {}, clock), (c) => accepted.push(c.id));
    expect(accepted).toHaveLength(2);
    expect(rejects).toEqual([]);
    expect(lines.filter((l) => l.level === "warn").map((l) => l.fields?.reason)).toEqual(["unsigned_command"]);
  });

  test("a command without key_id that does not verify is retried once with a re-fetched key", async () => {
    const old = new TestSigner("k1");
    const next = new TestSigner("k2");
    const ks = keyServer(json(old.keyBody()));
    const clock = new ManualClock();
    const g = fetchingGate("enforce", ks.url, clock);
    expect(await g.check(command(old, { key_id: "" }, clock))).toEqual({ ok: true });
    ks.state.answer = json(next.keyBody());
    // Signed by the new key, no key_id: the cached (fresh) old key fails, one fetch, the new key verifies.
    expect(await g.check(command(next, { key_id: "" }, clock))).toEqual({ ok: true });
    expect(ks.state.requests).toHaveLength(2);
    // With a key_id there is no retry: the lookup already decided.
    const stranger = new TestSigner("k2");
    expect(await g.check(command(stranger, {}, clock))).toMatchObject({ reason: "signature_mismatch" });
    expect(ks.state.requests).toHaveLength(2);
  });

  test("commands keep their order while a key is fetched, even those decided at once", async () => {
    const signer = new TestSigner("k1");
    const ks = keyServer(json(signer.keyBody()));
    ks.state.delayMs = 100;
    const clock = new ManualClock();
    const g = fetchingGate("monitor", ks.url, clock);
    const order: string[] = [];
    // Signed ones wait for the key; the unsigned ones in between are decided without it, but still go in order.
    const ids = [0, 1, 2, 3].map((i) => {
      const c = command(i % 2 === 0 ? signer : undefined, { id: `c${i}` }, clock);
      g.admit(c, (x) => order.push(x.id));
      return c.id;
    });
    const deadline = Date.now() + 5_000;
    while (order.length < ids.length && Date.now() < deadline) await Bun.sleep(5);
    expect(order).toEqual(ids);
    expect(ks.state.requests).toHaveLength(1);
  });
});
