// Stand-in package tools for the real runner: small sh scripts in a fresh temp directory put first on the PATH
// packages.ts runs with (its `searchPath` seam). Each records its argv, saves its environment, answers from
// files the test writes (scripted exit codes, installed versions, output) and never touches the host's packages.
import { chmodSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PACKAGE_ENV } from "../../../src/capabilities/packages/plans.ts";

export interface StandIns {
  dir: string;
  /** The PATH to hand packageCommands: the stand-ins first, then the usual system directories. */
  searchPath: string;
  /** Every call so far, in order, as "tool arg arg ...". */
  calls(): string[];
  /** The exit codes `tool`'s next calls return, in order (0 once they run out). */
  exits(tool: string, codes: number[]): void;
  /** What `tool` prints on every call. */
  output(tool: string, text: string): void;
  /** The installed version of `pkg` (as rpm or dpkg report it), or not installed. */
  installed(pkg: string, version: string | undefined): void;
  /** The version `pkg` has after the package manager's upgrade step succeeds. */
  upgradesTo(pkg: string, version: string): void;
  /** The environment of each call of `tool`, in call order. */
  environments(tool: string): Record<string, string>[];
}

const q = (s: string) => `'${s.replaceAll("'", `'\\''`)}'`;

/** Shared head: record argv and environment, pick the next scripted exit code, print the scripted output. */
const head = (dir: string, tool: string) => `#!/bin/sh
d=${q(dir)}
n=$(wc -l < "$d/calls")
{ printf '%s' ${q(tool)}; for a in "$@"; do printf ' %s' "$a"; done; echo; } >> "$d/calls"
env > "$d/env.${tool}.$n"
code=0
if [ -s "$d/exit.${tool}" ]; then code=$(head -n 1 "$d/exit.${tool}"); sed -i 1d "$d/exit.${tool}"; fi
[ -f "$d/out.${tool}" ] && cat "$d/out.${tool}"
`;

/** After a successful upgrade step: the "next" versions become the installed ones. */
const MOVE_VERSIONS = `if [ "$code" = 0 ]; then for f in "$d"/next.*; do [ -e "$f" ] && mv "$f" "$d/version.\${f##*/next.}"; done; fi\n`;

const SCRIPTS: Record<string, (dir: string) => string> = {
  zypper: (d) => `${head(d, "zypper")}case " $* " in *" update "*) ${MOVE_VERSIONS};; esac\nexit $code\n`,
  "apt-get": (d) => `${head(d, "apt-get")}case " $* " in *" install "*) ${MOVE_VERSIONS};; esac\nexit $code\n`,
  rpm: (d) => `${head(d, "rpm")}for p; do :; done
if [ -f "$d/version.$p" ]; then cat "$d/version.$p"; exit 0; fi
echo "package $p is not installed"; exit 1
`,
  "dpkg-query": (d) => `${head(d, "dpkg-query")}for p; do :; done
if [ -f "$d/version.$p" ]; then printf 'install ok installed\\t%s' "$(cat "$d/version.$p")"; exit 0; fi
echo "dpkg-query: no packages found matching $p" >&2; exit 1
`,
};

/** Runs `body` with fresh stand-ins of zypper, apt-get, rpm and dpkg-query; the directory is removed afterwards. */
export async function withStandIns<T>(body: (s: StandIns) => Promise<T>): Promise<T> {
  const dir = mkdtempSync(join(tmpdir(), "alpamon-pkg-stand-ins-"));
  try {
    writeFileSync(join(dir, "calls"), "");
    for (const [tool, script] of Object.entries(SCRIPTS)) {
      writeFileSync(join(dir, tool), script(dir));
      chmodSync(join(dir, tool), 0o755);
    }
    const stand: StandIns = {
      dir,
      searchPath: `${dir}:${PACKAGE_ENV.PATH}`,
      calls: () => readFileSync(join(dir, "calls"), "utf8").split("\n").filter(Boolean),
      exits: (tool, codes) => writeFileSync(join(dir, `exit.${tool}`), codes.map((c) => `${c}\n`).join("")),
      output: (tool, text) => writeFileSync(join(dir, `out.${tool}`), text),
      installed: (pkg, version) => {
        const file = join(dir, `version.${pkg}`);
        if (version === undefined) rmSync(file, { force: true });
        else writeFileSync(file, version);
      },
      upgradesTo: (pkg, version) => writeFileSync(join(dir, `next.${pkg}`), version),
      environments: (tool) =>
        readdirSync(dir)
          .filter((name) => name.startsWith(`env.${tool}.`))
          .sort((a, b) => Number(a.split(".").at(-1)) - Number(b.split(".").at(-1)))
          .map((name) => parseEnv(readFileSync(join(dir, name), "utf8"))),
    };
    return await body(stand);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function parseEnv(text: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const line of text.split("\n")) {
    const eq = line.indexOf("=");
    if (eq > 0) env[line.slice(0, eq)] = line.slice(eq + 1);
  }
  return env;
}
