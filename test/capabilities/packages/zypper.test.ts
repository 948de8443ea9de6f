// zypper for `update` and `upgrade` (upstream-2026 §7.2). The decisions (alias, exit codes, hints, the note)
// are pure and checked as such; the command runs for real through exec/ against stand-in zypper and rpm
// executables first on PATH (this host has no zypper, and a real one must never be upgraded by a test).
import { describe, expect, test } from "bun:test";
import { packageCommands } from "../../../src/capabilities/packages/packages.ts";
import {
  alpamonRepoAlias,
  appendParagraph,
  unmovedNote,
  withZypperHint,
  ZYPPER_LOCK_DELAY_MS,
  zypperHint,
  zypperSucceeded,
  zypperSystemVerb,
} from "../../../src/capabilities/packages/zypper.ts";
import type { CommandContext } from "../../../src/commands/contract.ts";
import { runProcess } from "../../../src/exec/run.ts";
import { silentLogger } from "../../../src/log/logger.ts";
import { runnable } from "../../helpers/commands.ts";
import { type StandIns, withStandIns } from "./stand-ins.ts";

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

const OSS_REPO = `[repo-oss]
name=Main Repository
enabled=1
autorefresh=1
baseurl=http://download.opensuse.org/distribution/leap/15.5/repo/oss/
type=rpm-md
`;
const alpamonRepo = (alias: string, enabled = 1) => `[${alias}]
name=alpamon
enabled=${enabled}
autorefresh=1
baseurl=https://packagecloud.io/alpacax/alpamon/rpm_any/rpm_any/$basearch
type=rpm-md
gpgcheck=0
`;

describe("zypper decisions", () => {
  test("the refresh is scoped to the enabled repository that mentions packagecloud.io/alpacax/alpamon", () => {
    expect(alpamonRepoAlias(`${OSS_REPO}\n${alpamonRepo("alpacax_alpamon")}`)).toBe("alpacax_alpamon");
    expect(alpamonRepoAlias(`${alpamonRepo("first")}\n${OSS_REPO}`)).toBe("first");
    expect(alpamonRepoAlias(`${alpamonRepo("off", 0)}\n${OSS_REPO}`)).toBeUndefined();
    expect(alpamonRepoAlias(`${alpamonRepo("off", 0)}\n${alpamonRepo("on")}`)).toBe("on");
    expect(alpamonRepoAlias("[x]\ngpgkey=https://PackageCloud.io/alpacax/alpamon/gpgkey\n")).toBe("x");
    expect(alpamonRepoAlias(OSS_REPO)).toBeUndefined();
    expect(alpamonRepoAlias("")).toBeUndefined();
    // An alias zypper would read as an option is never put on its command line.
    expect(alpamonRepoAlias(alpamonRepo("--gpg-auto-import-keys"))).toBeUndefined();
  });

  test("0, 102 and 103 are success; 106 only for upgrade after a scoped refresh", () => {
    const upgradeScoped = { upgrade: true, scopedRefresh: true };
    const upgradeUnscoped = { upgrade: true, scopedRefresh: false };
    const update = { upgrade: false, scopedRefresh: false };
    for (const run of [upgradeScoped, upgradeUnscoped, update]) {
      for (const code of [0, 102, 103]) expect(zypperSucceeded(code, run)).toBe(true);
      for (const code of [1, 4, 6, 7, 8, 104, 105]) expect(zypperSucceeded(code, run)).toBe(false);
    }
    expect(zypperSucceeded(106, upgradeScoped)).toBe(true);
    expect(zypperSucceeded(106, upgradeUnscoped)).toBe(false);
    expect(zypperSucceeded(106, update)).toBe(false);
    expect(zypperSucceeded(106, { upgrade: false, scopedRefresh: true })).toBe(false);
  });

  test("exits 4, 6, 7, 104 and 106 have an operator hint, appended after a blank line; others are left alone", () => {
    for (const code of [4, 6, 7, 104, 106]) {
      expect(zypperHint(code)).toStartWith(`Hint: `);
      expect(zypperHint(code)).toContain(`(exit ${code})`);
      expect(withZypperHint("zypper said no\n", code)).toBe(`zypper said no\n\n${zypperHint(code)}`);
    }
    for (const code of [0, 1, 3, 5, 8, 102, 103, 105]) {
      expect(zypperHint(code)).toBeUndefined();
      expect(withZypperHint("out\n", code)).toBe("out\n");
    }
    expect(withZypperHint("", 7)).toBe(zypperHint(7)!);
    expect(appendParagraph("a\n\n\n", "b")).toBe("a\n\nb");
  });

  test("the note names each package that did not move and its version", () => {
    expect(unmovedNote([])).toBeUndefined();
    expect(
      unmovedNote([
        { name: "alpamon", version: "1.0.0-1.1" },
        { name: "alpamon-pam", version: "0.2.0-1" },
      ]),
    ).toBe(
      "zypper exited 0 but alpamon (still 1.0.0-1.1), alpamon-pam (still 0.2.0-1) did not move. The repository may not " +
        "carry a newer build yet, or its vendor changed: solver.allowVendorChange is off by default, and zypper then " +
        "declines the upgrade without failing.",
    );
  });

  test("rolling releases update with dup", () => {
    expect(zypperSystemVerb("opensuse-tumbleweed")).toBe("dup");
    expect(zypperSystemVerb("opensuse-slowroll")).toBe("dup");
    expect(zypperSystemVerb("opensuse-leap")).toBe("update");
    expect(zypperSystemVerb("sles")).toBe("update");
  });
});

