// Signed commands through the real agent process and the fake console (2026 dialect) with its key server
// (upstream-2026.md §1): each case in both modes. Enforce refuses with POST …/reject/ and no ack, no fin, and
// nothing runs; monitor warns once and runs. "Nothing arrived" is proved by order: a later valid command's
// fin comes after anything the agent queued for an earlier one (same priority, in order).
import { describe, expect, test } from "bun:test";
import { existsSync } from "node:fs";
import { join } from "node:path";
import type { FakeConsole } from "../../console/fake-console.ts";
import { KEY_PATH, KeyServer, TestSigner } from "../../console/fake-signer.ts";
import { type RunningAgent, useConsoleAndAgents } from "../../helpers/agent.ts";
import { useTempDirs } from "../../helpers/tmp.ts";

const { consoleOf, agentFor, cleanup } = useConsoleAndAgents();
const tempDir = useTempDirs("alpamon-signing-e2e-");

type Mode = "monitor" | "enforce";

const now = () => new Date().toISOString();

interface SetupOptions {
  pins?: TestSigner[];
  keyServerDown?: boolean;
  stateDir?: string;
  /** A key server of its own (default: mounted on the fake console). */
  keyServer?: { keys: KeyServer; url: string; signer: TestSigner };
  /** The console's server id and key (a console the agent already knows). */
  identity?: { id: string; key: string };
}

async function setup(mode: Mode, options: SetupOptions = {}) {
  const fake = await consoleOf({ dialect: "2026", ...options.identity });
  const signer = options.keyServer?.signer ?? new TestSigner(`k-${crypto.randomUUID().slice(0, 8)}`);
  const keys = options.keyServer?.keys ?? new KeyServer(signer);
  if (options.keyServerDown) keys.down();
  if (!options.keyServer) fake.mount(keys);
  const dir = options.stateDir ?? tempDir();
  const extra = [
    "[signing]",
    `mode = ${mode}`,
    `key_url = ${options.keyServer?.url ?? fake.url + KEY_PATH}`,
    options.pins ? `public_keys = ${options.pins.map((s) => s.pin()).join(", ")}` : "",
  ].join("\n");
  const agent = agentFor(fake, dir, { extraConfig: extra });
  await fake.waitForBackhaul(15_000);
  return { fake, signer, keys, agent, dir };
}

/** Sends a command that would create `marker`; returns its id. */
function touching(fake: FakeConsole, marker: string, fields: Parameters<FakeConsole["sendCommand"]>[0] | object = {}) {
  return fake.sendCommand({ line: `/usr/bin/touch ${marker}`, user: "root", group: "root", analyzed_at: now(), ...fields });
}

/** A valid command after `id`: once its fin is in, anything queued for `id` would have arrived too. */
async function settle(fake: FakeConsole, signer: TestSigner): Promise<void> {
  const later = fake.sendCommand({ line: "/bin/true", user: "root", group: "root", analyzed_at: now(), signer });
  await fake.waitForFin(later, 15_000);
}

function acked(fake: FakeConsole, id: string): boolean {
  return fake.requests.some((r) => r.path.startsWith(`/api/events/commands/${id}/`) && r.path !== `/api/events/commands/${id}/reject/`);
}

async function expectRefused(fake: FakeConsole, agent: RunningAgent, signer: TestSigner, id: string, marker: string, reason: string) {
  const reject = await fake.waitForRequest((r) => r.path === `/api/events/commands/${id}/reject/`, 15_000);
  expect(reject.json).toEqual({ reason });
  expect(reject.status).toBe(200);
  await settle(fake, signer).catch((e) => {
    console.log(
      agent.log
        .split("\n")
        .filter((l) => l.includes("signing"))
        .join("\n"),
    );
    throw e;
  });
  expect(acked(fake, id)).toBe(false);
  expect(existsSync(marker)).toBe(false);
  await agent.waitForLog(new RegExp(`refused a command.*${id}`));
}

async function expectRan(fake: FakeConsole, agent: RunningAgent, id: string, marker: string, warned?: string) {
  const fin = await fake.waitForFin(id, 15_000);
  expect(fin).toMatchObject({ success: true, exit_code: 0 });
  expect(existsSync(marker)).toBe(true);
  expect(fake.requests.some((r) => r.path === `/api/events/commands/${id}/reject/`)).toBe(false);
  const warnings = agent.log.split("\n").filter((l) => l.includes(id) && l.includes("signature check failed"));
  if (warned) {
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toContain(warned);
  } else expect(warnings).toEqual([]);
}

