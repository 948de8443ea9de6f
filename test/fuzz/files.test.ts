// File-manager requests and transfer data: random and mutated requests never throw, every failure of a
// known operation carries a message (short form here, long form under `bun run fuzz`).
import { expect, test } from "bun:test";
import { useTempDirs } from "../helpers/tmp.ts";
import { fuzzFiles } from "./files.ts";
import { LONG, SEED } from "./rand.ts";

const tempDir = useTempDirs("alpamon-fuzz-files-");

test(
  "file-manager request fuzz",
  () => {
    const stats = fuzzFiles(SEED, LONG ? 100_000 : 3_000, tempDir());
    expect(stats.failures).toBeGreaterThan(0);
    expect(stats.requests).toBeGreaterThan(stats.skipped);
  },
  LONG ? 1_800_000 : 20_000,
);
