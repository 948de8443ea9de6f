// The launch core: the root side of a launch (the cgroup join and setpriv) sees a fixed environment only;
// the command's environment reaches the program exactly, applied by a shell running as the user; loader
// variables and names that cannot be carried are refused before anything starts.
import { describe, expect, test } from "bun:test";
import { chmodSync, existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { CARRIED_PREFIX, carryProblem, isLauncherHop, LAUNCH_ENV, launchFailure, planLaunch } from "../../src/exec/launch.ts";
import { resolveIdentity, userEnvironment } from "../../src/exec/identity.ts";
import { runProcess } from "../../src/exec/run.ts";
import type { Identity } from "../../src/exec/types.ts";
import { buildMarkerLibrary } from "../helpers/preload.ts";
import { useTempDirs } from "../helpers/tmp.ts";
import { useTestUser } from "../helpers/users.ts";

const isRoot = process.getuid?.() === 0;
const { user: USER } = useTestUser("alpl");
const tempDir = useTempDirs("alpamon-launch-");
const SOMEONE: Identity = { user: "someone", uid: 4242, gid: 4242, home: "/", shell: "/bin/sh" };

async function identity(): Promise<Identity> {
  const resolved = await resolveIdentity(USER, null);
  if (!resolved.ok) throw new Error(resolved.error);
  return resolved.identity;
}

/** NUL-separated `env -0` output as an object. */
function parseEnv0(text: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const entry of text.split("\0").filter(Boolean)) {
    const eq = entry.indexOf("=");
    env[entry.slice(0, eq)] = entry.slice(eq + 1);
  }
  return env;
}

describe("planLaunch", () => {
  test("as root: join, setpriv, import; the spawned environment is the fixed one plus inert carried names", () => {
    const env = { PATH: "/usr/bin:/bin", HOME: "/home/x", SECRET: "s3cr3t value" };
    const plan = planLaunch({
      argv: ["printenv", "SECRET"],
      identity: SOMEONE,
      env,
      agentUid: 0,
      setpriv: "/usr/bin/setpriv",
      workProcs: "/cg/work/cgroup.procs",
    });
    if ("error" in plan) throw new Error(plan.error);
    expect(plan.argv.slice(0, 2)).toEqual(["/bin/sh", "-c"]);
    expect(plan.argv.slice(3, 5)).toEqual(["alpamon-cgroup", "/cg/work/cgroup.procs"]);
    expect(plan.argv.slice(5, 10)).toEqual(["/usr/bin/setpriv", "--reuid=4242", "--regid=4242", "--init-groups", "--"]);
    expect(plan.argv.slice(-6)).toEqual(["PATH", "HOME", "SECRET", "--", "printenv", "SECRET"]);
    // Values never travel in argv (world-readable in /proc/<pid>/cmdline); only names do.
    expect(plan.argv.join("\n")).not.toContain("s3cr3t");
    expect(plan.env).toEqual({
      ...LAUNCH_ENV,
      [`${CARRIED_PREFIX}PATH`]: "/usr/bin:/bin",
      [`${CARRIED_PREFIX}HOME`]: "/home/x",
      [`${CARRIED_PREFIX}SECRET`]: "s3cr3t value",
    });
    expect(isLauncherHop(plan.argv)).toBe(true);
    expect(isLauncherHop(plan.argv.slice(10))).toBe(true);
    expect(isLauncherHop(["/bin/sh", "-l"])).toBe(false);
  });

  test("no cgroup join without a placement; the agent itself and its own uid run directly with the env as given", () => {
    const env = { PATH: "/bin" };
    const plain = planLaunch({ argv: ["true"], identity: SOMEONE, env, agentUid: 0, setpriv: "/usr/bin/setpriv", workProcs: undefined });
    if ("error" in plain) throw new Error(plain.error);
    expect(plain.argv[0]).toBe("/usr/bin/setpriv");
    expect(planLaunch({ argv: ["true"], identity: undefined, env })).toEqual({ argv: ["true"], env });
    expect(planLaunch({ argv: ["true"], identity: SOMEONE, env, agentUid: 4242 })).toEqual({ argv: ["true"], env });
    expect(planLaunch({ argv: ["true"], identity: SOMEONE, env, agentUid: 1000 })).toEqual({
      error: "cannot run as someone: the agent is not running as root",
    });
    expect(planLaunch({ argv: ["true"], identity: SOMEONE, env, agentUid: 0, setpriv: undefined })).toEqual({
      error: "setpriv (util-linux) is needed to run as another user and was not found",
    });
  });

  test("loader variables, bad names, NUL, shell-managed and reserved names are refused, naming the key", () => {
    const refuse = (env: Record<string, string>) => {
      const plan = planLaunch({ argv: ["true"], identity: SOMEONE, env, agentUid: 0, setpriv: "/usr/bin/setpriv" });
      return "error" in plan ? plan.error : "started";
    };
    expect(refuse({ LD_PRELOAD: "/x.so" })).toBe('env: key "LD_PRELOAD" is not allowed (dynamic loader variables are refused)');
    for (const key of [
      "LD_LIBRARY_PATH",
      "LD_AUDIT",
      "GCONV_PATH",
      "LOCPATH",
      "GLIBC_TUNABLES",
      "MALLOC_CHECK_",
      "NLSPATH",
      "HOSTALIASES",
      "RES_OPTIONS",
    ]) {
      expect(refuse({ [key]: "x" })).toContain(`"${key}" is not allowed`);
    }
    expect(refuse({ "A=B": "x" })).toContain('key "A=B" is not a valid name');
    expect(refuse({ "1X": "x" })).toContain('key "1X" is not a valid name');
    expect(refuse({ "": "x" })).toContain('key "" is not a valid name');
    expect(refuse({ A: "a\0b" })).toBe('env: the value of "A" contains a NUL character');
    expect(refuse({ UID: "0" })).toBe('env: key "UID" is managed by the shell and cannot be set');
    expect(refuse({ [`${CARRIED_PREFIX}X`]: "x" })).toContain("reserved for the agent");
    expect(refuse({ TMPDIR: "/tmp", PS4: "$(id)", BASH_ENV: "/x" })).toBe("started");
    // Even the agent's own launches refuse loader variables and unrepresentable names.
    expect(planLaunch({ argv: ["true"], identity: undefined, env: { LD_PRELOAD: "/x.so" } })).toEqual({
      error: 'env: key "LD_PRELOAD" is not allowed (dynamic loader variables are refused)',
    });
    expect(carryProblem({ PATH: "/bin", SHLVL: "3" })).toContain('"SHLVL"');
    expect(carryProblem({ PATH: "/bin" })).toBeUndefined();
  });

  test("a program name starting with '-' is refused (no exec in every shell can take it)", () => {
    expect(planLaunch({ argv: ["-x"], identity: SOMEONE, env: {}, agentUid: 0, setpriv: "/usr/bin/setpriv" })).toEqual({
      error: "-x: a program name cannot start with '-'",
    });
  });
});

