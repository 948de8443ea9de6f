// update/upgrade and reboot/shutdown. Plans are checked as data; the parts that are safe on a CI machine run
// for real (the package queries and the "not installed" path). Rebooting or upgrading the test machine is not.
import { describe, expect, test } from "bun:test";
import { runProcess } from "../../../src/exec/run.ts";
import type { RunOptions, RunResult } from "../../../src/exec/types.ts";
import {
  installedVersionQuery,
  normaliseVersion,
  packageCommands,
  packageManagerFor,
  PACKAGE_ENV,
  restartTimerArgv,
  selfUpgradePlan,
  updatePlan,
} from "../../../src/capabilities/packages/packages.ts";
import { powerArgv, powerCommands } from "../../../src/capabilities/power/power.ts";
import type { CommandContext } from "../../../src/commands/contract.ts";
import { runnable } from "../../helpers/commands.ts";
import { silentLogger } from "../../../src/log/logger.ts";
import { ManualClock } from "../../../src/platform/clock.ts";

const ctx = (name: string): CommandContext => ({
  id: "t",
  args: [],
  line: name,
  data: {},
  user: null,
  group: null,
  env: null,
  signal: new AbortController().signal,
  log: silentLogger,
});

describe("package manager plans", () => {
  test("family and installed tools pick the manager", () => {
    const only =
      (...names: string[]) =>
      (p: string) =>
        names.some((n) => p.endsWith(`/${n}`));
    expect(packageManagerFor("debian", only("apt-get"))).toBe("apt");
    expect(packageManagerFor("rhel", only("dnf", "yum"))).toBe("dnf");
    expect(packageManagerFor("rhel", only("yum"))).toBe("yum");
    expect(packageManagerFor("suse", only("zypper"))).toBe("zypper");
    expect(packageManagerFor("unknown", only("apt-get"))).toBe("apt");
    expect(packageManagerFor("unknown", only())).toBeUndefined();
  });

  test("apt runs non-interactively, keeps config files and waits for the dpkg lock", () => {
    const [update, upgrade, autoremove] = updatePlan("apt");
    expect(update).toEqual(["apt-get", "-o", "DPkg::Lock::Timeout=600", "update"]);
    for (const step of [upgrade!, autoremove!]) {
      expect(step).toContain("-y");
      expect(step).toContain("Dpkg::Options::=--force-confold");
      expect(step).toContain("DPkg::Lock::Timeout=600");
    }
    expect(PACKAGE_ENV.DEBIAN_FRONTEND).toBe("noninteractive");
    expect(selfUpgradePlan("apt").at(-1)).toEqual(expect.arrayContaining(["install", "--only-upgrade", "alpamon"]));
    expect(updatePlan("zypper")).toEqual([["zypper", "--non-interactive", "update"]]);
  });

  test("versions compare with or without a leading v, epoch or Debian revision", () => {
    for (const v of ["1.2.3", "v1.2.3", "V1.2.3", "1:1.2.3-1", "1.2.3-1ubuntu2"]) expect(normaliseVersion(v)).toBe("1.2.3");
  });

  test("the restart after an upgrade is a transient timer outside the agent's cgroup", () => {
    expect(restartTimerArgv(5)).toEqual([
      "systemd-run",
      "--unit=alpamon-upgrade-restart-5",
      "--on-active=30",
      "--timer-property=AccuracySec=1s",
      "systemctl",
      "restart",
      "alpamon.service",
    ]);
  });
});

/** The installed alpamon package's version as dpkg reports it, or undefined (not installed, or no dpkg at all). */
function dpkgAlpamonVersion(): string | undefined {
  try {
    const r = Bun.spawnSync(installedVersionQuery("apt"), { env: PACKAGE_ENV, stdout: "pipe", stderr: "pipe" });
    return r.exitCode === 0 && r.stdout.toString().trim() ? r.stdout.toString().trim() : undefined;
  } catch {
    return undefined; // dpkg-query is not installed
  }
}
const installedHere = dpkgAlpamonVersion();
const hasDpkg = Bun.which("dpkg-query", { PATH: PACKAGE_ENV.PATH }) !== null;
const ok0 = (output = ""): RunResult => ({ exitCode: 0, output, omittedBytes: 0, timedOut: false });

