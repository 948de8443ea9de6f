// The launch core's shared start and stop: the working directory rule, the launch as the leader of its own
// session and process group, and the kill escalation (the polite signal, SIGKILL after the grace period).
import { describe, expect, test } from "bun:test";
import { mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { escalateKill, GroupStopper, launchCwd, spawnLaunch } from "../../src/exec/launch.ts";
import type { Identity } from "../../src/exec/types.ts";
import { useTempDirs } from "../helpers/tmp.ts";

const tempDir = useTempDirs("alpamon-launch-stop-");
const someone = (home: string): Identity => ({ user: "someone", uid: 4242, gid: 4242, home, shell: "/bin/sh" });

/** Fields after the parenthesised command in /proc/<pid>/stat: state ppid pgrp session … */
function statOf(pid: number): string[] {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  return stat.slice(stat.lastIndexOf(")") + 2).split(" ");
}

describe("launchCwd", () => {
  test("the directory asked for, else an existing home, else /; a missing one is an error", () => {
    const home = join(tempDir(), "home");
    mkdirSync(home);
    expect(launchCwd(someone(home))).toEqual({ cwd: home });
    expect(launchCwd(someone(join(home, "missing")))).toEqual({ cwd: "/" });
    expect(launchCwd(undefined)).toEqual({ cwd: "/" });
    expect(launchCwd(someone(home), "/tmp")).toEqual({ cwd: "/tmp" });
    expect(launchCwd(undefined, "/no/such/dir")).toEqual({ error: "working directory /no/such/dir does not exist" });
  });
});

describe("escalateKill", () => {
  test("the polite signal first, SIGKILL after the grace period when something is left", async () => {
    const sent: string[] = [];
    const started = performance.now();
    await escalateKill((s) => sent.push(s), { graceMs: 120, gone: () => false });
    expect(sent).toEqual(["SIGTERM", "SIGKILL"]);
    expect(performance.now() - started).toBeGreaterThanOrEqual(110);
  });

  test("no SIGKILL once the target is gone; the first signal can be another one", async () => {
    const sent: string[] = [];
    let gone = false;
    const done = escalateKill((s) => sent.push(s), { first: "SIGHUP", graceMs: 5_000, gone: () => gone });
    await Bun.sleep(60);
    gone = true;
    await done;
    expect(sent).toEqual(["SIGHUP"]);
  });
});

describe("spawnLaunch and GroupStopper", () => {
  test("a launch on pipes leads its own session and group; a stop that is ignored ends in SIGKILL for the group", async () => {
    const plan = { argv: ["/bin/sh", "-c", "trap '' TERM; sleep 30 & wait"], env: { PATH: "/usr/bin:/bin" } };
    const proc = spawnLaunch(plan, "/", { stdin: "ignore", stdout: "ignore", stderr: "ignore" });
    const [, , pgrp, session] = statOf(proc.pid);
    expect(Number(pgrp)).toBe(proc.pid);
    expect(Number(session)).toBe(proc.pid);
    const stopper = new GroupStopper(proc.pid, 150);
    await Bun.sleep(50);
    stopper.stop();
    stopper.stop(); // SIGTERM again, one escalation
    await proc.exited;
    expect(proc.signalCode).toBe("SIGKILL");
  });

  test("a launch that exits on SIGTERM is settled and gets no SIGKILL", async () => {
    const proc = spawnLaunch({ argv: ["sleep", "30"], env: { PATH: "/usr/bin:/bin" } }, "/", {
      stdin: "ignore",
      stdout: "ignore",
      stderr: "ignore",
    });
    const stopper = new GroupStopper(proc.pid, 5_000);
    stopper.stop();
    await proc.exited;
    stopper.settle();
    expect(proc.signalCode).toBe("SIGTERM");
  });
});
