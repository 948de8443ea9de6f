// INI config files: random bytes and mutations of a good file give a valid config or a ConfigError that
// names the file, never another exception (short form here, long form under `bun run fuzz`).
import { expect, test } from "bun:test";
import { ConfigError } from "../../src/config/errors.ts";
import { parseIni } from "../../src/config/ini.ts";
import { configFromSections } from "../../src/config/schema.ts";
import { fuzzConfig, GOOD } from "./config.ts";
import { LONG, SEED } from "./rand.ts";

test("the good file is valid and a misspelt verify is an error, not false", () => {
  expect(configFromSections(parseIni(GOOD), "f").ssl.verify).toBe(true);
  expect(() => configFromSections(parseIni(GOOD.replace("verify = true", "verify = ture")), "f")).toThrow(ConfigError);
});

test(
  "INI config fuzz",
  () => {
    const stats = fuzzConfig(SEED, LONG ? 100_000 : 4_000);
    expect(stats.valid).toBeGreaterThan(0);
    expect(stats.rejected).toBeGreaterThan(0);
  },
  LONG ? 1_800_000 : 20_000,
);
