// What an environment handed to exec/ may contain. One rule for the console's edge (console/protocol.ts) and
// for the launcher (a second line): names that environ(7) can carry unambiguously, values without NUL, and
// none of the variables through which the dynamic loader or the C library load or parse files of the
// caller's choosing (glibc's list of variables it removes for setuid programs, unsecvars.h).

/** POSIX-portable names: no '=' (it would end the name) and nothing a shell could not export. */
export const ENV_KEY = /^[A-Za-z_][A-Za-z0-9_]*$/;

/**
 * glibc's unsecvars.h (2.27 to 2.41) minus TMPDIR: a place for temporary files loads no code, and users
 * legitimately set it. LD_* and the legacy MALLOC_* tunables are refused as whole families below.
 */
const LOADER_VARIABLES = new Set([
  "ARGP_HELP_FMT",
  "DATEMSK",
  "GCONV_PATH",
  "GETCONF_DIR",
  "GLIBC_TUNABLES",
  "GMON_OUT_PREFIX",
  "HESIOD_CONFIG",
  "HES_DOMAIN",
  "HOSTALIASES",
  "LOCALDOMAIN",
  "LOCPATH",
  "NIS_PATH",
  "NLSPATH",
  "RESOLV_HOST_CONF",
  "RES_OPTIONS",
  "TZDIR",
]);

export function isLoaderVariable(key: string): boolean {
  return key.startsWith("LD_") || key.startsWith("MALLOC_") || LOADER_VARIABLES.has(key);
}

/** Why `key` cannot be passed, or undefined. */
export function envKeyProblem(key: string): string | undefined {
  if (!ENV_KEY.test(key)) return `key ${JSON.stringify(key)} is not a valid name (letters, digits and '_', not starting with a digit)`;
  if (isLoaderVariable(key)) return `key ${JSON.stringify(key)} is not allowed (dynamic loader variables are refused)`;
  return undefined;
}

/** The first reason this environment cannot be passed, naming the key ("env: key ..."), or undefined. */
export function environmentProblem(env: Record<string, string>): string | undefined {
  for (const [key, value] of Object.entries(env)) {
    const problem = envKeyProblem(key);
    if (problem) return `env: ${problem}`;
    if (typeof value !== "string") return `env: the value of ${JSON.stringify(key)} must be a string`;
    if (value.includes("\0")) return `env: the value of ${JSON.stringify(key)} contains a NUL character`;
  }
  return undefined;
}
