// What starting a process as a user costs through exec/'s launch core, beside the bare identity switch:
//   setpriv   Bun.spawn of `setpriv --reuid --regid --init-groups -- true` (the launch before issue 16)
//   launcher  runProcess as `nobody`: setpriv, then the importing shell as the user, then `true`
//   +cgroup   the same with the joining shell first (user work placed in the agent's work cgroup)
// Rounds alternate the three so machine noise hits each alike. Needs root. Prints milliseconds per launch.
// Run: node_modules/.bin/bun bench/launch.ts [launches per round = 100] [rounds = 3]
import { setupWorkCgroup } from "../src/exec/cgroup.ts";
import { lookupUser } from "../src/exec/identity.ts";
import { placeUserWorkIn } from "../src/exec/launch.ts";
import { runProcess } from "../src/exec/run.ts";
import type { Identity } from "../src/exec/types.ts";

const perRound = Number(process.argv[2] ?? 100);
const rounds = Number(process.argv[3] ?? 3);
if (process.getuid?.() !== 0) throw new Error("bench/launch.ts needs root (it switches to nobody)");

const pw = await lookupUser("nobody");
if (!pw) throw new Error("no user nobody");
const identity: Identity = { user: pw.name, uid: pw.uid, gid: pw.gid, home: pw.home, shell: pw.shell };
const env = { PATH: "/usr/bin:/bin", HOME: "/", LANG: "C.UTF-8" };
const setup = setupWorkCgroup();
if (!setup.ok) console.log(`no work cgroup (${setup.reason}): the +cgroup row is left out`);

async function bare(): Promise<void> {
  const proc = Bun.spawn(["/usr/bin/setpriv", `--reuid=${pw!.uid}`, `--regid=${pw!.gid}`, "--init-groups", "--", "true"], {
    env,
    stdio: ["ignore", "ignore", "ignore"],
  });
  if ((await proc.exited) !== 0) throw new Error("setpriv true failed");
}

async function launched(procs: string | undefined): Promise<void> {
  placeUserWorkIn(procs);
  const result = await runProcess({ argv: ["true"], identity, env });
  if (result.exitCode !== 0) throw new Error(`launch failed: ${result.startError ?? result.output}`);
}

const kinds: [string, () => Promise<void>][] = [
  ["setpriv", bare],
  ["launcher", () => launched(undefined)],
  ...(setup.ok ? ([["+cgroup", () => launched(setup.work.procs)]] as [string, () => Promise<void>][]) : []),
];
const times = new Map<string, number[]>(kinds.map(([name]) => [name, []]));
for (let round = 0; round < rounds; round++) {
  for (const [name, launch] of kinds) {
    for (let i = 0; i < perRound; i++) {
      const t0 = performance.now();
      await launch();
      times.get(name)!.push(performance.now() - t0);
    }
  }
}
placeUserWorkIn(undefined);

const pct = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))]!;
const base = [...times.get("setpriv")!].sort((a, b) => a - b);
console.log(`${rounds} rounds x ${perRound} launches of \`true\` as nobody`);
console.log("launch     mean     p50      p95      p50 vs setpriv");
for (const [name, list] of times) {
  const sorted = [...list].sort((a, b) => a - b);
  const mean = list.reduce((a, b) => a + b, 0) / list.length;
  const ratio = pct(sorted, 0.5) / pct(base, 0.5);
  console.log(
    `${name.padEnd(10)} ${mean.toFixed(2).padStart(5)} ms ${pct(sorted, 0.5).toFixed(2).padStart(5)} ms ${pct(sorted, 0.95).toFixed(2).padStart(5)} ms ${ratio.toFixed(2)} x`,
  );
}