describe.each(["enforce", "monitor"] as Mode[])("signing mode %s", (mode) => {
  test("valid, unsigned, bad base64, wrong length, wrong key, rotated key, replay, internal", async () => {
    const { fake, signer, keys, agent } = await setup(mode);
    const dir = tempDir();
    const marker = (name: string) => join(dir, name);
    let current = signer; // what the key server serves: the console's valid commands are signed with it
    const refusedOrRan = async (id: string, name: string, reason: string) =>
      mode === "enforce" ? expectRefused(fake, agent, current, id, marker(name), reason) : expectRan(fake, agent, id, marker(name), reason);

    // Valid: runs, no warning; the key was fetched without credentials.
    const valid = touching(fake, marker("valid"), { signer });
    await expectRan(fake, agent, valid, marker("valid"));
    expect(keys.requests).toHaveLength(1);
    expect(keys.requests[0]!.headers.authorization).toBeUndefined();

    await refusedOrRan(touching(fake, marker("unsigned")), "unsigned", "unsigned_command");
    await refusedOrRan(touching(fake, marker("b64"), { signature: "%%%not-base64%%%", key_id: signer.keyId }), "b64", "invalid_signature");
    const short = Buffer.alloc(48, 7).toString("base64");
    await refusedOrRan(touching(fake, marker("short"), { signature: short, key_id: signer.keyId }), "short", "invalid_signature");
    const impostor = new TestSigner(signer.keyId);
    await refusedOrRan(touching(fake, marker("wrongkey"), { signer: impostor }), "wrongkey", "signature_mismatch");

    // Rotation: the key server now has a new key; a command naming it makes the agent fetch at once.
    const rotated = new TestSigner(`${signer.keyId}-next`);
    keys.serve(rotated);
    current = rotated;
    const afterRotation = touching(fake, marker("rotated"), { signer: rotated });
    await expectRan(fake, agent, afterRotation, marker("rotated"));
    expect(keys.requests).toHaveLength(2);

    // Replay: the same id again never runs twice; an old analyzed_at is refused in enforce.
    const replayedId = touching(fake, marker("replayed"), { signer: rotated });
    await expectRan(fake, agent, replayedId, marker("replayed"));
    fake.sendCommand({ id: replayedId, line: "/bin/false", user: "root", group: "root", analyzed_at: now(), signer: rotated });
    await settle(fake, rotated);
    expect(fake.requests.filter((r) => r.path === `/api/events/commands/${replayedId}/fin/`)).toHaveLength(1);
    const old = new Date(Date.now() - 11 * 60_000).toISOString();
    await refusedOrRan(touching(fake, marker("old"), { signer: rotated, analyzed_at: old }), "old", "invalid_signature");

    // Internal commands are never checked.
    const ping = fake.sendCommand({ shell: "internal", line: "ping" });
    expect(await fake.waitForFin(ping, 15_000)).toMatchObject({ success: true });
    expect(agent.log).toContain(`command signatures are checked in ${mode} mode`);
  }, 60_000);

  test("a restart during a key-server outage verifies with the stored key; with none, key_unavailable", async () => {
    const signer = new TestSigner(`k-${crypto.randomUUID().slice(0, 8)}`);
    const keys = new KeyServer(signer);
    const keyServer = { keys, url: keys.listen(), signer };
    cleanup(() => keys.stop());
    const { fake, agent, dir } = await setup(mode, { keyServer });
    const files = tempDir();
    const first = touching(fake, join(files, "first"), { signer });
    await expectRan(fake, agent, first, join(files, "first"));
    expect(keys.requests).toHaveLength(1);
    await agent.stop("SIGTERM");
    await fake.stop();

    // Same state dir and server, key server down: the stored key (fetched a moment ago, fresh for an hour) verifies.
    const again = await setup(mode, { keyServer, keyServerDown: true, stateDir: dir, identity: { id: fake.id, key: fake.key } });
    const second = touching(again.fake, join(files, "second"), { signer });
    await expectRan(again.fake, again.agent, second, join(files, "second"));
    expect(keys.requests).toHaveLength(1);

    // A fresh state dir, key server down: no key at all.
    const fresh = await setup(mode, { keyServerDown: true });
    const third = touching(fresh.fake, join(files, "third"), { signer: fresh.signer });
    if (mode === "enforce") {
      const reject = await fresh.fake.waitForRequest((r) => r.path === `/api/events/commands/${third}/reject/`, 20_000);
      expect(reject.json).toEqual({ reason: "key_unavailable" });
      expect(existsSync(join(files, "third"))).toBe(false);
    } else await expectRan(fresh.fake, fresh.agent, third, join(files, "third"), "key_unavailable");
    expect(fresh.keys.requests.length).toBeGreaterThanOrEqual(1);
  }, 90_000);

  test("pinned keys win over the key server, which is never asked", async () => {
    const pinned = new TestSigner("pinned-1");
    const { fake, signer, keys, agent } = await setup(mode, { pins: [pinned] });
    const files = tempDir();
    const byPin = touching(fake, join(files, "pinned"), { signer: pinned });
    await expectRan(fake, agent, byPin, join(files, "pinned"));
    // The key server's own key (what an attacker controlling it would serve) does not verify.
    const byServer = touching(fake, join(files, "server"), { signer });
    if (mode === "enforce") await expectRefused(fake, agent, pinned, byServer, join(files, "server"), "key_unavailable");
    else await expectRan(fake, agent, byServer, join(files, "server"), "key_unavailable");
    // Without key_id it is tried against the pins, and fails as a mismatch.
    const noKeyId = touching(fake, join(files, "nokeyid"), { signer, withKeyId: false });
    if (mode === "enforce") await expectRefused(fake, agent, pinned, noKeyId, join(files, "nokeyid"), "signature_mismatch");
    else await expectRan(fake, agent, noKeyId, join(files, "nokeyid"), "signature_mismatch");
    expect(keys.requests).toHaveLength(0);
  }, 60_000);
});
