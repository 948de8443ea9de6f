// exec/: real processes, a real throwaway user and group, real process groups.
import { useTestUser } from "../helpers/users.ts";
import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { lookupGroup, lookupUser, resolveIdentity, userEnvironment, userGroupIds } from "../../src/exec/identity.ts";
import { runProcess } from "../../src/exec/run.ts";
import type { Identity } from "../../src/exec/types.ts";
import { eventually } from "../console/fake-console-waits.ts";

const isRoot = process.getuid?.() === 0;
const suffix = Math.random().toString(36).slice(2, 8);
const { user: USER, extraGroup: EXTRA } = useTestUser("alpx");

const ENV = { PATH: "/usr/bin:/bin", LANG: "C.UTF-8" };

describe("runProcess as the agent", () => {
  test("stdout and stderr merged in order; exact env; stdin is /dev/null; exit code kept", async () => {
    process.env.ALPAMON_TEST_LEAK = "leaked";
    const r = await runProcess({ argv: ["sh", "-c", "echo 1; echo 2 >&2; echo 3; env; cat; exit 7"], env: { ...ENV, ONLY: "this" } });
    expect(r.exitCode).toBe(7);
    expect(r.output.startsWith("1\n2\n3\n")).toBe(true);
    expect(r.output).toContain("ONLY=this");
    expect(r.output).not.toContain("ALPAMON_TEST_LEAK");
    delete process.env.ALPAMON_TEST_LEAK;
  });

  test("leaves nothing pending once it returns: a short-lived program that used it exits at once", async () => {
    // The drain window after the child's exit was a 1 s sleep nobody cancelled, which kept the inventory helper
    // alive for a second after its work. The child process measures from the return to its own exit.
    const script = `
      const { runProcess } = await import(${JSON.stringify(join(import.meta.dir, "../../src/exec/run.ts"))});
      const r = await runProcess({ argv: ["sh", "-c", "echo done"], env: { PATH: "/usr/bin:/bin" }, timeoutMs: 30000 });
      const returned = performance.now();
      process.on("exit", () => process.stdout.write(r.output.trim() + " " + Math.round(performance.now() - returned) + "\\n"));
    `;
    const child = Bun.spawn([process.execPath, "-e", script], { stdout: "pipe", stderr: "inherit", env: { PATH: "/usr/bin:/bin" } });
    const out = await new Response(child.stdout).text();
    expect(await child.exited).toBe(0);
    const [word, ms] = out.trim().split(" ");
    expect(word).toBe("done");
    expect(Number(ms)).toBeLessThan(500); // with the pending sleep: 1,000 ms or more
  });

  test("a missing program and a missing working directory are start errors", async () => {
    expect((await runProcess({ argv: ["no-such-program-x"], env: ENV })).startError).toBe("no-such-program-x: command not found");
    expect((await runProcess({ argv: ["true"], env: ENV, cwd: "/nonexistent/dir" })).startError).toBe(
      "working directory /nonexistent/dir does not exist",
    );
  });

  test("output beyond the cap is counted, not kept, and memory stays bounded", async () => {
    const before = process.memoryUsage().rss;
    const r = await runProcess({ argv: ["head", "-c", "20000000", "/dev/zero"], env: ENV, maxOutputBytes: 1 << 20 });
    expect(r.exitCode).toBe(0);
    expect(r.output.length).toBe(1 << 20);
    expect(r.omittedBytes).toBe(20_000_000 - (1 << 20));
    expect(process.memoryUsage().rss - before).toBeLessThan(64 * 1024 * 1024);
  });

  test("a timeout kills the whole process group, background children included", async () => {
    const started = performance.now();
    const r = await runProcess({ argv: ["sh", "-c", "sleep 300 & echo $!; sleep 301 & echo $!; echo $$; wait"], env: ENV, timeoutMs: 300 });
    expect(performance.now() - started).toBeLessThan(10_000);
    expect(r.timedOut).toBe(true);
    expect(r.exitCode).toBe(-1);
    const pids = r.output.trim().split("\n").map(Number);
    expect(pids).toHaveLength(3);
    const alive = () =>
      pids.filter((pid) => {
        try {
          return !/^\S+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, "utf8"));
        } catch {
          return false;
        }
      });
    // The whole group is signalled at the timeout; the background sleeps are reaped by init, not by us: a moment later.
    await eventually(() => alive().length === 0, 5_000, `the process group to be gone: ${pids}`);
  });

  test("an abort signal stops the process", async () => {
    const controller = new AbortController();
    const running = runProcess({ argv: ["sleep", "30"], env: ENV, signal: controller.signal });
    setTimeout(() => controller.abort(), 100); // part of the scenario: the abort comes while sleep runs
    const r = await running;
    expect(r.exitCode).toBe(-1);
    expect(r.signal).toBe("SIGTERM");
  });
});

