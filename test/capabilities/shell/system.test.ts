// Tests `shell: "system"` commands with real processes, a real throw-away user and groups (needs root).
// Never leaves anything behind: the user, its groups and any process it started are removed in afterAll.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createShell } from "../../../src/capabilities/shell/index.ts";
import { createSystemRunner, USER_REQUIRED, type SystemRunnerDeps } from "../../../src/capabilities/shell/system.ts";
import { loadConfig } from "../../../src/config/load.ts";
import type { CommandEnvelope } from "../../../src/console/protocol.ts";
import { resolveIdentity, userEnvironment } from "../../../src/exec/identity.ts";
import { runProcess } from "../../../src/exec/run.ts";
import type { Fields, Logger } from "../../../src/log/logger.ts";
import { silentLogger } from "../../../src/log/logger.ts";
import { systemClock } from "../../../src/platform/clock.ts";
const isRoot = process.getuid?.() === 0; // users, groups and the identity switch need root

const tag = Math.random().toString(16).slice(2, 8);
const USER = `alp-t-${tag}`;
const EXTRA_GROUP = `alp-g-${tag}`;
const OTHER_GROUP = `alp-o-${tag}`;
const never = new AbortController().signal;

function sh(...argv: string[]): string {
  const result = Bun.spawnSync(argv, { stdout: "pipe", stderr: "pipe" });
  if (result.exitCode !== 0) throw new Error(`${argv.join(" ")}: ${result.stderr.toString()}`);
  return result.stdout.toString().trim();
}

function quietly(...argv: string[]): void {
  Bun.spawnSync(argv, { stdout: "ignore", stderr: "ignore" });
}

/** Live (non-zombie) processes whose command line contains `marker`, or whose real uid is `uid`. */
function pidsMatching(match: { marker?: string; uid?: number }): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      const cmdline = readFileSync(`/proc/${entry}/cmdline`, "utf8");
      const status = readFileSync(`/proc/${entry}/status`, "utf8");
      if (/^State:\s+Z/m.test(status)) continue;
      const uid = Number(/^Uid:\s+(\d+)/m.exec(status)?.[1]);
      if ((match.marker && cmdline.includes(match.marker)) || (match.uid !== undefined && uid === match.uid)) pids.push(Number(entry));
    } catch {
      // the process ended while we looked
    }
  }
  return pids;
}

function killAll(pids: number[]): void {
  for (const pid of pids) {
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      // already gone
    }
  }
}

async function waitUntilGone(marker: string, ms: number): Promise<number[]> {
  const until = Date.now() + ms;
  let left = pidsMatching({ marker });
  while (left.length > 0 && Date.now() < until) {
    await Bun.sleep(50);
    left = pidsMatching({ marker });
  }
  return left;
}

let uid = -1;
let primaryGid = -1;
let extraGid = -1;
let home = "";
const markers: string[] = [];

beforeAll(() => {
  if (!isRoot) return;
  sh("useradd", "-m", "-U", "-s", "/bin/bash", USER);
  sh("groupadd", EXTRA_GROUP);
  sh("groupadd", OTHER_GROUP);
  sh("usermod", "-aG", EXTRA_GROUP, USER);
  uid = Number(sh("id", "-u", USER));
  primaryGid = Number(sh("id", "-g", USER));
  extraGid = Number(sh("getent", "group", EXTRA_GROUP).split(":")[2]);
  home = sh("getent", "passwd", USER).split(":")[5]!;
});

afterAll(() => {
  if (!isRoot) return;
  for (const marker of markers) killAll(pidsMatching({ marker }));
  if (uid > 0) killAll(pidsMatching({ uid }));
  quietly("userdel", "-r", USER);
  quietly("groupdel", USER);
  quietly("groupdel", EXTRA_GROUP);
  quietly("groupdel", OTHER_GROUP);
});