describe("launchFailure", () => {
  test("reads dash's, bash's and setpriv's messages and the cgroup join's", () => {
    expect(launchFailure("alpamon-exec: 8: exec: nope: not found\n", 127, "nope")).toBe("nope: command not found");
    expect(launchFailure("alpamon-exec: line 8: exec: nope: not found\n", 127, "nope")).toBe("nope: command not found");
    expect(launchFailure("alpamon-exec: 8: exec: /etc/passwd: Permission denied\n", 126, "/etc/passwd")).toBe(
      "/etc/passwd: Permission denied",
    );
    const bash = "alpamon-exec: line 8: /tmp: Is a directory\nalpamon-exec: line 8: exec: /tmp: cannot execute: Is a directory\n";
    expect(launchFailure(bash, 126, "/tmp")).toBe("/tmp: Is a directory");
    expect(launchFailure("setpriv: failed to execute /bin/sh: No such file or directory\n", 127, "x")).toBe("x: command not found");
    expect(launchFailure("alpamon-cgroup: cannot join /cg/work/cgroup.procs\n", 125, "x")).toBe(
      "cannot place the process in the user-work cgroup (/cg/work/cgroup.procs)",
    );
    // A program's own output and exit status are not a launch failure.
    expect(launchFailure("hello\n", 127, "x")).toBeUndefined();
    expect(launchFailure("alpamon-exec: 8: exec: nope: not found\n", 1, "nope")).toBeUndefined();
  });
});