/** The package commands on a SUSE host whose tools are the stand-ins; waits are recorded, not slept. */
function suseCommands(stand: StandIns, platformId = "opensuse-leap") {
  const delays: number[] = [];
  const commands = runnable(
    packageCommands({
      runProcess,
      family: () => "suse",
      platformId: () => platformId,
      version: "1.0.0",
      log: silentLogger,
      now: () => 1,
      hasSystemd: () => false,
      searchPath: stand.searchPath,
      sleep: async (ms) => {
        delays.push(ms);
      },
    }),
  );
  return { upgrade: commands.upgrade!, update: commands.update!, delays };
}

const RPM_Q = (pkg: string) => `rpm -q --qf %{VERSION}-%{RELEASE} ${pkg}`;
const LR = "zypper --non-interactive lr --export -";

describe("zypper through the real runner (stand-in zypper and rpm first on PATH)", () => {
  test("upgrade: scoped refresh, the held lock retried 15 s apart, then the update; the new version is named", async () => {
    await withStandIns(async (stand) => {
      stand.output("zypper", `${OSS_REPO}\n${alpamonRepo("alpamon")}`);
      stand.exits("zypper", [0, 7, 7, 0, 0]); // lr, refresh (locked twice), refresh, update
      stand.installed("alpamon", "1.0.0-1.1");
      stand.upgradesTo("alpamon", "1.1.0-1.1");
      const { upgrade, delays } = suseCommands(stand);
      const r = await upgrade.run(ctx("upgrade"));
      expect(stand.calls()).toEqual([
        RPM_Q("alpamon"),
        RPM_Q("alpamon-pam"),
        LR,
        "zypper --non-interactive refresh alpamon",
        "zypper --non-interactive refresh alpamon",
        "zypper --non-interactive refresh alpamon",
        "zypper --non-interactive update alpamon",
        RPM_Q("alpamon"),
      ]);
      expect(delays).toEqual([ZYPPER_LOCK_DELAY_MS, ZYPPER_LOCK_DELAY_MS]);
      expect(ZYPPER_LOCK_DELAY_MS).toBe(15_000);
      expect(r.exitCode).toBe(0);
      expect(r.result).toContain("[alpamon: zypper is locked by another process (exit 7); attempt 2 of 3 in 15 s]");
      expect(r.result).toContain("[alpamon: zypper is locked by another process (exit 7); attempt 3 of 3 in 15 s]");
      expect(r.result).toEndWith("Upgraded alpamon 1.0.0 → 1.1.0; no systemd found: restart alpamon to use it.");
    });
  });

  test("upgrade: a lock held through all 3 attempts fails with zypper's exit code and the lock hint", async () => {
    await withStandIns(async (stand) => {
      stand.output("zypper", alpamonRepo("alpamon"));
      stand.exits("zypper", [0, 7, 7, 7, 0]);
      stand.installed("alpamon", "1.0.0-1");
      const { upgrade, delays } = suseCommands(stand);
      const r = await upgrade.run(ctx("upgrade"));
      expect(r.exitCode).toBe(7);
      expect(r.result).toEndWith(`\n\n${zypperHint(7)}`);
      expect(delays).toEqual([ZYPPER_LOCK_DELAY_MS, ZYPPER_LOCK_DELAY_MS]);
      expect(stand.calls().filter((c) => c.includes(" refresh"))).toHaveLength(3);
      expect(stand.calls().some((c) => c.includes(" update"))).toBe(false);
    });
  });

  test("upgrade: 106 after a scoped refresh is success; without the alpamon repository it fails with its hint", async () => {
    await withStandIns(async (stand) => {
      stand.output("zypper", alpamonRepo("alpamon"));
      stand.exits("zypper", [0, 0, 106]);
      stand.installed("alpamon", "1.0.0-1");
      stand.upgradesTo("alpamon", "1.1.0-1");
      const r = await suseCommands(stand).upgrade.run(ctx("upgrade"));
      expect(r.exitCode).toBe(0);
    });
    await withStandIns(async (stand) => {
      stand.output("zypper", `${OSS_REPO}\n${alpamonRepo("alpamon", 0)}`); // present but disabled: not scoped
      stand.exits("zypper", [0, 106]);
      stand.installed("alpamon", "1.0.0-1");
      const r = await suseCommands(stand).upgrade.run(ctx("upgrade"));
      expect(stand.calls()).toContain("zypper --non-interactive refresh");
      // (the stand-in prints the repository list on every call: that is the refresh's output here)
      expect(r).toEqual({ exitCode: 106, result: `${OSS_REPO}\n${alpamonRepo("alpamon", 0).trimEnd()}\n\n${zypperHint(106)}` });
    });
  });

  test("upgrade: zypper exits 0 but nothing moved: both packages are named in the note, no restart", async () => {
    await withStandIns(async (stand) => {
      stand.exits("zypper", [0, 0, 0]);
      stand.installed("alpamon", "1.0.0-1.1");
      stand.installed("alpamon-pam", "0.2.0-1");
      const r = await suseCommands(stand).upgrade.run(ctx("upgrade"));
      expect(stand.calls()).toContain("zypper --non-interactive update alpamon alpamon-pam");
      expect(r).toEqual({
        exitCode: 0,
        result: unmovedNote([
          { name: "alpamon", version: "1.0.0-1.1" },
          { name: "alpamon-pam", version: "0.2.0-1" },
        ])!,
      });
    });
  });

  test("update: refresh then update on Leap, dup on Tumbleweed; 102 counts as success, 4 fails with its hint", async () => {
    await withStandIns(async (stand) => {
      stand.exits("zypper", [0, 102]);
      const r = await suseCommands(stand, "opensuse-leap").update.run(ctx("update"));
      expect(r.exitCode).toBe(0);
      expect(stand.calls()).toEqual(["zypper --non-interactive refresh", "zypper --non-interactive update"]);
    });
    await withStandIns(async (stand) => {
      stand.exits("zypper", [7, 0, 4]);
      const { update, delays } = suseCommands(stand, "opensuse-tumbleweed");
      const r = await update.run(ctx("update"));
      expect(stand.calls()).toEqual([
        "zypper --non-interactive refresh",
        "zypper --non-interactive refresh",
        "zypper --non-interactive dup",
      ]);
      expect(delays).toEqual([ZYPPER_LOCK_DELAY_MS]);
      expect(r.exitCode).toBe(4);
      expect(r.result).toEndWith(`\n\n${zypperHint(4)}`);
    });
  });

  test("update: 106 is a failure for a system update, with its hint", async () => {
    await withStandIns(async (stand) => {
      stand.exits("zypper", [0, 106]);
      const r = await suseCommands(stand).update.run(ctx("update"));
      expect(r).toEqual({ exitCode: 106, result: zypperHint(106)! });
    });
  });

  test("a stop while waiting for the lock ends the command without another attempt", async () => {
    await withStandIns(async (stand) => {
      stand.exits("zypper", [7, 0]);
      const abort = new AbortController();
      const { update } = runnable(
        packageCommands({
          runProcess,
          family: () => "suse",
          version: "1.0.0",
          log: silentLogger,
          now: () => 1,
          searchPath: stand.searchPath,
          sleep: async () => {
            abort.abort();
            throw new Error("aborted");
          },
        }),
      );
      const r = await update!.run({ ...ctx("update"), signal: abort.signal });
      expect(r.exitCode).toBe(1);
      expect(r.result).toEndWith("[alpamon: stopped while waiting for the lock]");
      expect(stand.calls()).toEqual(["zypper --non-interactive refresh"]);
    });
  });
});