function runner(extra: Partial<SystemRunnerDeps> = {}) {
  return createSystemRunner({ runProcess, resolveIdentity, userEnvironment, log: silentLogger, ...extra });
}

function cmd(line: string, extra: Partial<CommandEnvelope> = {}): CommandEnvelope {
  return { id: `c-${tag}`, shell: "system", line, user: USER, group: null, env: null, data: null, allow_sh: null, ...extra };
}

function uniqueMarker(): string {
  const marker = `${300 + Math.floor(Math.random() * 100)}.${Math.floor(Math.random() * 1e6)}`;
  markers.push(marker);
  return marker;
}

describe.skipIf(!isRoot)("system commands: who runs them", () => {
  test("run as the user with the primary group and the supplementary groups", async () => {
    const out = await runner()(cmd("id -u; id -g; id -G"), never);
    expect(out.exitCode).toBe(0);
    const [u, g, groups] = out.result.trim().split("\n");
    expect(Number(u)).toBe(uid);
    expect(Number(g)).toBe(primaryGid);
    expect(groups!.split(" ").map(Number).sort()).toEqual([primaryGid, extraGid].sort());
  });

  test("the requested group becomes the gid", async () => {
    const out = await runner()(cmd("id -g && id -G", { group: EXTRA_GROUP }), never);
    expect(out.exitCode).toBe(0);
    const [g, groups] = out.result.trim().split("\n");
    expect(Number(g)).toBe(extraGid);
    expect(groups!.split(" ").map(Number)).toContain(primaryGid);
  });

  test("the working directory is the user's home", async () => {
    const out = await runner()(cmd("pwd"), never);
    expect(out).toEqual({ exitCode: 0, result: `${home}\n` });
  });

  test("an empty user is refused, never run as root", async () => {
    for (const user of [null, "", "  "]) {
      expect(await runner()(cmd("id -u", { user }), never)).toEqual({ exitCode: 1, result: USER_REQUIRED });
    }
  });

  test("root runs only when named", async () => {
    expect(await runner()(cmd("id -u", { user: "root" }), never)).toEqual({ exitCode: 0, result: "0\n" });
  });

  test("an unknown user and a group the user is not in are named", async () => {
    const unknown = await runner()(cmd("id", { user: `no-such-${tag}` }), never);
    expect(unknown.exitCode).toBe(1);
    expect(unknown.result).toContain(`no-such-${tag}`);
    const foreign = await runner()(cmd("id", { group: OTHER_GROUP }), never);
    expect(foreign.exitCode).toBe(1);
    expect(foreign.result).toContain(OTHER_GROUP);
    expect(foreign.result).toContain(USER);
  });
});

