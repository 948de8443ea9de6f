// Endurance run: the agent (busy metric config) against the fake console, which drops the backhaul every 30 s,
// sends a command every second (alternately `ping` and a one-line shell command run as root) and opens a websh
// terminal every 10 s that it closes 5 s later (bench/soak-terminals.ts). Reports RSS and RssAnon growth after
// a warm-up, fd and thread counts, leftover child processes, leftover terminal processes and lost fins.
// Run: node_modules/.bin/bun bench/soak.ts [minutes=10] [warmupSeconds=120]   (ALPAMON_BIN as in bench/lib.ts)
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { FakeConsole } from "../test/console/fake-console.ts";
import { isFin } from "../test/console/fake-console-routes.ts";
import { SoakTerminals, type TerminalCounts } from "./soak-terminals.ts";
import { descendants, type Footprint, footprint, mb, routeMetrics, slope, spawnAgent, TICKS_PER_SECOND } from "./lib.ts";

export interface SoakResult {
  minutes: number;
  warm: Footprint;
  last: Footprint;
  /** fds once the last commands and terminals have settled (the last sample may catch a drop in progress). */
  settledFds: number;
  fdRange: [number, number];
  peakRss: number;
  peakAnon: number;
  rssSlopeMbPerHour: number;
  anonSlopeMbPerHour: number;
  cpuPercent: number;
  drops: number;
  handshakes: number;
  sent: number;
  fins: number;
  lost: string[];
  notSent: number;
  leftover: number[];
  maxChildren: number;
  terminals: TerminalCounts;
}

