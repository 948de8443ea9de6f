// A shared library built with cc whose constructor appends the uid it runs as to a marker file: loaded by
// the dynamic loader (LD_PRELOAD), it proves which processes honoured the variable, and as whom.
import { chmodSync, existsSync, readFileSync } from "node:fs";
import { join } from "node:path";

export const CC = ["/usr/bin/cc", "/usr/bin/gcc"].find((p) => existsSync(p));

export interface MarkerLibrary {
  lib: string;
  marker: string;
  /** The uids the constructor ran as so far (empty when it never ran). */
  uids(): number[];
}

/** Builds the library in `dir` (made world-writable, so a constructor running as any user can record). */
export function buildMarkerLibrary(dir: string): MarkerLibrary {
  if (!CC) throw new Error("cc is missing: apt-get install build-essential");
  chmodSync(dir, 0o1777);
  const marker = join(dir, "preload-marker");
  const lib = join(dir, "marker.so");
  const code = [
    "#include <stdio.h>",
    "#include <unistd.h>",
    "__attribute__((constructor)) static void mark(void) {",
    `  FILE *f = fopen("${marker}", "a");`,
    '  if (f) { fprintf(f, "%d\\n", (int)getuid()); fclose(f); }',
    "}",
  ].join("\n");
  const built = Bun.spawnSync([CC, "-shared", "-fPIC", "-o", lib, "-x", "c", "-"], {
    stdin: new TextEncoder().encode(code),
    stderr: "pipe",
  });
  if (built.exitCode !== 0) throw new Error(`cc failed: ${built.stderr.toString()}`);
  chmodSync(lib, 0o755);
  return {
    lib,
    marker,
    uids: () => (existsSync(marker) ? readFileSync(marker, "utf8").split("\n").filter(Boolean).map(Number) : []),
  };
}