describe.skipIf(!isRoot)("system commands: environment and line", () => {
  test("a clean login environment plus the command's env, nothing from the agent", async () => {
    const agentVariable = `ALPAMON_AGENT_ONLY_${tag}`;
    process.env[agentVariable] = "agent-secret";
    try {
      const out = await runner()(cmd("env", { env: { ALP_CMD_VAR: "from console" } }), never);
      expect(out.exitCode).toBe(0);
      const vars = new Map(
        out.result
          .trim()
          .split("\n")
          .map((l) => [l.slice(0, l.indexOf("=")), l.slice(l.indexOf("=") + 1)]),
      );
      for (const name of ["PATH", "SHELL", "LANG", "TERM"]) expect(vars.get(name)).toBeTruthy();
      expect(vars.get("HOME")).toBe(home);
      expect(vars.get("USER")).toBe(USER);
      expect(vars.get("LOGNAME")).toBe(USER);
      expect(vars.get("ALP_CMD_VAR")).toBe("from console");
      expect(out.result).not.toContain(agentVariable);
      expect(out.result).not.toContain("agent-secret");
    } finally {
      delete process.env[agentVariable];
    }
  });

  test("quotes and $NAME are read like sh, from the command's environment", async () => {
    const out = await runner()(cmd(`printf '[%s]' "a  b" $HOME "$V" '$V' $UNSET`, { env: { V: "x y" } }), never);
    expect(out).toEqual({ exitCode: 0, result: `[a  b][${home}][x y][$V]` });
  });

  test("&& || ; follow sh: a later ; runs whatever came before", async () => {
    const run = runner();
    expect(await run(cmd("echo a && false; echo c"), never)).toEqual({ exitCode: 0, result: "a\nc\n" });
    expect(await run(cmd("echo a && false"), never)).toEqual({ exitCode: 1, result: "a\n" });
    expect(await run(cmd("false || echo b && echo c"), never)).toEqual({ exitCode: 0, result: "b\nc\n" });
    expect(await run(cmd("true || echo b && echo c"), never)).toEqual({ exitCode: 0, result: "c\n" });
  });

  test("a program that is not there is exit 127 and the list goes on", async () => {
    const run = runner();
    expect(await run(cmd(`no-such-program-${tag}`), never)).toEqual({
      exitCode: 127,
      result: `no-such-program-${tag}: command not found\n`,
    });
    expect(await run(cmd(`no-such-program-${tag} || echo after`), never)).toEqual({
      exitCode: 0,
      result: `no-such-program-${tag}: command not found\nafter\n`,
    });
  });

  test("pipes are refused without allow_sh and run through /bin/sh with it", async () => {
    const refused = await runner()(cmd("echo a | tr a b"), never);
    expect(refused.exitCode).toBe(1);
    expect(refused.result).toMatch(/^system command: '\|' \(a pipe\) at column 8 needs allow_sh/);
    expect(await runner()(cmd("echo a | tr a b", { allow_sh: true }), never)).toEqual({ exitCode: 0, result: "b\n" });
  });

  test("a process killed by a signal fails and says which signal", async () => {
    const out = await runner()(cmd("echo before; kill -KILL $$", { allow_sh: true }), never);
    expect(out).toEqual({ exitCode: -1, result: "before\n\n[alpamon: /bin/sh was killed by SIGKILL]\n" });
  });

  test("stdout and stderr are combined in order", async () => {
    const out = await runner()(cmd("echo 1; echo 2 >&2; echo 3", { allow_sh: true }), never);
    expect(out).toEqual({ exitCode: 0, result: "1\n2\n3\n" });
  });
});

