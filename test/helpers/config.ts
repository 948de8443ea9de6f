// Writes a config text to a fresh temp file and loads it: the value, or the ConfigError's message.
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { ConfigError } from "../../src/config/errors.ts";
import { loadConfig } from "../../src/config/load.ts";
import { useTempDirs } from "./tmp.ts";

export function useConfigFiles(prefix: string) {
  const tempDir = useTempDirs(prefix);
  const load = (text: string) => {
    const path = join(tempDir(), "alpamon.conf");
    writeFileSync(path, text);
    return loadConfig({ explicitPath: path });
  };
  const problem = (text: string): string => {
    try {
      load(text);
    } catch (err) {
      if (err instanceof ConfigError) return err.message;
      throw err;
    }
    throw new Error("expected a ConfigError");
  };
  return { tempDir, load, problem };
}
