// Tests the pure system-command line parser and the and-or list runner against what POSIX sh does.
// runOne is a fake that records calls; only the field-splitting block at the end starts real processes
// (a differential check against /bin/sh and one line through the system runner as root).
import { describe, expect, test } from "bun:test";
import { parseCommandLine, runCommandList, type ListStep } from "../../../src/capabilities/shell/shell-line.ts";
import { createSystemRunner } from "../../../src/capabilities/shell/system.ts";
import type { CommandEnvelope } from "../../../src/console/protocol.ts";
import { resolveIdentity, userEnvironment } from "../../../src/exec/identity.ts";
import { runProcess } from "../../../src/exec/run.ts";
import { silentLogger } from "../../../src/log/logger.ts";

const ENV = { HOME: "/home/alp", A: "a", EMPTY: "", SPACED: "  x  y ", USER: "alp" };

function argvs(line: string, env: Record<string, string> = ENV): string[][] {
  const parsed = parseCommandLine(line, env);
  if (!parsed.ok) throw new Error(`expected ${JSON.stringify(line)} to parse, got: ${parsed.error}`);
  return parsed.list.map((step) => step.argv);
}

function error(line: string, env: Record<string, string> = ENV): string {
  const parsed = parseCommandLine(line, env);
  if (parsed.ok) throw new Error(`expected ${JSON.stringify(line)} to fail, got ${JSON.stringify(parsed.list)}`);
  return parsed.error;
}

describe("parseCommandLine: words", () => {
  const cases: [string, string[][]][] = [
    ["ls", [["ls"]]],
    ["  ls   -l\t/tmp  ", [["ls", "-l", "/tmp"]]],
    [`echo "a b"`, [["echo", "a b"]]],
    [`echo 'a b' c`, [["echo", "a b", "c"]]],
    [`echo 'it'\\''s'`, [["echo", "it's"]]],
    [`echo a\\ b`, [["echo", "a b"]]],
    [`echo \\"x\\"`, [["echo", `"x"`]]],
    [`echo "\\" \\\\ \\$ \\\` \\n"`, [["echo", '" \\ $ ` \\n']]],
    [`echo '\\n $A "'`, [["echo", '\\n $A "']]],
    ["echo $HOME", [["echo", "/home/alp"]]],
    // biome-ignore lint/suspicious/noTemplateCurlyInString: shell parameter expansion under test, not a template literal
    ["echo ${A}x $A.y", [["echo", "ax", "a.y"]]],
    ["echo pre$A$A", [["echo", "preaa"]]],
    [`echo "$EMPTY"`, [["echo", ""]]],
    [`echo ""`, [["echo", ""]]],
    [`echo ''`, [["echo", ""]]],
    ["echo $EMPTY x", [["echo", "x"]]],
    ["echo $UNSET x", [["echo", "x"]]],
    [`echo "$UNSET"`, [["echo", ""]]],
    [`echo $UNSET""`, [["echo", ""]]],
    ["echo '$A'", [["echo", "$A"]]],
    [`echo "$A b"`, [["echo", "a b"]]],
    ["echo $SPACED", [["echo", "x", "y"]]],
    [`echo "$SPACED"`, [["echo", "  x  y "]]],
    ["echo a$SPACED", [["echo", "a", "x", "y"]]],
    ["echo $ a$ $/", [["echo", "$", "a$", "$/"]]],
    ["echo ~ ~/x a~ '~'", [["echo", "/home/alp", "/home/alp/x", "a~", "~"]]],
    ["ls *.log [ab]?", [["ls", "*.log", "[ab]?"]]],
    ["echo a#b # a comment", [["echo", "a#b"]]],
    ["find . -exec echo {} \\;", [["find", ".", "-exec", "echo", "{}", ";"]]],
    ["echo a \\\nb", [["echo", "a", "b"]]],
    ["echo x=1 --opt=$A", [["echo", "x=1", "--opt=a"]]],
    [`"FOO=1" env`, [["FOO=1", "env"]]],
    ["[ -f /etc/hosts ]", [["[", "-f", "/etc/hosts", "]"]]],
    [`echo "a|b" 'c>d' e\\&f "\\\`" '$(x)'`, [["echo", "a|b", "c>d", "e&f", "`", "$(x)"]]],
  ];
  for (const [line, expected] of cases) {
    test(JSON.stringify(line), () => expect(argvs(line)).toEqual(expected));
  }

  test("expansion reads only the given env, never the agent's, and ignores prototype names", () => {
    process.env.ALPAMON_SHELL_LINE_TEST = "leak";
    try {
      expect(argvs(`echo "$ALPAMON_SHELL_LINE_TEST" $constructor "$toString"`, {})).toEqual([["echo", "", ""]]);
      expect(argvs("echo ~", {})).toEqual([["echo", "~"]]);
    } finally {
      delete process.env.ALPAMON_SHELL_LINE_TEST;
    }
  });
});

