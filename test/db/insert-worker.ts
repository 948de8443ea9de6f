// Child process for concurrency.test.ts: says it is ready (a file in the gate directory), waits for the test to
// open the gate (the file `go`) together with its sibling, opens the state database (racing the sibling on the
// first migration) and inserts rows one autocommit at a time.
// Never batches the inserts into one transaction: the point is many small writers interleaving.
import { existsSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { openStateDb } from "../../src/db/open.ts";
import { cpuSamples } from "../../src/db/schema.ts";

const [path, gate, tagArg, rowsArg] = process.argv.slice(2);
if (!path || !gate || !tagArg || !rowsArg) {
  console.error("usage: insert-worker.ts <db path> <gate dir> <tag> <rows>");
  process.exit(2);
}
const tag = Number(tagArg);
const rows = Number(rowsArg);

try {
  writeFileSync(join(gate, `ready-${tag}`), "");
  // Both children poll the same file every millisecond: they leave the gate within a few ms of each other.
  for (const deadline = Date.now() + 60_000; !existsSync(join(gate, "go")); await Bun.sleep(1)) {
    if (Date.now() > deadline) throw new Error("the gate never opened");
  }
  const openedAt = Date.now();
  const state = openStateDb(path);
  const openDoneAt = Date.now();
  for (let i = 0; i < rows; i++) {
    state.db.insert(cpuSamples).values({ timestamp: Date.now(), usage: tag }).run();
    // Yield now and then so the two writers' insert windows overlap for a while.
    if (i % 5 === 4) await Bun.sleep(1);
  }
  const lastInsertAt = Date.now();
  state.close();
  console.log(JSON.stringify({ applied: state.applied, openedAt, openDoneAt, lastInsertAt }));
} catch (err) {
  console.error(err instanceof Error ? `${err.name}: ${err.message}` : String(err));
  process.exit(1);
}
