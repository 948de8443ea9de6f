// The errors the CLI turns into one line: configuration errors naming the file, the key and the problem (exit 78,
// EX_CONFIG), and registration errors (exit 1).

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

/** A problem with what the operator asked `register` to do (exit 1, one line, never the token). */
export class RegisterError extends Error {
  override name = "RegisterError";
}
