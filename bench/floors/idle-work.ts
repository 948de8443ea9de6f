// A floor for bench/footprint.ts: the idle agent's recurring work written by hand with Bun's built-ins only,
// compiled like the agent. It holds a WebSocket open and every 5 s reads what the realtime checks read (CPU,
// memory, disk usage of every mounted filesystem, disk I/O, network), writes one row per check to a SQLite
// database in WAL mode in one transaction, and POSTs one JSON body per check. What this costs is what Bun's
// runtime costs for the agent's idle work, without the agent's code or libraries.
// Run (compiled by the benchmark): idle-work <ws url> <post url> <database file>
import { Database } from "bun:sqlite";
import { readFileSync, statfsSync } from "node:fs";

export function startIdleWork(argv: string[]): { db: Database } {
  const [wsUrl, postUrl, dbFile] = argv;
  if (!wsUrl || !postUrl || !dbFile) throw new Error("usage: idle-work <ws url> <post url> <database file>");
  const ws = new WebSocket(wsUrl);
  ws.onclose = () => process.exit(1);

  const db = new Database(dbFile, { create: true });
  db.run("PRAGMA journal_mode = WAL");
  db.run("PRAGMA synchronous = NORMAL");
  db.run("PRAGMA cache_size = -512");
  db.run("CREATE TABLE IF NOT EXISTS samples (id INTEGER PRIMARY KEY, kind TEXT NOT NULL, at INTEGER NOT NULL, value TEXT NOT NULL)");
  const insert = db.prepare("INSERT INTO samples (kind, at, value) VALUES (?, ?, ?)");
  const prune = db.prepare("DELETE FROM samples WHERE at < ?");
  const writeAll = db.transaction((rows: [string, number, string][]) => {
    for (const row of rows) insert.run(...row);
  });

  const numbers = (line: string) => line.trim().split(/\s+/).slice(1).map(Number);
  const checks: Record<string, () => unknown> = {
    cpu: () => numbers(readFileSync("/proc/stat", "utf8").split("\n")[0] ?? ""),
    memory: () =>
      Object.fromEntries(
        readFileSync("/proc/meminfo", "utf8")
          .split("\n")
          .filter(Boolean)
          .map((l) => [l.split(":")[0], Number.parseInt(l.split(":")[1] ?? "0", 10)]),
      ),
    "disk-usage": () =>
      readFileSync("/proc/self/mountinfo", "utf8")
        .split("\n")
        .filter(Boolean)
        .map((l) => l.split(" ")[4] ?? "/")
        .map((mount) => {
          try {
            const s = statfsSync(mount);
            return { mount, total: s.blocks * s.bsize, free: s.bavail * s.bsize };
          } catch {
            return { mount };
          }
        }),
    "disk-io": () => readFileSync("/proc/diskstats", "utf8").split("\n").filter(Boolean).map(numbers),
    net: () => readFileSync("/proc/net/dev", "utf8").split("\n").slice(2).filter(Boolean).map(numbers),
  };
  const cycle = async () => {
    const at = Date.now();
    const rows = Object.entries(checks).map(([kind, read]) => [kind, at, JSON.stringify(read())] as [string, number, string]);
    writeAll(rows);
    prune.run(at - 3_600_000);
    await Promise.all(
      rows.map(([kind, , value]) =>
        fetch(`${postUrl}/${kind}/`, { method: "POST", headers: { "Content-Type": "application/json" }, body: value })
          .then((r) => r.arrayBuffer())
          .catch(() => undefined),
      ),
    );
  };
  setInterval(() => void cycle(), 5_000);
  return { db };
}

if (import.meta.main) startIdleWork(process.argv.slice(2));