describe("parseCommandLine: lists", () => {
  function steps(line: string): ListStep[] {
    const parsed = parseCommandLine(line, ENV);
    if (!parsed.ok) throw new Error(parsed.error);
    return parsed.list;
  }

  test("operators separate commands, also when glued to words", () => {
    const expected: ListStep[] = [
      { argv: ["a"], after: null },
      { argv: ["b"], after: "&&" },
      { argv: ["c"], after: "||" },
      { argv: ["d"], after: ";" },
    ];
    expect(steps("a && b || c ; d")).toEqual(expected);
    expect(steps("a&&b||c;d")).toEqual(expected);
    expect(steps("ls;")).toEqual([{ argv: ["ls"], after: null }]);
    expect(steps("a;b")).toEqual([
      { argv: ["a"], after: null },
      { argv: ["b"], after: ";" },
    ]);
  });

  test("newlines separate commands; blank lines and a newline after && are nothing", () => {
    expect(steps("a\n\nb\n")).toEqual([
      { argv: ["a"], after: null },
      { argv: ["b"], after: ";" },
    ]);
    expect(steps("a &&\n  b")).toEqual([
      { argv: ["a"], after: null },
      { argv: ["b"], after: "&&" },
    ]);
  });

  const errors: [string, RegExp][] = [
    ["; ls", /^empty command before ';'$/],
    ["ls ; ;", /^empty command before ';'$/],
    ["&& x", /^empty command before '&&'$/],
    ["|| x", /^empty command before '\|\|'$/],
    ["ls &&", /^empty command after '&&'$/],
    ["ls ||  ", /^empty command after '\|\|'$/],
    ["ls\n; x", /^empty command before ';'$/],
    ["", /the command line is empty/],
    ["   # only a comment", /the command line is empty/],
    ["$EMPTY && ls", /empty command: \$EMPTY expands to nothing/],
    [`echo 'abc`, /unterminated single quote starting at column 6/],
    [`echo "abc`, /unterminated double quote starting at column 6/],
    [`echo "it's`, /unterminated double quote/],
    ["echo ${A", /unterminated \$\{ starting at column 6/],
    ["echo a\\", /ends with a lone backslash/],
    ["ls | grep x", /'\|' \(a pipe\) at column 4 needs allow_sh; quote it/],
    ["ls > out", /'>' \(a redirection\) at column 4 needs allow_sh/],
    ["ls 2>&1", /'>' \(a redirection\) at column 5 needs allow_sh/],
    ["sort < in", /'<' \(a redirection\) at column 6 needs allow_sh/],
    ["sleep 1 &", /'&' \(a background job\) at column 9 needs allow_sh/],
    ["a & b", /'&' \(a background job\)/],
    ["echo `id`", /'`' \(command substitution\) at column 6 needs allow_sh/],
    [`echo "\`id\`"`, /command substitution.*needs allow_sh; escape it/],
    ["echo $(id)", /'\$\(' \(command substitution\) at column 6 needs allow_sh/],
    [`echo "$(id)"`, /'\$\(' \(command substitution\).*escape it as \\\$/],
    ["echo $((1+2))", /command substitution/],
    ["(cd /tmp)", /'\(' \(a subshell\) at column 1 needs allow_sh/],
    ["echo $?", /'\$\?' at column 6 is a shell special parameter/],
    ["echo $1", /'\$1' .*special parameter/],
    // biome-ignore lint/suspicious/noTemplateCurlyInString: shell parameter expansion under test, not a template literal
    ["echo ${A:-x}", /parameter expansion needs allow_sh/],
    ["FOO=1 env", /'FOO=' at column 1 is a variable assignment/],
    ["ls; X=1 env", /'X=' at column 5 is a variable assignment/],
    ["if true; then echo; fi", /'if' is a shell keyword/],
    ["! false", /'!' is a shell keyword/],
    ["ls ~root", /another user's home/],
    ["echo a\0b", /NUL character at column 7/],
  ];
  for (const [line, pattern] of errors) {
    test(`refuses ${JSON.stringify(line)}`, () => expect(error(line)).toMatch(pattern));
  }
});

describe("runCommandList", () => {
  /** A fake runner: argv[0] "f" fails (exit 1), "s" with a number exits with it, anything else succeeds. */
  async function run(line: string) {
    const calls: string[] = [];
    const parsed = parseCommandLine(line, ENV);
    if (!parsed.ok) throw new Error(parsed.error);
    const outcome = await runCommandList(parsed.list, async (argv) => {
      calls.push(argv.join(" "));
      const code = argv[0] === "f" ? 1 : argv[0] === "s" ? Number(argv[1]) : 0;
      return { exitCode: code, output: `<${argv.join(" ")}>` };
    });
    return { calls, ...outcome };
  }

  const cases: [string, string[], number][] = [
    ["a && f; c", ["a", "f", "c"], 0],
    ["f && b; c", ["f", "c"], 0],
    ["f && b || c", ["f", "c"], 0],
    ["a || b && c", ["a", "c"], 0],
    ["f || b && c", ["f", "b", "c"], 0],
    ["f || f && c", ["f", "f"], 1],
    ["a || b || c", ["a"], 0],
    ["f && b && c", ["f"], 1],
    ["a ; f", ["a", "f"], 1],
    ["s 3 || s 4", ["s 3", "s 4"], 4],
    ["s 3 && b", ["s 3"], 3],
    ["a\nf\nc", ["a", "f", "c"], 0],
  ];
  for (const [line, calls, exitCode] of cases) {
    test(`${JSON.stringify(line)} runs ${JSON.stringify(calls)} and exits ${exitCode}`, async () => {
      const outcome = await run(line);
      expect(outcome.calls).toEqual(calls);
      expect(outcome.exitCode).toBe(exitCode);
      expect(outcome.ran).toBe(calls.length);
      expect(outcome.output).toBe(calls.map((c) => `<${c}>`).join(""));
    });
  }

  test("a step that asks to stop ends the list, keeping its output", async () => {
    const parsed = parseCommandLine("a; b; c", ENV);
    if (!parsed.ok) throw new Error(parsed.error);
    const calls: string[] = [];
    const outcome = await runCommandList(parsed.list, async (argv) => {
      calls.push(argv[0]!);
      return { exitCode: argv[0] === "b" ? -1 : 0, output: argv[0]!, stop: argv[0] === "b" };
    });
    expect(calls).toEqual(["a", "b"]);
    expect(outcome).toEqual({ exitCode: -1, output: "ab", ran: 2, stopped: true });
  });
});

describe("single-quoted argv round-trips", () => {
  function randomArg(): string {
    const length = Math.floor(Math.random() * 12);
    let s = "";
    for (let k = 0; k < length; k++) s += String.fromCharCode(32 + Math.floor(Math.random() * 95));
    return s;
  }

  test("200 random argv arrays of printable ASCII parse back to themselves", () => {
    for (let n = 0; n < 200; n++) {
      const argv = Array.from({ length: 1 + Math.floor(Math.random() * 6) }, randomArg);
      const line = argv.map((arg) => `'${arg.replaceAll("'", `'\\''`)}'`).join(" ");
      const parsed = parseCommandLine(line, ENV);
      if (!parsed.ok) throw new Error(`${line}: ${parsed.error}`);
      expect(parsed.list).toEqual([{ argv, after: null }]);
    }
  });
});

describe("unquoted expansion: field splitting with sh's default IFS (space, tab, newline)", () => {
  const MULTI = { ...ENV, X: "a\nb c", NL: "\n", MIXED: "\t1 \n\n 2\t\n3\n", TAIL: "p\n" };

  test("a newline inside a value splits it, as a space or tab does", () => {
    expect(argvs("printf '%s|' $X", MULTI)).toEqual([["printf", "%s|", "a", "b", "c"]]);
    expect(argvs("echo $MIXED", MULTI)).toEqual([["echo", "1", "2", "3"]]);
    expect(argvs("echo x$TAIL", MULTI)).toEqual([["echo", "xp"]]);
    // biome-ignore lint/suspicious/noTemplateCurlyInString: shell parameter expansion under test, not a template literal
    expect(argvs("echo x${X}y", MULTI)).toEqual([["echo", "xa", "b", "cy"]]);
  });

  test("a value of only newlines is no field at all, and quoting keeps every newline", () => {
    expect(argvs("echo $NL x", MULTI)).toEqual([["echo", "x"]]);
    expect(error("$NL && ls", MULTI)).toMatch(/empty command: \$NL expands to nothing/);
    expect(argvs(`echo "$X" "$NL"`, MULTI)).toEqual([["echo", "a\nb c", "\n"]]);
  });

  // Differential: the same line and env through the real /bin/sh must give the same argv. Starts processes.
  test("the same words as /bin/sh gives, for values with newlines, tabs and spaces", () => {
    const env = { PATH: "/usr/bin:/bin", X: "a\nb c", Y: "\n\t lead  trail \n", Z: "one\n\ntwo" };
    for (const line of ["printf '%s|' $X", "printf '%s|' $Y $Z", "printf '%s|' pre$X.post", `printf '%s|' "$Y"$Z`]) {
      const parsed = parseCommandLine(line, env);
      if (!parsed.ok) throw new Error(parsed.error);
      const ours = Bun.spawnSync(parsed.list[0]!.argv, { env, stdout: "pipe" }).stdout.toString();
      const sh = Bun.spawnSync(["/bin/sh", "-c", line], { env, stdout: "pipe" }).stdout.toString();
      expect({ line, out: ours }).toEqual({ line, out: sh });
    }
  });

  test("through the system runner, a real process gets one argument per field", async () => {
    const run = createSystemRunner({ runProcess, resolveIdentity, userEnvironment, log: silentLogger });
    const command: CommandEnvelope = {
      id: "shell-line-ifs",
      shell: "system",
      line: "printf '%s|' $X",
      user: "root",
      group: null,
      env: { X: "a\nb c" },
      data: null,
      allow_sh: null,
    };
    expect(await run(command, new AbortController().signal)).toEqual({ exitCode: 0, result: "a|b|c|" });
  });
});
