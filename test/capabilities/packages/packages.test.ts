// update/upgrade and reboot/shutdown. Plans are checked as data; the parts that are safe on a CI machine run
// for real (the package queries and the "not installed" path). Rebooting or upgrading the test machine is not.
import { describe, expect, test } from "bun:test";
import { runProcess } from "../../../src/exec/run.ts";
import type { RunOptions, RunResult } from "../../../src/exec/types.ts";
import { packageCommands } from "../../../src/capabilities/packages/packages.ts";
import {
  installedVersionQuery,
  normaliseVersion,
  PACKAGE_ENV,
  packageManagerFor,
  parseInstalledVersion,
  restartTimerArgv,
  selfUpgradePlan,
  updatePlan,
} from "../../../src/capabilities/packages/plans.ts";
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
    expect(packageManagerFor("suse", only("apt-get"))).toBeUndefined();
  });

  test("the package manager is looked for in the PATH its steps run with (the searchPath seam)", () => {
    const at = (file: string) => (p: string) => p === file;
    expect(packageManagerFor("unknown", at("/opt/stand-ins/zypper"), "/opt/stand-ins:/usr/bin")).toBe("zypper");
    expect(packageManagerFor("unknown", at("/opt/stand-ins/zypper"))).toBeUndefined();
    expect(packageManagerFor("suse", at("/usr/local/sbin/zypper"))).toBe("zypper");
  });

  test("apt runs non-interactively, keeps config files and waits for the dpkg lock", () => {
    const [update, upgrade, autoremove] = updatePlan("apt");
    expect(update).toEqual(["apt-get", "-o", "DPkg::Lock::Timeout=600", "-o", "Acquire::Retries=3", "update"]);
    for (const step of [upgrade!, autoremove!]) {
      expect(step).toContain("-y");
      expect(step).toContain("Dpkg::Options::=--force-confold");
      expect(step).toContain("DPkg::Lock::Timeout=600");
    }
    expect(PACKAGE_ENV.DEBIAN_FRONTEND).toBe("noninteractive");
    expect(selfUpgradePlan("apt").at(-1)).toEqual(expect.arrayContaining(["install", "--only-upgrade", "alpamon"]));
    expect(selfUpgradePlan("apt", ["alpamon", "alpamon-pam"]).at(-1)!.slice(-3)).toEqual(["--only-upgrade", "alpamon", "alpamon-pam"]);
  });

  test("apt retries downloads 3 times on every step that downloads (#225), as upstream's table", () => {
    const retries = (argv: string[]) => argv.some((a, i) => a === "Acquire::Retries=3" && argv[i - 1] === "-o");
    const [update, upgrade, autoremove] = updatePlan("apt");
    expect([retries(update!), retries(upgrade!), retries(autoremove!)]).toEqual([true, true, false]);
    expect(selfUpgradePlan("apt").map(retries)).toEqual([true, true]);
  });

  test("zypper: refresh first, then update (dup on rolling releases); upgrade refreshes only the alias it is given", () => {
    expect(updatePlan("zypper")).toEqual([
      ["zypper", "--non-interactive", "refresh"],
      ["zypper", "--non-interactive", "update"],
    ]);
    expect(updatePlan("zypper", "dup").at(-1)).toEqual(["zypper", "--non-interactive", "dup"]);
    expect(selfUpgradePlan("zypper", ["alpamon", "alpamon-pam"], "alpamon")).toEqual([
      ["zypper", "--non-interactive", "refresh", "alpamon"],
      ["zypper", "--non-interactive", "update", "alpamon", "alpamon-pam"],
    ]);
    expect(selfUpgradePlan("zypper")[0]).toEqual(["zypper", "--non-interactive", "refresh"]);
  });

  test("installed versions: dpkg's removed-but-configured state and rpm's 'not installed' count as not installed", () => {
    expect(parseInstalledVersion("apt", 0, "install ok installed\t1:1.2.3-1")).toBe("1:1.2.3-1");
    expect(parseInstalledVersion("apt", 0, "hold ok installed\t1.2.3")).toBe("1.2.3");
    expect(parseInstalledVersion("apt", 0, "deinstall ok config-files\t1.2.3")).toBeUndefined();
    expect(parseInstalledVersion("apt", 0, "install ok half-installed\t1.2.3")).toBeUndefined();
    expect(parseInstalledVersion("apt", 1, "")).toBeUndefined();
    expect(parseInstalledVersion("zypper", 0, "1.2.3-1.1\n")).toBe("1.2.3-1.1");
    expect(parseInstalledVersion("dnf", 1, "package alpamon is not installed\n")).toBeUndefined();
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

/** A package's installed version as dpkg reports it, or undefined (not installed, or no dpkg at all). */
function dpkgVersion(pkg: string): string | undefined {
  try {
    const r = Bun.spawnSync(installedVersionQuery("apt", pkg), { env: PACKAGE_ENV, stdout: "pipe", stderr: "pipe" });
    return parseInstalledVersion("apt", r.exitCode ?? 1, r.stdout.toString());
  } catch {
    return undefined; // dpkg-query is not installed
  }
}
const installedHere = dpkgVersion("alpamon");
const pamHere = dpkgVersion("alpamon-pam");
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
      const pam = pamHere ? normaliseVersion(pamHere) : "not installed";
      expect(r).toEqual({ exitCode: 0, result: `Already up-to-date (alpamon: ${normaliseVersion(installedHere!)}, pam: ${pam})` });
      const packages = pamHere ? ["alpamon", "alpamon-pam"] : ["alpamon"];
      expect(ran).toEqual([
        installedVersionQuery("apt"),
        installedVersionQuery("apt", "alpamon-pam"),
        ...selfUpgradePlan("apt", packages),
        ...packages.map((p) => installedVersionQuery("apt", p)),
      ]);
    },
  );
});

