// Parses a `shell: "system"` command line the way POSIX sh would read it (quotes, escapes, $NAME, and the
// `&&` `||` `;` lists), and runs the resulting list with sh's and-or rules. Pure: no I/O, no agent
// environment. Never guesses: what sh would treat as a pipe, redirection or substitution is refused.

export type Connector = "&&" | "||" | ";";

export interface ListStep {
  argv: string[];
  /** How this step joins the one before it: null for the first, ";" also after a newline. */
  after: Connector | null;
}

export type ParseResult = { ok: true; list: ListStep[] } | { ok: false; error: string };

export interface StepOutcome {
  exitCode: number;
  output: string;
  /** Ends the list here (the line timed out or the agent is stopping). */
  stop?: boolean;
}

export interface ListOutcome {
  exitCode: number;
  output: string;
  /** How many steps ran. */
  ran: number;
  stopped: boolean;
}

const NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const NAME_START = /[A-Za-z_]/;
const NAME_CHAR = /[A-Za-z0-9_]/;
const SPECIAL_PARAM = /[0-9?$#@*!-]/;
/** Reserved words that start compound commands in sh; run as programs they would mean something else. */
const KEYWORDS = new Set([
  "if",
  "then",
  "else",
  "elif",
  "fi",
  "case",
  "esac",
  "for",
  "while",
  "until",
  "do",
  "done",
  "{",
  "}",
  "!",
  "[[",
  "]]",
  "function",
  "select",
]);

const NEEDS_SH: Record<string, string> = {
  "|": "a pipe",
  "&": "a background job",
  "<": "a redirection",
  ">": "a redirection",
  "(": "a subshell",
  ")": "a subshell",
  "`": "command substitution",
};

class LineError extends Error {}

function fail(message: string): never {
  throw new LineError(message);
}

function needsSh(char: string, index: number, how: string): never {
  fail(`'${char}' (${NEEDS_SH[char] ?? "a shell feature"}) at column ${index + 1} needs allow_sh; ${how} to pass it literally`);
}

/** Reads one line into a list of steps; every problem is an error value, never a throw. */
export function parseCommandLine(line: string, env: Record<string, string>): ParseResult {
  try {
    return { ok: true, list: new LineParser(line, env).parse() };
  } catch (err) {
    if (err instanceof LineError) return { ok: false, error: err.message };
    throw err;
  }
}

class LineParser {
  private i = 0;
  private readonly steps: ListStep[] = [];
  private pending: Connector | null = null;
  /** Words of the current command as written (a word may expand to no field at all). */
  private words = 0;
  private argv: string[] = [];
  private commandStart = 0;
  private commandEnd = 0;
  // The word being read: finished fields, the open field, and whether the open field must survive empty.
  private fields: string[] = [];
  private field = "";
  private fieldQuoted = false;
  /** True while the word is bare text: no quotes, escapes or expansions (for keywords and assignments). */
  private plain = true;

  constructor(
    private readonly line: string,
    private readonly env: Record<string, string>,
  ) {}

  parse(): ListStep[] {
    const nul = this.line.indexOf("\0");
    if (nul >= 0) fail(`the line contains a NUL character at column ${nul + 1}`);
    while (this.i < this.line.length) {
      const c = this.line[this.i]!;
      if (c === " " || c === "\t") this.i++;
      else if (c === "\\" && this.line[this.i + 1] === "\n")
        this.i += 2; // a line continuation between words
      else if (c === "\n") this.separator("\n");
      else if (c === ";") this.separator(";");
      else if (c === "&" && this.line[this.i + 1] === "&") this.separator("&&");
      else if (c === "|" && this.line[this.i + 1] === "|") this.separator("||");
      else if (c === "#") this.skipComment();
      else this.readWord();
    }
    if (this.words > 0) this.endCommand();
    else if (this.pending === "&&" || this.pending === "||") fail(`empty command after '${this.pending}'`);
    if (this.steps.length === 0) fail("the command line is empty");
    return this.steps;
  }

  private skipComment(): void {
    while (this.i < this.line.length && this.line[this.i] !== "\n") this.i++;
  }

  private separator(op: Connector | "\n"): void {
    this.i += op.length;
    if (op === "\n") {
      // sh: blank lines are nothing, and a newline after && or || continues the list.
      if (this.words > 0) {
        this.endCommand();
        this.pending = ";";
      }
      return;
    }
    if (this.words === 0) fail(`empty command before '${op}'`);
    this.endCommand();
    this.pending = op;
  }

  private endCommand(): void {
    if (this.argv.length === 0) {
      fail(`empty command: ${this.line.slice(this.commandStart, this.commandEnd)} expands to nothing`);
    }
    this.steps.push({ argv: this.argv, after: this.pending });
    this.argv = [];
    this.words = 0;
  }

  private readWord(): void {
    if (this.words === 0) this.commandStart = this.i;
    const first = this.words === 0;
    this.fields = [];
    this.field = "";
    this.fieldQuoted = false;
    this.plain = true;
    this.readTilde();
    while (this.i < this.line.length) {
      const c = this.line[this.i]!;
      if (c === " " || c === "\t" || c === "\n" || c === ";") break;
      if (c === "&" && this.line[this.i + 1] === "&") break;
      if (c === "|" && this.line[this.i + 1] === "|") break;
      if (Object.hasOwn(NEEDS_SH, c)) needsSh(c, this.i, "quote it");
      if (c === "'") this.readSingleQuoted();
      else if (c === '"') this.readDoubleQuoted();
      else if (c === "\\") this.readEscape();
      else if (c === "$") this.readDollar(false);
      else {
        if (c === "=" && first && this.plain && NAME.test(this.field)) {
          fail(
            `'${this.field}=' at column ${this.commandStart + 1} is a variable assignment, which needs allow_sh; pass variables in the command's env`,
          );
        }
        this.field += c;
        this.i++;
      }
    }
    if (this.field !== "" || this.fieldQuoted) this.fields.push(this.field);
    if (first && this.plain && KEYWORDS.has(this.fields[0] ?? "")) {
      fail(`'${this.fields[0]}' is a shell keyword; compound commands need allow_sh`);
    }
    this.words++;
    this.commandEnd = this.i;
    this.argv.push(...this.fields);
  }

  /** sh expands an unquoted leading `~` (alone or before `/`) to $HOME. */
  private readTilde(): void {
    if (this.line[this.i] !== "~") return;
    const next = this.line[this.i + 1];
    const bare = next === undefined || next === "/" || /[ \t\n;&|]/.test(next);
    if (!bare) {
      // `~name` is another user's home in sh: a lookup this parser does not do.
      if (next !== undefined && NAME_START.test(next))
        fail(`'~${next}...' at column ${this.i + 1} (another user's home) is not supported; write the path`);
      return;
    }
    if (!Object.hasOwn(this.env, "HOME")) return;
    this.field += this.env.HOME;
    this.fieldQuoted = true;
    this.plain = false;
    this.i++;
  }

  private readSingleQuoted(): void {
    const start = this.i;
    const end = this.line.indexOf("'", start + 1);
    if (end < 0) fail(`unterminated single quote starting at column ${start + 1}`);
    this.field += this.line.slice(start + 1, end);
    this.fieldQuoted = true;
    this.plain = false;
    this.i = end + 1;
  }

  private readDoubleQuoted(): void {
    const start = this.i;
    this.i++;
    this.fieldQuoted = true;
    this.plain = false;
    for (;;) {
      if (this.i >= this.line.length) fail(`unterminated double quote starting at column ${start + 1}`);
      const c = this.line[this.i]!;
      if (c === '"') {
        this.i++;
        return;
      }
      if (c === "\\") {
        const next = this.line[this.i + 1];
        if (next === "\n") this.i += 2;
        else if (next === '"' || next === "\\" || next === "$" || next === "`") {
          this.field += next;
          this.i += 2;
        } else {
          this.field += c;
          this.i++;
        }
      } else if (c === "`") needsSh(c, this.i, "escape it as \\`");
      else if (c === "$") this.readDollar(true);
      else {
        this.field += c;
        this.i++;
      }
    }
  }

  private readEscape(): void {
    const next = this.line[this.i + 1];
    if (next === undefined) fail(`the line ends with a lone backslash (column ${this.i + 1})`);
    this.plain = false;
    this.i += 2;
    if (next === "\n") return; // a line continuation
    this.field += next;
    this.fieldQuoted = true;
  }

  /** `$NAME` and `${NAME}` from the command's env (unset is ""); anything sh would compute is refused. */
  private readDollar(quoted: boolean): void {
    const start = this.i;
    const next = this.line[start + 1];
    let name: string;
    if (next === "{") {
      const close = this.line.indexOf("}", start + 2);
      if (close < 0) fail(`unterminated \${ starting at column ${start + 1}`);
      name = this.line.slice(start + 2, close);
      if (!NAME.test(name)) fail(`'\${${name}}' at column ${start + 1} is not a plain variable; parameter expansion needs allow_sh`);
      this.i = close + 1;
    } else if (next === "(") {
      fail(
        `'$(' (command substitution) at column ${start + 1} needs allow_sh; ${quoted ? "escape it as \\$" : "single-quote it"} to pass it literally`,
      );
    } else if (next !== undefined && NAME_START.test(next)) {
      let end = start + 1;
      while (end < this.line.length && NAME_CHAR.test(this.line[end]!)) end++;
      name = this.line.slice(start + 1, end);
      this.i = end;
    } else if (next !== undefined && SPECIAL_PARAM.test(next)) {
      fail(`'$${next}' at column ${start + 1} is a shell special parameter and needs allow_sh`);
    } else {
      // sh keeps a `$` that starts nothing.
      this.field += "$";
      this.i++;
      return;
    }
    this.plain = false;
    const value = Object.hasOwn(this.env, name) ? this.env[name]! : "";
    if (quoted) this.field += value;
    else this.appendSplit(value);
  }

  /** An unquoted expansion is split into fields on blanks and newlines, as sh does with the default IFS. */
  private appendSplit(value: string): void {
    const parts = value.split(/[ \t\n]+/);
    parts.forEach((part, k) => {
      if (k > 0) {
        if (this.field !== "" || this.fieldQuoted) this.fields.push(this.field);
        this.field = "";
        this.fieldQuoted = false;
      }
      this.field += part;
    });
  }
}

/**
 * Runs a parsed list with sh's rules: `;` always runs the next step, `&&` only after success, `||` only
 * after failure, left to right (`a || b && c` is `(a || b) && c`). A skipped step keeps the last status.
 * The outputs are concatenated in order; the exit code is the last run step's (0 when none ran).
 */
export async function runCommandList(list: ListStep[], runOne: (argv: string[]) => Promise<StepOutcome>): Promise<ListOutcome> {
  let status = 0;
  let ran = 0;
  const outputs: string[] = [];
  for (const step of list) {
    if (step.after === "&&" && status !== 0) continue;
    if (step.after === "||" && status === 0) continue;
    const outcome = await runOne(step.argv);
    ran++;
    outputs.push(outcome.output);
    status = outcome.exitCode;
    if (outcome.stop) return { exitCode: status, output: outputs.join(""), ran, stopped: true };
  }
  return { exitCode: status, output: outputs.join(""), ran, stopped: false };
}
