// Simulation (no sockets): 10,000 agents lose the backhaul at t=0 because the console restarts, and the console
// accepts again at t=down seconds. Each agent follows the backhaul's real policy (fullJitterDelay from
// src/console/backoff.ts: 5 s base, 60 s cap, full jitter from the first attempt after a drop); the same run
// with a no-jitter exponential policy for comparison. Prints peak and mean connection attempts per second.
// Run: node_modules/.bin/bun bench/storm.ts [agents=10000] [downSeconds=30]
import { fullJitterDelay } from "../src/console/backoff.ts";

const agents = Number(process.argv[2] ?? 10_000);
const downMs = Number(process.argv[3] ?? 30) * 1000;
const BASE = 5_000;
const CAP = 60_000;

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

function simulate(delay: (attempt: number) => number): { peak: number; mean: number; lastConnectS: number } {
  const perSecond = new Map<number, number>();
  let last = 0;
  for (let a = 0; a < agents; a++) {
    let t = 0;
    for (let attempt = 0; ; attempt++) {
      t += delay(attempt);
      const second = Math.floor(t / 1000);
      perSecond.set(second, (perSecond.get(second) ?? 0) + 1);
      if (t >= downMs) break; // connected
    }
    last = Math.max(last, t);
  }
  const seconds = Math.floor(last / 1000) + 1;
  const total = [...perSecond.values()].reduce((x, y) => x + y, 0);
  return { peak: Math.max(...perSecond.values()), mean: total / seconds, lastConnectS: last / 1000 };
}

const random = mulberry32(42);
const jitter = simulate((attempt) => fullJitterDelay(attempt, BASE, CAP, random));
const noJitter = simulate((attempt) => Math.min(CAP, BASE * 2 ** attempt));

console.log(`${agents} agents, console down ${downMs / 1000} s, attempts per second until every agent is back:`);
for (const [name, r] of [["full jitter (agent)", jitter], ["no jitter", noJitter]] as const) {
  console.log(`  ${name.padEnd(20)} peak ${r.peak}/s, mean ${r.mean.toFixed(0)}/s, peak/mean ${(r.peak / r.mean).toFixed(2)}, all back after ${r.lastConnectS.toFixed(1)} s`);
}
