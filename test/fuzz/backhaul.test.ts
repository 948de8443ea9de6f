// Short form of the backhaul fuzz (the long form runs under `bun run fuzz`): random, mutated and hostile
// frames never throw out of the router, every acked command gets exactly one fin, nothing hangs.
import { afterAll, expect, test } from "bun:test";
import { fuzzBackhaul } from "./backhaul.ts";
import { LONG, SEED } from "./rand.ts";
import { removeFuzzDataDir } from "./data-dir.ts";

afterAll(removeFuzzDataDir);

test(
  "backhaul frames and command data",
  async () => {
    const stats = await fuzzBackhaul(SEED, LONG ? 100_000 : 5_000);
    expect(stats.commands).toBeGreaterThan(stats.frames / 4);
    expect(stats.processes).toBeGreaterThan(0);
    expect(stats.rejectedLines).toBeGreaterThan(0);
  },
  LONG ? 1_800_000 : 20_000,
);
