// Fuzz of file-manager requests: the openftp/download/upload data schemas, and the worker's request loop
// (FtpState.handle) against a real sandbox directory. A guard keeps every resolved path inside the
// sandbox, so the fuzz can never touch the host's files even though it runs as root.
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { readAccounts, type Accounts } from "../../src/capabilities/files/accounts.ts";
import { FtpState } from "../../src/capabilities/files/ftp-serve.ts";
import { resolvePath } from "../../src/capabilities/files/paths.ts";
import { DownloadData, OpenFtpData, parseData, UploadData } from "../../src/capabilities/files/transfer-data.ts";
import { mutate, nastyString, Rand, randomObject, randomValue } from "./rand.ts";

const OPS = ["list", "mkd", "cwd", "pwd", "dele", "rmd", "mv", "cp", "chmod", "chown", "stat", nastyString(new Rand(1), 1)];
const DATA_KEYS = ["path", "src", "dst", "depth", "show_hidden", "recursive", "allow_overwrite", "mode", "username", "groupname"];
const SCHEMAS = [
  ["openftp", OpenFtpData, ["session_id", "url", "username", "groupname", "home_directory"]],
  ["download", DownloadData, ["username", "groupname", "type", "content", "path", "allow_overwrite", "allow_unzip", "url", "files"]],
  ["upload", UploadData, ["username", "groupname", "paths", "content", "use_blob", "url", "type"]],
] as const;

function sandboxPath(r: Rand): unknown {
  const names = ["a", "b", "dir", "d/e", "f.txt", "new", nastyString(r, 1).replace(/[/.~\0]/g, "") || "x", "é 日本", "x".repeat(300)];
  switch (r.int(0, 5)) {
    case 0:
      return randomValue(r, 1);
    case 1:
      return r.pick(names);
    case 2:
      return `~/${r.pick(names)}`;
    default:
      return `${r.pick(names)}/${r.pick(names)}`;
  }
}

export interface FilesFuzzStats {
  schemaCases: number;
  requests: number;
  failures: number;
  skipped: number;
}

export function fuzzFiles(seed: number, cases: number, sandbox: string): FilesFuzzStats {
  const r = new Rand(seed);
  const stats: FilesFuzzStats = { schemaCases: 0, requests: 0, failures: 0, skipped: 0 };
  for (let i = 0; i < cases; i++) {
    const [command, schema, keys] = r.pick(SCHEMAS);
    const data = r.chance(0.9) ? randomObject(r, 2, keys) : randomValue(r, 2);
    let parsed: ReturnType<typeof parseData>;
    try {
      parsed = parseData(command, schema, data);
    } catch (err) {
      throw new Error(`seed ${seed} case ${i}: ${command} data threw ${String(err)} for ${JSON.stringify(data).slice(0, 300)}`);
    }
    if (!parsed.ok && !parsed.error.startsWith(`${command}: Not enough information. `))
      throw new Error(`seed ${seed} case ${i}: unclear error ${parsed.error}`);
    stats.schemaCases++;
  }

  const root = join(sandbox, "root");
  mkdirSync(join(root, "dir/d"), { recursive: true });
  writeFileSync(join(root, "f.txt"), "hello\n");
  const real = readAccounts();
  const accounts: Accounts = {
    ...real,
    userName: real.userName,
    groupName: real.groupName,
    uidOf: real.uidOf,
    gidOf: real.gidOf,
    homeOf: () => root,
  };
  const state = new FtpState(root, () => accounts);
  const inside = (p: string) => p === root || p.startsWith(`${root}/`);
  for (let i = 0; i < cases; i++) {
    const op = r.pick(OPS);
    const d = randomObject(r, 1, DATA_KEYS);
    for (const k of ["path", "src", "dst"]) if (r.chance(0.7)) d[k] = sandboxPath(r);
    if (r.chance(0.3)) d.mode = r.pick(["755", "0644", "u+x", "9999", "-1", 0o755, "777777777777"]);
    let line = JSON.stringify({ command: op, data: d });
    if (r.chance(0.1)) line = mutate(r, line);
    else if (r.chance(0.05)) line = JSON.stringify(randomValue(r, 2));
    // The guard: never send a request whose paths resolve outside the sandbox (or to its root, for destructive ops).
    let request: unknown;
    try {
      request = JSON.parse(line);
    } catch {
      request = undefined;
    }
    const data = (request as { data?: unknown } | undefined)?.data;
    if (data && typeof data === "object") {
      const unsafe = ["path", "src", "dst"].some((k) => {
        const raw = (data as Record<string, unknown>)[k];
        let p: string;
        try {
          p = resolvePath(raw, { home: root, wd: state.wd, homeOf: () => root });
        } catch {
          return false;
        }
        return !inside(p) || (p === root && !["list", "pwd", "cwd", "mkd"].includes((request as { command?: string }).command ?? ""));
      });
      if (unsafe || (typeof (request as { command?: unknown }).command === "string" && state.wd !== root && !inside(state.wd))) {
        stats.skipped++;
        continue;
      }
    }
    let reply: ReturnType<FtpState["handle"]>;
    try {
      reply = state.handle(line);
      JSON.stringify(reply);
    } catch (err) {
      throw new Error(`seed ${seed} request ${i}: handle threw ${String(err)} for ${line.slice(0, 300)}`);
    }
    if (typeof reply.code !== "number" || typeof reply.success !== "boolean")
      throw new Error(`seed ${seed} request ${i}: malformed reply ${JSON.stringify(reply)}`);
    if (!reply.success) {
      stats.failures++;
      const known = ["list", "mkd", "cwd", "pwd", "dele", "rmd", "mv", "cp", "chmod", "chown"].includes(reply.command);
      const message = (reply.data as { message?: unknown }).message;
      if (known && (typeof message !== "string" || message.trim() === ""))
        throw new Error(`seed ${seed} request ${i}: failure without a message for ${line.slice(0, 300)}`);
    }
    if (!inside(state.wd)) state.wd = root;
    stats.requests++;
  }
  return stats;
}
