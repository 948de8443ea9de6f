// Configuration errors: one clear line naming the file, the key and the problem; the CLI exits 78 (EX_CONFIG).

export const EX_CONFIG = 78;

export class ConfigError extends Error {
  constructor(
    readonly file: string | undefined,
    readonly key: string | undefined,
    readonly problem: string,
  ) {
    super([file, key, problem].filter((part) => part !== undefined && part !== "").join(": "));
    this.name = "ConfigError";
  }
}
