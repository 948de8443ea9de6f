// Signed commands (issue 20): what the check costs.
// Part 1, in-process: SigningGate.check on a signed command with a pinned key (the steady state: the key is at
// hand), 20,000 times; median and p99 per command, beside building the canonical payload alone.
// Part 2, through the agent process: two agents side by side, one with [signing] mode = off and one with
// mode = enforce (pinned key), each against its own fake console; commands alternate between them.
// Internal `ping` (never checked: the control) and a signed `system` /bin/true: time from the console
// pushing the command to its ack (the ack is queued right after the check) and to its fin. p50/p99.
// Run: node_modules/.bin/bun bench/signing.ts [commands=300]   (ALPAMON_BIN=<binary> or =src; default dist/)
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { SigningGate } from "../src/commands/signing/gate.ts";
import { PinnedKeys } from "../src/commands/signing/keys.ts";
import { canonicalPayload } from "../src/commands/signing/payload.ts";
import type { CommandEnvelope } from "../src/console/protocol.ts";
import { silentLogger } from "../src/log/logger.ts";
import { systemClock } from "../src/platform/clock.ts";
import { FakeConsole } from "../test/console/fake-console.ts";
import { TestSigner } from "../test/console/fake-signer.ts";
import { writeAgentConfig } from "../test/helpers/agent.ts";
import { agentArgv } from "./lib.ts";

const count = Number(process.argv[2] ?? 300);
const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)]!;
};
const us = (ms: number) => `${(ms * 1000).toFixed(1)} µs`;

// Part 1.
const signer = new TestSigner("bench-key");
const gate = new SigningGate({
  mode: "enforce",
  serverId: "bench-server",
  keys: new PinnedKeys([{ keyId: signer.keyId, publicKey: signer.publicKey }]),
  maxAgeMs: 600_000,
  clock: systemClock,
  log: silentLogger,
  reject: () => {},
});
const command: CommandEnvelope = {
  id: "7c1e0f5a-3b2d-4c8e-9f10-2a4b6c8d0e1f",
  shell: "system",
  line: "systemctl restart nginx && journalctl -u nginx -n 50 --no-pager",
  user: "root",
  group: "root",
  env: null,
  data: null,
  allow_sh: null,
  analyzed_at: new Date().toISOString(),
  key_id: signer.keyId,
};
command.signature = signer.sign(command, "bench-server");
const checks: number[] = [];
const payloads: number[] = [];
for (let i = 0; i < 20_000; i++) {
  let t0 = performance.now();
  const verdict = gate.check(command);
  checks.push(performance.now() - t0);
  if (verdict instanceof Promise || !verdict.ok) throw new Error("the bench command must verify at once");
  t0 = performance.now();
  canonicalPayload(command, "bench-server");
  payloads.push(performance.now() - t0);
}
console.log(`check (payload + Ed25519 verify), 20,000x: median ${us(pct(checks, 50))}, p99 ${us(pct(checks, 99))}`);
console.log(`canonical payload alone:                 median ${us(pct(payloads, 50))}, p99 ${us(pct(payloads, 99))}`);

// Part 2.
interface Side {
  mode: string;
  fake: FakeConsole;
  proc: ReturnType<typeof Bun.spawn>;
  dir: string;
  ack: Record<string, number[]>;
  fin: Record<string, number[]>;
}

async function side(mode: "off" | "enforce"): Promise<Side> {
  const fake = await FakeConsole.start({ dialect: "2026" });
  const dir = mkdtempSync(join(tmpdir(), `alpamon-bench-signing-${mode}-`));
  const config = writeAgentConfig(fake, dir, { extraConfig: `[signing]\nmode = ${mode}\npublic_keys = ${signer.pin()}\n` });
  const proc = Bun.spawn([...agentArgv(), "--config", config], {
    cwd: "/",
    stdin: "ignore",
    stdout: "ignore",
    stderr: "ignore",
    env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: "/nonexistent-home" },
  });
  await fake.waitForBackhaul(30_000);
  return { mode, fake, proc, dir, ack: { ping: [], system: [] }, fin: { ping: [], system: [] } };
}

async function once(s: Side, kind: "ping" | "system"): Promise<void> {
  const t0 = performance.now();
  const id =
    kind === "ping"
      ? s.fake.sendCommand({ shell: "internal", line: "ping" })
      : s.fake.sendCommand({ line: "/bin/true", user: "root", group: "root", analyzed_at: new Date().toISOString(), signer });
  await s.fake.waitForAck(id, 30_000);
  s.ack[kind]!.push(performance.now() - t0);
  await s.fake.waitForFin(id, 30_000);
  s.fin[kind]!.push(performance.now() - t0);
}

const sides = [await side("off"), await side("enforce")];
try {
  for (const s of sides) for (let i = 0; i < 20; i++) await once(s, i % 2 ? "ping" : "system"); // warm-up
  for (const s of sides) {
    s.ack = { ping: [], system: [] };
    s.fin = { ping: [], system: [] };
  }
  for (let i = 0; i < count; i++) for (const kind of ["ping", "system"] as const) for (const s of sides) await once(s, kind);
  console.log(`agent: ${agentArgv().join(" ")}; ${count} of each, alternating between the two agents`);
  for (const kind of ["ping", "system"]) {
    const [off, on] = sides as [Side, Side];
    const row = (what: "ack" | "fin") =>
      `${what} p50 ${pct(off[what][kind]!, 50).toFixed(2)} → ${pct(on[what][kind]!, 50).toFixed(2)} ms (${(pct(on[what][kind]!, 50) / pct(off[what][kind]!, 50)).toFixed(2)}x), ` +
      `p99 ${pct(off[what][kind]!, 99).toFixed(2)} → ${pct(on[what][kind]!, 99).toFixed(2)} ms`;
    console.log(
      `${kind === "ping" ? "internal ping (unchecked)" : "signed system /bin/true"}: off → enforce: ${row("ack")}; ${row("fin")}`,
    );
  }
} finally {
  for (const s of sides) {
    s.proc.kill("SIGTERM");
    await s.proc.exited;
    await s.fake.stop();
    rmSync(s.dir, { recursive: true, force: true });
  }
}