describe.if(isRoot)("identity (root only)", () => {
  test("NSS lookups: the user, its groups, and refusal of look-alike names", async () => {
    const pw = await lookupUser(USER);
    expect(pw?.name).toBe(USER);
    expect(pw?.home).toBe(`/home/${USER}`);
    expect(await lookupUser("0")).toBeUndefined(); // a uid is not a name
    expect(await lookupUser("-x")).toBeUndefined();
    const extra = await lookupGroup(EXTRA);
    expect(extra?.members).toEqual([USER]);
    expect(await userGroupIds(USER)).toEqual(expect.arrayContaining([pw!.gid, extra!.gid]));
  });

  test("runs as the user with the requested group as gid and the user's supplementary groups, in its home", async () => {
    const resolved = await resolveIdentity(USER, EXTRA);
    if (!resolved.ok) throw new Error(resolved.error);
    const id: Identity = resolved.identity;
    const r = await runProcess({
      argv: ["sh", "-c", "id -u; id -g; id -G; pwd; echo $HOME $USER $LOGNAME $SHELL"],
      identity: id,
      env: userEnvironment(id),
    });
    const [uid, gid, groups, pwd, vars] = r.output.trim().split("\n");
    const pw = (await lookupUser(USER))!;
    const extra = (await lookupGroup(EXTRA))!;
    expect(Number(uid)).toBe(pw.uid);
    expect(Number(gid)).toBe(extra.gid);
    expect(groups!.split(" ").map(Number).sort()).toEqual([pw.gid, extra.gid].sort());
    expect(pwd).toBe(`/home/${USER}`);
    expect(vars).toBe(`/home/${USER} ${USER} ${USER} /bin/bash`);
  });

  test("unknown users, unknown groups and foreign groups are named", async () => {
    expect(await resolveIdentity(`nouser${suffix}`, null)).toEqual({
      ok: false,
      error: `there is no user "nouser${suffix}" on this server`,
    });
    expect(await resolveIdentity(USER, `nogroup${suffix}`)).toEqual({
      ok: false,
      error: `there is no group "nogroup${suffix}" on this server`,
    });
    expect(await resolveIdentity(USER, "root")).toEqual({ ok: false, error: `group "root" is not one of user "${USER}"'s groups` });
  });

  test("a missing program run as a user is a start error too", async () => {
    const resolved = await resolveIdentity(USER, null);
    if (!resolved.ok) throw new Error(resolved.error);
    const r = await runProcess({ argv: ["no-such-program-y"], identity: resolved.identity, env: userEnvironment(resolved.identity) });
    expect(r.startError).toBe("no-such-program-y: command not found");
  });

  test("with keepOutput already false (streamed output), a missing program run as a user is still a start error", async () => {
    const resolved = await resolveIdentity(USER, null);
    if (!resolved.ok) throw new Error(resolved.error);
    const seen: Uint8Array[] = [];
    const r = await runProcess({
      argv: ["no-such-program-z"],
      identity: resolved.identity,
      env: userEnvironment(resolved.identity),
      onOutput: (b) => void seen.push(b),
      keepOutput: () => false,
    });
    expect(r.startError).toBe("no-such-program-z: command not found");
    expect(seen.length).toBeGreaterThan(0);
  });
});

describe("keepOutput", () => {
  test("once it says no, nothing more is kept and what was kept is let go; onOutput still sees every byte", async () => {
    let seen = 0;
    let asked = 0;
    const r = await runProcess({
      argv: ["head", "-c", "3000000", "/dev/zero"],
      env: ENV,
      onOutput: (b) => {
        seen += b.length;
      },
      // Kept for the first piece, then not.
      keepOutput: () => asked++ === 0,
    });
    expect(r.exitCode).toBe(0);
    expect(seen).toBe(3_000_000);
    expect(r.output).toBe("");
    expect(r.omittedBytes).toBe(3_000_000);
    expect(asked).toBe(2); // not asked again once it said no
  });

  test("while it says yes the output is kept as without it", async () => {
    const r = await runProcess({ argv: ["sh", "-c", "echo one; echo two >&2"], env: ENV, keepOutput: () => true });
    expect(r.output).toBe("one\ntwo\n");
    expect(r.omittedBytes).toBe(0);
  });
});