describe("upgrade on this machine (real dpkg)", () => {
  // Exactly one of the next two runs, depending on whether this machine has the alpamon package.
  test.skipIf(!hasDpkg || installedHere !== undefined)(
    "alpamon not installed as a package (skipped where it is): the reply says so and nothing is upgraded",
    async () => {
      const ran: string[][] = [];
      const recording = async (o: RunOptions): Promise<RunResult> => {
        ran.push(o.argv);
        return runProcess(o);
      };
      const { upgrade } = runnable(
        packageCommands({ runProcess: recording, family: () => "debian", version: "0.1.0", log: silentLogger, now: () => 1 }),
      );
      const r = await upgrade!.run(ctx("upgrade"));
      expect(r).toEqual({
        exitCode: 1,
        result: "The alpamon package is not installed through apt; upgrade alpamon the way it was installed.",
      });
      expect(ran).toEqual([installedVersionQuery("apt")]);
    },
  );

  test.skipIf(!hasDpkg || installedHere === undefined)(
    "alpamon installed through apt (skipped where it is not): the real version is read, apt's steps follow (recorded, not run)",
    async () => {
      const ran: string[][] = [];
      // The version queries run for real; apt-get is recorded and answers success without upgrading anything.
      const recording = async (o: RunOptions): Promise<RunResult> => {
        ran.push(o.argv);
        return o.argv[0] === "dpkg-query" ? runProcess(o) : ok0();
      };
      const { upgrade } = runnable(
        packageCommands({ runProcess: recording, family: () => "debian", version: installedHere!, log: silentLogger, now: () => 1 }),
      );
      const r = await upgrade!.run(ctx("upgrade"));
      expect(r).toEqual({ exitCode: 0, result: `Alpamon is already up-to-date (version: ${normaliseVersion(installedHere!)})` });
      expect(ran).toEqual([installedVersionQuery("apt"), ...selfUpgradePlan("apt"), installedVersionQuery("apt")]);
    },
  );

  test("a version that changes across the upgrade schedules the restart and names both versions", async () => {
    const ran: string[][] = [];
    const versions = ["1:0.1.0-1", "1:0.2.0-1"];
    const record = async (o: RunOptions): Promise<RunResult> => {
      ran.push(o.argv);
      return ok0(o.argv[0] === "dpkg-query" ? versions.shift() : "");
    };
    const { upgrade } = runnable(
      packageCommands({
        runProcess: record,
        family: () => "debian",
        version: "0.1.0",
        log: silentLogger,
        now: () => 7,
        hasSystemd: () => true,
      }),
    );
    const r = await upgrade!.run(ctx("upgrade"));
    expect(r.exitCode).toBe(0);
    expect(r.result).toEndWith("Upgraded alpamon 0.1.0 → 0.2.0; alpamon will restart in 30 seconds.");
    expect(ran).toEqual([installedVersionQuery("apt"), ...selfUpgradePlan("apt"), installedVersionQuery("apt"), restartTimerArgv(7)]);
  });

  test("no package manager: a clear refusal, and nothing runs", async () => {
    const ran: string[][] = [];
    const record = async (o: RunOptions): Promise<RunResult> => {
      ran.push(o.argv);
      return { exitCode: 0, output: "", omittedBytes: 0, timedOut: false };
    };
    const commands = runnable(
      packageCommands({
        runProcess: record,
        family: () => "unknown",
        version: "0.1.0",
        log: silentLogger,
        now: () => 1,
        packageManager: () => undefined,
      }),
    );
    for (const [name, command] of Object.entries(commands)) {
      expect(await command.run(ctx(name))).toEqual({
        exitCode: 1,
        result: "Platform 'unknown' not supported: no known package manager found.",
      });
    }
    expect(ran).toEqual([]);
  });
});

describe("reboot and shutdown", () => {
  test("act now, through systemctl when systemd runs, else shutdown(8)", () => {
    expect(powerArgv("reboot", true)).toEqual(["systemctl", "reboot"]);
    expect(powerArgv("poweroff", true)).toEqual(["systemctl", "poweroff"]);
    expect(powerArgv("reboot", false)).toEqual(["shutdown", "-r", "now"]);
    expect(powerArgv("poweroff", false)).toEqual(["shutdown", "-h", "now"]);
  });

  test("reply first, act one second later (the action itself is recorded, not run)", async () => {
    const clock = new ManualClock();
    const ran: string[][] = [];
    const record = async (o: RunOptions): Promise<RunResult> => {
      ran.push(o.argv);
      return { exitCode: 0, output: "", omittedBytes: 0, timedOut: false };
    };
    const { reboot, shutdown } = runnable(
      powerCommands({ runProcess: record, clock, log: silentLogger, signal: new AbortController().signal, hasSystemd: () => true }),
    );
    expect(await reboot!.run(ctx("reboot"))).toEqual({ exitCode: 0, result: "Server will reboot in 1 second" });
    expect(await shutdown!.run(ctx("shutdown"))).toEqual({ exitCode: 0, result: "Server will shutdown in 1 second" });
    expect(ran).toEqual([]);
    await clock.advance(1000);
    await Bun.sleep(0);
    expect(ran).toEqual([
      ["systemctl", "reboot"],
      ["systemctl", "poweroff"],
    ]);
  });
});
