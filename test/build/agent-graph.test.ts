// What the running agent loads before its first command: the static import graph of src/agent.ts, bundled as
// build.ts bundles it (ES modules split at every dynamic import). Loading a runtime module written in
// JavaScript costs the agent memory for its whole life (node:crypto about 0.6 MB of RssAnon, node:net 0.7,
// node:http 1.3: BENCHMARKS.md, "Round 10"), so only the runtime modules measured cheap may be in that graph;
// anything else is imported where it is used (a command family's lazy import) or looked up on first use
// (node:crypto in commands/signing/verify.ts). A new one here must be measured first, then added to the list.
// The same holds for our own code: the command families' bodies and the shell runner load on their first
// command (commands/lazy.ts), so none of them may be bundled into the start-up chunks.
import { describe, expect, test } from "bun:test";
import { join } from "node:path";
import { ROOT } from "../../build.ts";

/** Runtime modules the start-up graph may import; each costs the idle agent 0.1 MB or less (Round 10). */
const ALLOWED = ["buffer", "bun:ffi", "bun:sqlite", "fs", "path"];

/** A static import statement of the unminified bundle (not `import(...)`): its module specifier. */
const STATIC_IMPORT = /^import\s*(?:(?:\{[^}]*\}|[\w$]+|\*\s*as\s+[\w$]+)(?:\s*,\s*(?:\{[^}]*\}|\*\s*as\s+[\w$]+))?\s*from\s*)?"([^"]+)"/gm;

/** A module's first line in the unminified bundle: `// src/…/name.ts`. */
const SOURCE_MODULE = /^\/\/ (\S+\.ts)$/gm;

/** Command-family bodies and the shell runner: each is loaded on its first command, never at start. */
const LOADED_ON_FIRST_USE = [
  "capabilities/files/commands.ts",
  "capabilities/firewall/family.ts",
  "capabilities/firewall/service.ts",
  "capabilities/packages/packages.ts",
  "capabilities/shell/system.ts",
  "capabilities/shell/shell-line.ts",
  "capabilities/terminal/commands.ts",
  "capabilities/tunnel/commands.ts",
  "capabilities/users/users.ts",
];

/**
 * What `entry`'s chunk and the chunks it imports statically hold: the runtime modules they import, and the
 * source modules bundled into them.
 */
async function startupRuntimeModules(entry: string): Promise<{ chunks: number; modules: string[]; sources: string[] }> {
  const result = await Bun.build({ entrypoints: [entry], target: "bun", format: "esm", splitting: true, minify: false, throw: true });
  const byPath = new Map(result.outputs.map((o) => [o.path.replace(/^\.\//, ""), o]));
  const first = result.outputs.find((o) => o.kind === "entry-point");
  if (!first) throw new Error("no entry point in the build");
  const seen = new Set<string>();
  const modules = new Set<string>();
  const sources = new Set<string>();
  const queue = [first.path.replace(/^\.\//, "")];
  while (queue.length > 0) {
    const path = queue.pop()!;
    if (seen.has(path)) continue;
    seen.add(path);
    const chunk = byPath.get(path);
    if (!chunk) throw new Error(`the bundle imports ${path}, which it does not contain`);
    const text = await chunk.text();
    for (const m of text.matchAll(SOURCE_MODULE)) sources.add(m[1]!);
    for (const m of text.matchAll(STATIC_IMPORT)) {
      const specifier = m[1]!;
      if (specifier.startsWith("./")) queue.push(specifier.slice(2));
      else modules.add(specifier);
    }
  }
  return { chunks: seen.size, modules: [...modules].sort(), sources: [...sources].sort() };
}

describe("the agent's start-up graph", () => {
  test("imports only the runtime modules measured cheap (no node:crypto, node:net, node:http)", async () => {
    const { modules } = await startupRuntimeModules(join(ROOT, "src", "agent.ts"));
    // The parse works: SQLite, which the agent opens at start, is found.
    expect(modules).toContain("bun:sqlite");
    expect(modules.filter((m) => !ALLOWED.includes(m))).toEqual([]);
  });

  test("holds no command family's body and not the shell runner (they load on first use)", async () => {
    const { sources } = await startupRuntimeModules(join(ROOT, "src", "agent.ts"));
    // The parse works: the families' index modules, which declare the commands, are there.
    expect(sources.filter((s) => s.endsWith("capabilities/firewall/index.ts") || s.endsWith("capabilities/shell/index.ts"))).toHaveLength(
      2,
    );
    expect(sources.filter((s) => LOADED_ON_FIRST_USE.some((body) => s.endsWith(body)))).toEqual([]);
  });

  test("a static import of node:crypto is found (the check can fail)", async () => {
    // The signing module as it would be with node:crypto imported at the top instead of looked up.
    const { mkdtempSync, rmSync, writeFileSync } = await import("node:fs");
    const { tmpdir } = await import("node:os");
    const dir = mkdtempSync(join(tmpdir(), "alpamon-graph-"));
    try {
      writeFileSync(
        join(dir, "entry.ts"),
        'import { verify } from "node:crypto";\nexport const v = verify;\nexport const later = () => import("node:net");\n',
      );
      const { modules } = await startupRuntimeModules(join(dir, "entry.ts"));
      expect(modules).toEqual(["crypto"]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