export async function soak(minutes: number, warmupSeconds: number, log = console.log): Promise<SoakResult> {
  const fake = await FakeConsole.start();
  routeMetrics(fake);
  const dir = mkdtempSync(join(tmpdir(), "alpamon-soak-"));
  // Fast reconnects so the link is up most of each 30 s period and commands keep flowing; the storm-safe
  // default (35 s first window) would leave it down about half the time.
  const terminals = new SoakTerminals(fake);
  const agent = spawnAgent(fake, dir, { ALPAMON_BACKHAUL_BACKOFF_MS: process.env.ALPAMON_BACKHAUL_BACKOFF_MS ?? "1000,5000" });
  try {
    await fake.waitForBackhaul(30_000);
    const sent: string[] = [];
    let notSent = 0;
    let drops = 0;
    let maxChildren = 0;
    const fdRange: [number, number] = [Infinity, 0];
    const samples: { t: number; rss: number; anon: number }[] = [];
    let warm: Footprint | undefined;
    let warmAt = 0;
    let peakRss = 0;
    let peakAnon = 0;
    const start = performance.now();
    const total = warmupSeconds + minutes * 60;
    for (let second = 1; second <= total; second++) {
      await Bun.sleep(Math.max(0, start + second * 1000 - performance.now()));
      if (second % 30 === 0) {
        fake.dropBackhaul();
        drops++;
      } else if (fake.backhaulCount() > 0 && second % 10 === 3) {
        sent.push(terminals.openOne());
      } else if (fake.backhaulCount() > 0) {
        if (second % 10 === 8) terminals.closeAll();
        const cmd =
          second % 2 === 0
            ? { shell: "internal", line: "ping" }
            : { shell: "system", line: `echo soak-${second}`, user: "root", group: "root" };
        sent.push(fake.sendCommand(cmd));
      } else {
        notSent++; // the link is down (reconnecting): a real console would queue it; we just skip the second
      }
      if (second % 5 === 0) maxChildren = Math.max(maxChildren, descendants(agent.pid).length);
      if (second === warmupSeconds) {
        warm = footprint(agent.pid);
        warmAt = performance.now();
      }
      if (second >= warmupSeconds && second % 10 === 0) {
        const f = footprint(agent.pid);
        samples.push({ t: (performance.now() - start) / 1000, rss: f.rss, anon: f.anon });
        peakRss = Math.max(peakRss, f.rss);
        peakAnon = Math.max(peakAnon, f.anon);
      }
      if (second % 60 === 0) {
        const f = footprint(agent.pid);
        fdRange[0] = Math.min(fdRange[0], f.fds);
        fdRange[1] = Math.max(fdRange[1], f.fds);
        log(
          `  t=${second}s RSS ${mb(f.rss)} MB, RssAnon ${mb(f.anon)} MB, fds ${f.fds}, threads ${f.threads}, sent ${sent.length}, fins ${countFins(fake, sent)}`,
        );
      }
    }
    const last = footprint(agent.pid);
    const cpuPercent = ((last.cpuTicks - warm!.cpuTicks) / TICKS_PER_SECOND / ((performance.now() - warmAt) / 1000)) * 100;
    // Grace for the last commands' fins, then look for anything the agent left running.
    await fake.waitUntil(() => countFins(fake, sent) === sent.length, 30_000, "the last fins").catch(() => {});
    const terminalCounts = await terminals.finish();
    await Bun.sleep(2_000);
    const leftover = descendants(agent.pid);
    const settledFds = footprint(agent.pid).fds;
    const finned = finnedIds(fake);
    const hours = (x: { t: number }) => x.t / 3600;
    return {
      minutes,
      warm: warm!,
      last,
      peakRss,
      peakAnon,
      rssSlopeMbPerHour: slope(samples.map((s) => [hours(s), s.rss / 1048576])),
      anonSlopeMbPerHour: slope(samples.map((s) => [hours(s), s.anon / 1048576])),
      cpuPercent,
      drops,
      handshakes: fake.acceptedHandshakes(),
      sent: sent.length,
      fins: countFins(fake, sent),
      lost: sent.filter((id) => !finned.has(id)),
      notSent,
      leftover,
      maxChildren,
      terminals: terminalCounts,
      settledFds,
      fdRange,
    };
  } finally {
    agent.kill("SIGTERM");
    await agent.exited;
    terminals.dispose();
    await fake.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Ids of the commands whose fin the console accepted (either dialect). */
function finnedIds(fake: FakeConsole): Set<string> {
  const ids = new Set<string>();
  for (const r of fake.requests) {
    const id = /^\/api\/events\/commands\/([^/]+)\//.exec(r.path)?.[1];
    if (id && isFin(r, id)) ids.add(id);
  }
  return ids;
}

function countFins(fake: FakeConsole, sent: string[]): number {
  const finned = finnedIds(fake);
  return sent.filter((id) => finned.has(id)).length;
}

export function printSoak(r: SoakResult, log = console.log): void {
  log(
    `soak ${r.minutes} min after warm-up: ${r.drops} backhaul drops, ${r.handshakes} handshakes, ${r.sent} commands sent (${r.notSent} seconds skipped while reconnecting)`,
  );
  log(`  RSS ${mb(r.warm.rss)} → ${mb(r.last.rss)} MB (peak ${mb(r.peakRss)}; trend ${r.rssSlopeMbPerHour.toFixed(2)} MB/h)`);
  log(`  RssAnon ${mb(r.warm.anon)} → ${mb(r.last.anon)} MB (peak ${mb(r.peakAnon)}; trend ${r.anonSlopeMbPerHour.toFixed(2)} MB/h)`);
  log(
    `  fds ${r.warm.fds} → ${r.last.fds} (per-minute samples ${r.fdRange[0]}–${r.fdRange[1]}; ${r.settledFds} once everything settled), threads ${r.warm.threads} → ${r.last.threads}, CPU ${r.cpuPercent.toFixed(2)} % of one core`,
  );
  const t = r.terminals;
  log(
    `  terminals: ${t.opened} opened, ${t.closed} closed by the console, ${t.refused} refused; processes of the terminal user left: ${t.leftover}`,
  );
  log(
    `  fins ${r.fins}/${r.sent}, lost ${r.lost.length}${r.lost.length ? ` (${r.lost.slice(0, 5).join(", ")})` : ""}; leftover processes ${r.leftover.length}; most children at once ${r.maxChildren}`,
  );
}

if (import.meta.main) {
  const minutes = Number(process.argv[2] ?? 10);
  const warmup = Number(process.argv[3] ?? 120);
  printSoak(await soak(minutes, warmup));
}