describe.skipIf(!isRoot)("system commands: limits", () => {
  test("20 MB of output is capped at 8 MiB with a marker, and memory stays bounded", async () => {
    Bun.gc(true);
    const before = process.memoryUsage().rss;
    const out = await runner()(cmd("head -c 20000000 /dev/zero | tr '\\0' a", { allow_sh: true }), never);
    const growth = process.memoryUsage().rss - before;
    const marker = "\n[alpamon: output truncated, 11611392 bytes omitted]";
    expect(out.exitCode).toBe(0);
    expect(out.result.endsWith(marker)).toBe(true);
    expect(Buffer.byteLength(out.result) - marker.length).toBe(8 * 1024 * 1024);
    expect(growth).toBeLessThan(64 * 1024 * 1024);
  }, 30_000);

  test("output that grows when escaped is capped by its escaped size, so it fits the fin (a NUL byte is \\u0000)", async () => {
    const out = await runner()(cmd("head -c 20000000 /dev/zero"), never);
    const kept = Math.floor((8 * 1024 * 1024) / 6);
    expect(out.exitCode).toBe(0);
    expect(out.result).toBe(`${"\0".repeat(kept)}\n[alpamon: output truncated, ${20_000_000 - kept} bytes omitted]`);
    expect(Buffer.byteLength(JSON.stringify(out.result))).toBeLessThan(8 * 1024 * 1024 + 100);
  }, 30_000);

  test("the cap is for the whole line, across its commands", async () => {
    const line = "head -c 700 /dev/zero | tr '\\0' a; head -c 700 /dev/zero | tr '\\0' a; echo end";
    const out = await runner({ maxOutputBytes: 1000 })(cmd(line, { allow_sh: true }), never);
    expect(out.exitCode).toBe(0);
    expect(out.result).toBe(`${"a".repeat(1000)}\n[alpamon: output truncated, 404 bytes omitted]`);
  });

  test("[commands] shell_timeout: exit 124, the output then the banner, and the whole process group killed", async () => {
    const dir = mkdtempSync(join(tmpdir(), "alpamon-shell-timeout-"));
    try {
      const conf = join(dir, "alpamon.conf");
      writeFileSync(conf, "[server]\nurl = https://console.example.com\nid = s1\nkey = k1\n[commands]\nshell_timeout = 1\n");
      const { systemRunner } = createShell({
        log: silentLogger,
        clock: systemClock,
        timeoutMs: loadConfig({ explicitPath: conf }).commands.shellTimeoutMs,
      });
      const marker = uniqueMarker();
      const started = Date.now();
      // A background child in the same group outlives its parent's sleep unless the group is killed.
      const out = await systemRunner!(cmd(`echo started; sleep ${marker} & sleep ${marker}`, { allow_sh: true }), never);
      expect(Date.now() - started).toBeLessThan(4000);
      expect(out.exitCode).toBe(124);
      expect(out.result).toBe("started\n\n\nCommand timed out after 1s");
      expect(await waitUntilGone(marker, 1000)).toEqual([]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 15_000);

  test("a timeout with no output is the banner alone, in Go's duration format", async () => {
    const marker = uniqueMarker();
    const out = await runner({ timeoutMs: 2000 })(cmd(`sleep ${marker}`), never);
    expect(out).toEqual({ exitCode: 124, result: "Command timed out after 2s" });
    expect(await waitUntilGone(marker, 1000)).toEqual([]);
  }, 15_000);

  test("the timeout is for the whole line, not each command", async () => {
    const started = Date.now();
    const out = await runner({ timeoutMs: 1000 })(cmd("echo a; sleep 0.6; echo b; sleep 5; echo never"), never);
    // Per-command timeouts would end near 1.6 s; one deadline for the line ends near 1 s.
    expect(Date.now() - started).toBeLessThan(1350);
    expect(out.exitCode).toBe(124);
    expect(out.result).toBe("a\nb\n\n\nCommand timed out after 1s");
  }, 15_000);

  test("the agent stopping ends the command and its group", async () => {
    const marker = uniqueMarker();
    const stop = new AbortController();
    setTimeout(() => stop.abort(), 300);
    const out = await runner()(cmd(`sleep ${marker}; echo never`), stop.signal);
    expect(out.exitCode).toBe(-1);
    expect(out.result).toBe("\n[alpamon: stopped because the agent is shutting down]");
    expect(await waitUntilGone(marker, 1000)).toEqual([]);
  }, 15_000);
});

describe.skipIf(!isRoot)("system commands: logging", () => {
  test("logs the command id and user, never the line or the env", async () => {
    const records: { message: string; fields: Fields }[] = [];
    const log: Logger = {
      debug: (message, fields = {}) => records.push({ message, fields }),
      info: (message, fields = {}) => records.push({ message, fields }),
      warn: (message, fields = {}) => records.push({ message, fields }),
      error: (message, fields = {}) => records.push({ message, fields }),
      child: () => log,
    };
    await runner({ log })(cmd("echo line-secret-1 $TOKEN", { env: { TOKEN: "env-secret-2" } }), never);
    await runner({ log })(cmd("echo line-secret-1 | cat", { env: { TOKEN: "env-secret-2" } }), never);
    const text = JSON.stringify(records);
    expect(records.length).toBeGreaterThan(0);
    expect(records[0]!.fields).toMatchObject({ command: `c-${tag}`, user: USER });
    expect(text).not.toContain("line-secret-1");
    expect(text).not.toContain("env-secret-2");
  });
});
