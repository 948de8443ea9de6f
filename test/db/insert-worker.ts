// Child process for concurrency.test.ts: waits for a start time shared with its sibling, opens the state
// database (racing the sibling on the first migration) and inserts rows one autocommit at a time.
// Never batches the inserts into one transaction: the point is many small writers interleaving.
import { openStateDb } from "../../src/db/open.ts";
import { cpuSamples } from "../../src/db/schema.ts";

const [path, startAtArg, tagArg, rowsArg] = process.argv.slice(2);
if (!path || !startAtArg || !tagArg || !rowsArg) {
  console.error("usage: insert-worker.ts <db path> <start at epoch ms> <tag> <rows>");
  process.exit(2);
}
const tag = Number(tagArg);
const rows = Number(rowsArg);

try {
  await Bun.sleep(Math.max(0, Number(startAtArg) - Date.now()));
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
