// `alpamon --once`: one sample over about a second, printed as a table or JSON, needing no config or console.
// The sample is also recorded in the state database when its directory exists and is writable (so it runs
// beside the daemon on the same file); otherwise in memory. It never creates /var/lib/alpamon by itself.
import { accessSync, constants, statSync } from "node:fs";
import { DEFAULT_PATHS } from "../../config/schema.ts";
import { openStateDb, stateDbPath } from "../../db/open.ts";
import { formatOnceTable, takeOnceSample, type OnceSample } from "./once.ts";
import { recordSample } from "./store.ts";

function writableDir(dir: string): boolean {
  try {
    if (!statSync(dir).isDirectory()) return false;
    accessSync(dir, constants.W_OK | constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

export interface OnceOptions {
  json: boolean;
  /** State directory; default the agent's. An explicit one that is unusable is an error. */
  dataDir?: string | undefined;
  print?: (text: string) => void;
}

export async function runOnce(options: OnceOptions): Promise<OnceSample> {
  const explicit = options.dataDir !== undefined;
  const dir = options.dataDir ?? DEFAULT_PATHS.dataDir;
  const state = openStateDb(explicit || writableDir(dir) ? stateDbPath(dir) : ":memory:");
  try {
    const sample = await takeOnceSample();
    recordSample(state, sample);
    const print = options.print ?? ((text: string) => process.stdout.write(text.endsWith("\n") ? text : `${text}\n`));
    print(options.json ? JSON.stringify(sample) : formatOnceTable(sample));
    return sample;
  } finally {
    state.close();
  }
}
