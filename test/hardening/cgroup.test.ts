// Issue 16, finding 3: users' processes must not be able to take the agent's task budget. The real agent
// runs in a pids cgroup of 100 tasks (as systemd's TasksMax would give it); a user command keeps 300
// background sleeps going; the agent still answers the next command. Also: where user work lands (the
// agent-created work group, with its pids.max), and that its leftovers stay there on purpose.
import { describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, readdirSync, readFileSync, rmdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseMountinfo } from "../../src/exec/cgroup.ts";
import { useConsoleAndAgents } from "../helpers/agent.ts";
import { useTempDirs } from "../helpers/tmp.ts";
import { useTestUser } from "../helpers/users.ts";

const { user: USER, isRoot } = useTestUser("alpc");
const tempDir = useTempDirs("alpamon-cgroup-");
const { consoleOf, agentFor, cleanup } = useConsoleAndAgents();

/** A place to make a pids cgroup: v1's pids hierarchy, or v2's root when it hands pids to its children. */
function pidsParent(): { dir: string; version: 1 | 2 } | { skip: string } {
  if (!isRoot) return { skip: "not root" };
  const mounts = parseMountinfo(readFileSync("/proc/self/mountinfo", "utf8"));
  const v1 = mounts.find((m) => m.fsType === "cgroup" && m.superOptions.includes("pids") && m.root === "/");
  if (v1) return { dir: v1.mountPoint, version: 1 };
  const v2 = mounts.find((m) => m.fsType === "cgroup2" && m.root === "/");
  if (v2 && readFileSync(join(v2.mountPoint, "cgroup.subtree_control"), "utf8").split(/\s+/).includes("pids"))
    return { dir: v2.mountPoint, version: 2 };
  return { skip: "no writable pids cgroup hierarchy (neither a v1 pids mount nor v2 with +pids at its root)" };
}

const parent = pidsParent();
if ("skip" in parent) console.warn(`test/hardening/cgroup.test.ts skipped: ${parent.skip}`);

function pidsIn(dir: string): number[] {
  const text = existsSync(join(dir, "cgroup.procs")) ? readFileSync(join(dir, "cgroup.procs"), "utf8") : "";
  return text.split("\n").filter(Boolean).map(Number);
}

function subgroups(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true })
    .filter((e) => e.isDirectory())
    .map((e) => join(dir, e.name));
}

/** Every pid in the cgroup and below. */
function pidsBelow(dir: string): number[] {
  return [...pidsIn(dir), ...subgroups(dir).flatMap(pidsBelow)];
}

/** Whether a fork failed on a pids limit anywhere in the sub-tree (pids.events "max N"). */
function limitHitBelow(dir: string): boolean {
  const events = existsSync(join(dir, "pids.events")) ? readFileSync(join(dir, "pids.events"), "utf8") : "";
  return /^max [1-9]/m.test(events) || subgroups(dir).some(limitHitBelow);
}

/** Kills everything in the cgroup sub-tree, waits for it to empty, removes it depth-first. */
async function removeCgroup(dir: string): Promise<void> {
  if (!existsSync(dir)) return;
  for (let round = 0; round < 100; round++) {
    const pids = pidsBelow(dir);
    if (pids.length === 0) break;
    for (const pid of pids) {
      try {
        process.kill(pid, "SIGKILL");
      } catch {
        // gone
      }
    }
    await Bun.sleep(50);
  }
  const remove = (d: string) => {
    subgroups(d).forEach(remove);
    rmdirSync(d);
  };
  remove(dir);
}

function makeCgroup(pidsMax: number): string {
  if ("skip" in parent) throw new Error(parent.skip);
  const dir = join(parent.dir, `alpamon-test-${process.pid}-${Math.random().toString(36).slice(2, 8)}`);
  mkdirSync(dir);
  cleanup(() => removeCgroup(dir));
  writeFileSync(join(dir, "pids.max"), String(pidsMax));
  return dir;
}

describe.skipIf("skip" in parent)("user work cannot take the agent's tasks (root, a pids cgroup)", () => {
  test("300 background processes of a user command in a 100-task budget: the next command still gets its fin", async () => {
    const group = makeCgroup(100);
    const fake = await consoleOf();
    const agent = agentFor(fake, tempDir(), { cgroupProcs: join(group, "cgroup.procs") });
    await fake.waitForBackhaul(30_000);

    // 300 background sleeps, kept at whatever limit applies (xargs waits and retries when a fork fails), so
    // the budget stays full instead of the user's shell dying on the first failed fork and freeing a task.
    const flood = "yes 60 | head -n 300 | xargs -n 1 -P 300 sleep";
    fake.sendFrame({
      query: "command",
      command: { id: `flood-${crypto.randomUUID()}`, shell: "system", line: flood, user: USER, group: "", allow_sh: true },
    });
    const deadline = Date.now() + 30_000;
    while (!limitHitBelow(group)) {
      if (Date.now() > deadline) throw new Error("the flood never reached a pids limit");
      await Bun.sleep(50);
    }
    await Bun.sleep(500); // the scenario: the budget stays full for a while before the next command comes
    const next = fake.sendCommand({ shell: "system", line: "echo second", user: USER });
    const fin = await fake.waitForFin(next, 60_000);
    expect(fin).toMatchObject({ success: true, result: "second\n" });
    const ping = fake.sendCommand({ shell: "internal", line: "ping" });
    expect((await fake.waitForFin(ping, 30_000)).success).toBe(true);
    expect(agent.proc.exitCode).toBeNull();
    expect(agent.log).not.toMatch(/panic|abort\(\)/);

    // The user's processes are at their limit, in the work group the agent made below its own.
    const work = subgroups(group).find((d) => pidsIn(d).length > 0 && !pidsIn(d).includes(agent.pid));
    expect(work).toBeDefined();
    const limit = Number(readFileSync(join(work!, "pids.max"), "utf8"));
    expect(limit).toBe(36); // 100 minus the agent's reserve of max(64, 25%)
    expect(pidsBelow(work!).length).toBeGreaterThanOrEqual(limit - 2);
  }, 180_000);

  test("a command's leftover background process stays, on purpose, in the work group; the agent does not", async () => {
    const group = makeCgroup(1000);
    const fake = await consoleOf();
    const agent = agentFor(fake, tempDir(), { cgroupProcs: join(group, "cgroup.procs") });
    await fake.waitForBackhaul(30_000);
    await agent.waitForLog(/user processes run in their own cgroup/, 15_000);
    const id = `leftover-${crypto.randomUUID()}`;
    fake.sendFrame({
      query: "command",
      command: { id, shell: "system", line: "nohup sleep 120 >/dev/null 2>&1 & echo $!", user: USER, group: "", allow_sh: true },
    });
    const fin = await fake.waitForFin(id, 60_000);
    expect(fin.success).toBe(true);
    const leftover = Number(fin.result.trim());
    // The command has its fin; its background process lives on, on purpose, in the work group.
    const cgroupOf = (pid: number) => readFileSync(`/proc/${pid}/cgroup`, "utf8");
    expect(cgroupOf(leftover)).toMatch(/\/alpamon-work$|\/work$/m);
    expect(cgroupOf(agent.pid)).not.toMatch(/alpamon-work|\/work$/m);
    const workDir = join(group, "version" in parent && parent.version === 1 ? "alpamon-work" : "work");
    expect(Number(readFileSync(join(workDir, "pids.max"), "utf8"))).toBe(1000 - 250);
  }, 120_000);
});
