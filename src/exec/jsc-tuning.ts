// JavaScriptCore tuning for a long-lived, mostly idle agent. JSC reads its options from BUN_JSC_* variables
// once, before any JavaScript runs, so the agent sets them by re-executing itself once at start (same PID,
// same arguments) and then removes them from its own environment, so no command it runs inherits them.
//
// The option: a function is compiled by the baseline JIT only after 40 times the usual warm-up. An idle agent
// runs hundreds of functions a few times a minute; left in the interpreter they cost no JIT code, no
// profiling metadata and no compile time, while a hot loop (a file transfer, a busy terminal) reaches the
// threshold within milliseconds and is compiled as before. Measured again beside an untuned agent (issue 23):
// RssAnon 16.1 → 13.8 MB, RSS 47.3 → 42.9 MB, the same CPU (BENCHMARKS.md, "Idle agent"). Variables the
// operator set are left as they are.
//
// JSC's top tier, the FTL JIT, is off. About 17 minutes into an idle agent's life (tuned or not) JSC compiled
// a function with it (most likely one the 5-second loop runs), and that brought some 2-3 MB of the compiler's
// own code into the RSS until the next page-out round; with the FTL off the idle agent's RSS stays flat, at the
// same CPU (BENCHMARKS.md, "Round 7"). The agent's hot paths are I/O (PTY, WebSocket, files), where the optimizing DFG
// tier, still on, is as far as JavaScript needs to go.
//
// JSC's block warm-up helper is off (BUN_JSC_useWarmUpMarkedBlocks=0). Once a process has allocated 64 heap
// blocks, a helper thread keeps up to 32 more (16 KiB each) resident ahead of demand, and it only lets them go
// after 10 s without a request. The idle agent's 5-second cycle asks for blocks every cycle, so the helper never
// stopped and its reserve stayed in the RSS: off, 0.6-0.8 MB less RssAnon and one thread fewer, at the same CPU
// (BENCHMARKS.md, "Round 8"). The main thread then faults a new block's pages in itself, as before the helper.
//
// The same re-exec sets one option of Bun's allocator (mimalloc reads MIMALLOC_* once, at process start): its
// background thread returns the free holes of partly used pages to the kernel at most every 5 s instead of
// every 100 ms. That thread was a quarter of the idle agent's CPU (each 5-second cycle frees a little, and
// the pages are faulted back in the next); measured beside the default: 0.116 → 0.094 % of one core, for
// about 0.9 MB more RssAnon and no change in RSS (BENCHMARKS.md, "Idle agent, round 2").
//
// And one more: `MIMALLOC_PURGE_HOLES_LARGE_FLOOR=0`. This option of Bun's mimalloc is not documented; going by
// its name and defaults (4 MiB, beside `purge_holes_large_floor_epochs` = 256), the holes of large pages are kept
// below that floor. Measured, with 0 the same thread on the same 5-second schedule gives back 0.4-0.5 MB more
// RssAnon, RSS about 1 MB lower, at the same CPU (BENCHMARKS.md, "Round 9"). test/exec/jsc-tuning.test.ts checks
// that this Bun's mimalloc knows every MIMALLOC_* name set here (mimalloc ignores a name it does not know).
import { currentCommandLine, reexec } from "./reexec.ts";

export const JSC_TUNING: Readonly<Record<string, string>> = {
  BUN_JSC_thresholdForJITAfterWarmUp: "20000",
  BUN_JSC_thresholdForJITSoon: "20000",
  BUN_JSC_useFTLJIT: "0",
  BUN_JSC_useWarmUpMarkedBlocks: "0",
  MIMALLOC_PURGE_HOLES_MIN_INTERVAL: "5000",
  MIMALLOC_PURGE_HOLES_LARGE_FLOOR: "0",
};
/** Set for the re-executed process: the names of the variables the agent added (so it can remove them). */
export const TUNED_MARKER = "ALPAMON_JSC_TUNED";

type Env = Record<string, string | undefined>;
type Exec = (argv: string[], env: Env) => string;

/**
 * In the first process: re-executes with the tuning (returns only if execve failed, with the reason). In the
 * re-executed one: removes what was added and returns undefined. `ALPAMON_JSC_TUNING=0` turns it off.
 */
export function applyJscTuning(env: Env = process.env, exec: Exec = reexec, argv: () => string[] = currentCommandLine): string | undefined {
  const marker = env[TUNED_MARKER];
  if (marker !== undefined) {
    for (const name of marker.split(",")) if (Object.hasOwn(JSC_TUNING, name)) delete env[name];
    delete env[TUNED_MARKER];
    return undefined;
  }
  if (env.ALPAMON_JSC_TUNING === "0") return undefined;
  const added = Object.keys(JSC_TUNING).filter((name) => env[name] === undefined);
  if (added.length === 0) return undefined;
  const next: Env = { ...env, [TUNED_MARKER]: added.join(",") };
  for (const name of added) next[name] = JSC_TUNING[name];
  return exec(argv(), next);
}