/** A recording runner answering dpkg-query from `versions` (per package, consumed in order) and success otherwise. */
function fakeDpkg(versions: Record<string, string[]>) {
  const ran: string[][] = [];
  const runner = async (o: RunOptions): Promise<RunResult> => {
    ran.push(o.argv);
    if (o.argv[0] !== "dpkg-query") return ok0();
    const next = versions[o.argv.at(-1)!]?.shift();
    return next ? ok0(`install ok installed\t${next}`) : { ...ok0(), exitCode: 1 };
  };
  return { ran, runner };
}

describe("upgrade's replies (recorded runner)", () => {
  test("a version that changes across the upgrade schedules the restart and names both versions", async () => {
    const { ran, runner } = fakeDpkg({ alpamon: ["1:0.1.0-1", "1:0.2.0-1"] });
    const { upgrade } = runnable(
      packageCommands({
        runProcess: runner,
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
    expect(ran).toEqual([
      installedVersionQuery("apt"),
      installedVersionQuery("apt", "alpamon-pam"),
      ...selfUpgradePlan("apt"),
      installedVersionQuery("apt"),
      restartTimerArgv(7),
    ]);
  });

  test("alpamon-pam, when installed, is upgraded with alpamon; alone it needs no agent restart", async () => {
    const { ran, runner } = fakeDpkg({ alpamon: ["1.0.0-1", "1.0.0-1"], "alpamon-pam": ["0.1.0-1", "0.2.0-1"] });
    const { upgrade } = runnable(
      packageCommands({
        runProcess: runner,
        family: () => "debian",
        version: "1.0.0",
        log: silentLogger,
        now: () => 7,
        hasSystemd: () => true,
      }),
    );
    const r = await upgrade!.run(ctx("upgrade"));
    expect(r).toEqual({ exitCode: 0, result: "\nUpgraded alpamon-pam 0.1.0 → 0.2.0." });
    expect(ran).toContainEqual(selfUpgradePlan("apt", ["alpamon", "alpamon-pam"]).at(-1)!);
    expect(ran).not.toContainEqual(restartTimerArgv(7));
  });

  test("nothing moved: Already up-to-date with both versions, or pam: not installed", async () => {
    const cases: [Record<string, string[]>, string][] = [
      [{ alpamon: ["1:1.2.3-1", "1:1.2.3-1"], "alpamon-pam": ["0.4.0-2", "0.4.0-2"] }, "Already up-to-date (alpamon: 1.2.3, pam: 0.4.0)"],
      [{ alpamon: ["1.2.3-1", "1.2.3-1"] }, "Already up-to-date (alpamon: 1.2.3, pam: not installed)"],
    ];
    for (const [versions, reply] of cases) {
      const { runner } = fakeDpkg(versions);
      const { upgrade } = runnable(
        packageCommands({
          runProcess: runner,
          family: () => "debian",
          version: "1.2.3",
          log: silentLogger,
          now: () => 7,
          hasSystemd: () => true,
        }),
      );
      expect(await upgrade!.run(ctx("upgrade"))).toEqual({ exitCode: 0, result: reply });
    }
  });

  test("no package manager: the unsupported-platform reply names the platform, and nothing runs", async () => {
    for (const [family, platformId, like] of [
      ["unknown", "arch", "arch"],
      ["suse", "sles", "suse"],
    ] as const) {
      const { ran, runner } = fakeDpkg({});
      const commands = runnable(
        packageCommands({
          runProcess: runner,
          family: () => family,
          platformId: () => platformId,
          version: "0.1.0",
          log: silentLogger,
          now: () => 1,
          packageManager: () => undefined,
        }),
      );
      for (const [name, command] of Object.entries(commands)) {
        expect(await command.run(ctx(name))).toEqual({ exitCode: 1, result: `Platform '${like}' (package manager "none") not supported.` });
      }
      expect(ran).toEqual([]);
    }
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
