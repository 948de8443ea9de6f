// The file-manager worker's request loop: one JSON request per line in, exactly one JSON reply per line out,
// strictly in order (sessions.md §2.3). A bad request gets an error reply; nothing a request holds can end
// the loop. Runs inside the worker process, as the user.
import * as v from "valibot";
import { readAccounts, type Accounts } from "./accounts.ts";
import { FileError, replyCode, type FtpOp } from "./errors.ts";
import { copy } from "./ftp-copy.ts";
import { listTree } from "./ftp-list.ts";
import { changeMode, changeOwner, checkDir, makeDir, move, parseMode, remove, removeDir } from "./ftp-ops.ts";
import { resolvePath, type PathBase } from "./paths.ts";

export interface FtpReply {
  command: string;
  success: boolean;
  code: number;
  data: Record<string, unknown>;
}

const OPS = new Set<string>(["list", "mkd", "cwd", "pwd", "dele", "rmd", "mv", "cp", "chmod", "chown"]);

const Request = v.object({
  command: v.string("command must be a string"),
  data: v.optional(v.nullable(v.record(v.string(), v.unknown(), "data must be an object")), {}),
});

const flag = (value: unknown) => value === true;

export class FtpState {
  wd: string;
  constructor(
    readonly home: string,
    private readonly accountsOf: () => Accounts = () => readAccounts(),
  ) {
    this.wd = home || "/";
  }

  /** Handles one request line; never throws. */
  handle(line: string): FtpReply {
    let raw: unknown;
    try {
      raw = JSON.parse(line);
    } catch {
      return { command: "", success: false, code: 550, data: { message: "request is not valid JSON" } };
    }
    const parsed = v.safeParse(Request, raw);
    if (!parsed.success) return { command: "", success: false, code: 550, data: { message: parsed.issues[0]!.message } };
    const { command } = parsed.output;
    if (!OPS.has(command)) return { command, success: false, code: 550, data: {} };
    const op = command as FtpOp;
    try {
      return { command, success: true, code: 250, data: this.run(op, parsed.output.data ?? {}) };
    } catch (err) {
      const e = err instanceof FileError ? err : new FileError("EIO", String((err as Error)?.message ?? err));
      return { command, success: false, code: replyCode(op, e.code), data: { message: e.message } };
    }
  }

  private run(op: FtpOp, d: Record<string, unknown>): Record<string, unknown> {
    const accounts = this.accountsOf();
    const base: PathBase = { home: this.home || "/", wd: this.wd, homeOf: (n) => accounts.homeOf(n) };
    const path = (field: string) => resolvePath(d[field], base, op);
    switch (op) {
      case "list":
        return { ...listTree(path("path"), typeof d.depth === "number" ? d.depth : 0, flag(d.show_hidden), accounts) };
      case "mkd":
        return { message: makeDir(path("path")) };
      case "cwd": {
        const p = path("path");
        checkDir(p);
        this.wd = p;
        return { message: `Change working directory to ${p}.` };
      }
      case "pwd":
        return { path: this.wd, message: `Current working directory: ${this.wd}.` };
      case "dele": {
        const p = path("path");
        remove(p);
        return { message: `Delete ${p} successfully.` };
      }
      case "rmd": {
        const p = path("path");
        removeDir(p, flag(d.recursive));
        return { message: `Delete ${p} successfully.` };
      }
      case "mv": {
        const src = path("src");
        const dst = move(src, path("dst"), flag(d.allow_overwrite));
        return { dst, message: `Move ${src} to ${dst}.` };
      }
      case "cp": {
        const src = path("src");
        const dst = copy(src, path("dst"), flag(d.allow_overwrite));
        return { dst, message: `Copy ${src} to ${dst}.` };
      }
      case "chmod":
        return { message: changeMode(path("path"), parseMode(d.mode), flag(d.recursive)) };
      case "chown":
        return { message: changeOwner(path("path"), d.username, d.groupname, flag(d.recursive), accounts) };
    }
  }
}

/** Serves requests from `input` lines until it ends; writes replies to `write`. */
export async function serveFtp(
  input: ReadableStream<Uint8Array>,
  write: (line: string) => Promise<void> | void,
  state: FtpState,
): Promise<void> {
  const decoder = new TextDecoder();
  let buffered = "";
  for await (const chunk of input) {
    buffered += decoder.decode(chunk, { stream: true });
    for (let nl = buffered.indexOf("\n"); nl >= 0; nl = buffered.indexOf("\n")) {
      const line = buffered.slice(0, nl);
      buffered = buffered.slice(nl + 1);
      if (line.trim() === "") continue;
      await write(`${JSON.stringify(state.handle(line))}\n`);
    }
  }
}
