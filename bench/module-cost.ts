// Benchmark: what loading a module costs a compiled process for as long as it lives (BENCHMARKS.md, "Round 10").
// Builds one probe binary with the agent's build options (compileBinary: minified, bytecode, ES modules split at
// dynamic imports) that imports the modules named by its argument, then collects and shrinks three times over
// 12 s and prints its RssAnon; runs it for "sleep" (nothing imported) and for every argument, a few at a time,
// each REPEAT times, with the start-up re-exec's JSC and mimalloc options set as the agent runs with them.
// An argument is one or more module specifiers joined by "+": a bare name ("node:crypto", "valibot") or a path
// under src/ ("agent.ts", "db/open.ts"). Repeated values agree within 30-50 KB; runs at another moment or with
// another number of probes at once move all values together, so compare within one run.
// Run: node_modules/.bin/bun bench/module-cost.ts node:crypto valibot agent.ts 'drizzle-orm/bun-sqlite+db/schema.ts'
//      (PARALLEL=6, REPEAT=2 in the environment)
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { compileBinary, hostTarget, ROOT } from "../build.ts";
import { JSC_TUNING } from "../src/exec/jsc-tuning.ts";

const specs = process.argv.slice(2);
const PARALLEL = Number(process.env.PARALLEL ?? 6);
const REPEAT = Number(process.env.REPEAT ?? 2);
if (specs.length === 0 || !(PARALLEL >= 1) || !(REPEAT >= 1)) {
  console.error("usage: bun bench/module-cost.ts <module[+module...]> ...");
  process.exit(2);
}

// Inside the repository, so that bare specifiers resolve from its node_modules.
const dir = join(ROOT, "node_modules", ".cache", `alpamon-module-cost-${process.pid}`);
const resolve = (spec: string) => (spec.includes(":") || !spec.endsWith(".ts") ? spec : join(ROOT, "src", spec));
const loaders = specs.map(
  (arg) =>
    `  ${JSON.stringify(arg)}: () => Promise.all([${arg
      .split("+")
      .map((m) => `import(${JSON.stringify(resolve(m))})`)
      .join(", ")}]),`,
);
const entry = `import { readFileSync } from "node:fs";
const loaders: Record<string, () => Promise<unknown>> = {
  sleep: async () => 0,
${loaders.join("\n")}
};
const name = process.argv[2] ?? "sleep";
(globalThis as { kept?: unknown }).kept = await loaders[name]!();
for (let i = 0; i < 3; i++) {
  await Bun.sleep(4000);
  Bun.gc(true);
  (Bun as unknown as { shrink(): void }).shrink();
}
await Bun.sleep(3000);
console.log(/RssAnon:\\s+(\\d+)/.exec(readFileSync("/proc/self/status", "utf8"))![1]);
`;

try {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, "entry.ts"), entry);
  const bin = join(dir, "probe");
  await compileBinary({
    entry: join(dir, "entry.ts"),
    outfile: bin,
    target: hostTarget(),
    version: "0.0.0",
    executablePath: process.execPath,
  });
  const env: Record<string, string> = { PATH: process.env.PATH ?? "/usr/bin:/bin", ...JSC_TUNING };
  const queue = ["sleep", ...specs].flatMap((name) => Array.from({ length: REPEAT }, () => name));
  const results = new Map<string, number[]>();
  const worker = async () => {
    for (let name = queue.shift(); name !== undefined; name = queue.shift()) {
      const proc = Bun.spawn([bin, name], { cwd: "/", env, stdout: "pipe", stderr: "inherit" });
      const kb = Number((await new Response(proc.stdout).text()).trim());
      if ((await proc.exited) !== 0 || !Number.isFinite(kb)) throw new Error(`the probe for ${name} failed`);
      results.set(name, [...(results.get(name) ?? []), kb / 1024]);
    }
  };
  await Promise.all(Array.from({ length: PARALLEL }, worker));
  const sleep = results.get("sleep")!;
  const base = sleep.reduce((a, b) => a + b, 0) / sleep.length;
  console.log(`${new Date().toISOString()}: RssAnon after three collections and shrinks, MB (${REPEAT} runs each, ${PARALLEL} at once)`);
  for (const [name, values] of results) {
    const mean = values.reduce((a, b) => a + b, 0) / values.length;
    const over = name === "sleep" ? "" : `   ${mean - base >= 0 ? "+" : ""}${(mean - base).toFixed(2)} over sleeping`;
    console.log(`  ${name.padEnd(48)} ${values.map((v) => v.toFixed(2)).join(" / ")}${over}`);
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
