// Simulation (no sockets): N agents lose the backhaul at t=0 because the console restarts, and the console
// accepts again at t=down seconds. Each agent follows the backhaul's real policy (fullJitterDelay with
// BACKHAUL_BACKOFF from src/console/backhaul.ts), compared with the old 5 s → 60 s policy and plain exponential
// without jitter. Prints peak and mean connection attempts per second. Never opens a socket.
// Run: node_modules/.bin/bun bench/storm.ts [agents=10000] [downSeconds=30]
import { BACKHAUL_BACKOFF } from "../src/console/backhaul.ts";
import { fullJitterDelay } from "../src/console/backoff.ts";

const agents = Number(process.argv[2] ?? 10_000);
const downMs = Number(process.argv[3] ?? 30) * 1000;

/** A seeded PRNG so runs are repeatable. */
function mulberry32(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = seed;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface StormResult {
  peak: number;
  mean: number;
  lastConnectS: number;
  firstMeanS: number;
}

function simulate(delay: (attempt: number) => number): StormResult {
  const perSecond = new Map<number, number>();
  let last = 0;
  let firstSum = 0;
  for (let a = 0; a < agents; a++) {
    let t = 0;
    for (let attempt = 0; ; attempt++) {
      const d = delay(attempt);
      if (attempt === 0) firstSum += d;
      t += d;
      const second = Math.floor(t / 1000);
      perSecond.set(second, (perSecond.get(second) ?? 0) + 1);
      if (t >= downMs) break; // connected
    }
    last = Math.max(last, t);
  }
  const seconds = Math.floor(last / 1000) + 1;
  const total = [...perSecond.values()].reduce((x, y) => x + y, 0);
  return { peak: Math.max(...perSecond.values()), mean: total / seconds, lastConnectS: last / 1000, firstMeanS: firstSum / agents / 1000 };
}

export function runStorm(): Record<string, StormResult> {
  const random = mulberry32(42);
  const { baseMs, capMs } = BACKHAUL_BACKOFF;
  return {
    [`agent (${baseMs / 1000}s/${capMs / 1000}s)`]: simulate((attempt) => fullJitterDelay(attempt, baseMs, capMs, random)),
    "old (5s/60s)": simulate((attempt) => fullJitterDelay(attempt, 5_000, 60_000, random)),
    "no jitter (5s/60s)": simulate((attempt) => Math.min(60_000, 5_000 * 2 ** attempt)),
  };
}

if (import.meta.main) {
  console.log(`${agents} agents, console down ${downMs / 1000} s, attempts per second until every agent is back:`);
  for (const [name, r] of Object.entries(runStorm())) {
    console.log(
      `  ${name.padEnd(20)} peak ${r.peak}/s, mean ${r.mean.toFixed(0)}/s, peak/mean ${(r.peak / r.mean).toFixed(2)}, all back after ${r.lastConnectS.toFixed(1)} s, first attempt after a drop ${r.firstMeanS.toFixed(1)} s on average`,
    );
  }
}