describe.if(isRoot)("launching as a user (root only)", () => {
  const TRICKY = {
    PATH: "/usr/bin:/bin",
    IFS: "x",
    PWD: "/not/the/cwd",
    QUOTES: `it's "quoted" $HOME \`id\` $(id) \\ \\n`,
    NEWLINES: "one\ntwo\n",
    EMPTY: "",
    SPACES: "  a  b  ",
    PS4: "$(id) + ",
    BASH_ENV: "/nonexistent/bash-env",
    ENV: "/nonexistent/env",
  };
  const shells = ["/bin/sh", "/bin/dash", "/bin/bash"].filter((sh) => existsSync(sh));

  for (const shell of shells) {
    test(`the program gets exactly the command's environment (${shell} as the importing shell)`, async () => {
      const id = await identity();
      const plan = planLaunch({ argv: ["env", "-0"], identity: id, env: TRICKY, agentUid: 0, shell, workProcs: undefined });
      if ("error" in plan) throw new Error(plan.error);
      const r = Bun.spawnSync(plan.argv, { env: plan.env, cwd: "/", stderr: "pipe" });
      expect(r.stderr.toString()).toBe("");
      const got = parseEnv0(r.stdout.toString());
      // bash cannot exec without exporting SHLVL; nothing else may differ.
      if (shell === "/bin/bash" && got.SHLVL === "0") delete got.SHLVL;
      expect(got).toEqual(TRICKY);
    });
  }

  test("the root side never sees the command's environment: setpriv's environ is the fixed one", async () => {
    const dir = tempDir();
    const dump = join(dir, "setpriv-environ");
    const spy = join(dir, "setpriv-spy");
    writeFileSync(spy, `#!/bin/sh\ncat /proc/$$/environ > '${dump}'\nexec /usr/bin/setpriv "$@"\n`);
    chmodSync(spy, 0o755);
    const id = await identity();
    const plan = planLaunch({
      argv: ["true"],
      identity: id,
      env: { ...userEnvironment(id), GREETING: "hello" },
      agentUid: 0,
      setpriv: spy,
      workProcs: undefined,
    });
    if ("error" in plan) throw new Error(plan.error);
    expect(Bun.spawnSync(plan.argv, { env: plan.env }).exitCode).toBe(0);
    const seen = parseEnv0(readFileSync(dump, "utf8"));
    const real = Object.keys(seen).filter((k) => !k.startsWith(CARRIED_PREFIX));
    expect(real.sort()).toEqual(Object.keys(LAUNCH_ENV).sort());
    expect(seen[`${CARRIED_PREFIX}GREETING`]).toBe("hello");
  });

  test("runProcess refuses LD_PRELOAD and GCONV_PATH as a user: nothing runs, not even as the user", async () => {
    const marks = buildMarkerLibrary(tempDir());
    // The detector works: loaded by root directly, the constructor records uid 0.
    expect(Bun.spawnSync(["/bin/true"], { env: { LD_PRELOAD: marks.lib } }).exitCode).toBe(0);
    expect(marks.uids()).toEqual([0]);
    writeFileSync(marks.marker, "");

    const id = await identity();
    for (const key of ["LD_PRELOAD", "LD_AUDIT"]) {
      const r = await runProcess({ argv: ["true"], identity: id, env: { ...userEnvironment(id), [key]: marks.lib } });
      expect(r.startError).toBe(`env: key "${key}" is not allowed (dynamic loader variables are refused)`);
    }
    const gconv = await runProcess({ argv: ["true"], identity: id, env: { ...userEnvironment(id), GCONV_PATH: tempDir() } });
    expect(gconv.startError).toContain('"GCONV_PATH" is not allowed');
    expect(marks.uids()).toEqual([]);
  });

  test("a missing program, a non-executable file and a failed cgroup join are start errors", async () => {
    const id = await identity();
    const env = userEnvironment(id);
    expect((await runProcess({ argv: ["no-such-program-z"], identity: id, env })).startError).toBe("no-such-program-z: command not found");
    expect((await runProcess({ argv: ["/etc/passwd"], identity: id, env })).startError).toBe("/etc/passwd: Permission denied");
    const plan = planLaunch({ argv: ["true"], identity: id, env, agentUid: 0, workProcs: "/proc/no-such-cgroup/cgroup.procs" });
    if ("error" in plan) throw new Error(plan.error);
    const r = Bun.spawnSync(plan.argv, { env: plan.env, stderr: "pipe" });
    expect(r.exitCode).toBe(125);
    expect(launchFailure(r.stderr.toString(), r.exitCode, "true")).toBe(
      "cannot place the process in the user-work cgroup (/proc/no-such-cgroup/cgroup.procs)",
    );
  });
});
