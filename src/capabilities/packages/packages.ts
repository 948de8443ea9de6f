// `update` (upgrade the system's packages) and `upgrade` (upgrade alpamon and alpamon-pam, then restart the agent
// through a transient systemd timer so the package manager is never killed mid-run). The steps are plans.ts's,
// zypper's answers are read by zypper.ts; every process starts through exec/ with a fixed argv. `package_proxy`
// reaches the package manager only as environment values, never in argv or a log line.
import { existsSync } from "node:fs";
import type { CommandData } from "../../console/protocol.ts";
import type { Logger } from "../../log/logger.ts";
import type { RunProcess, RunResult } from "../../exec/types.ts";
import { fail, ok, type CommandResult } from "../../commands/contract.ts";
import type { FamilyBodies } from "../../commands/lazy.ts";
import { systemClock } from "../../platform/clock.ts";
import {
  ALPAMON,
  ALPAMON_PAM,
  type Family,
  installedVersionQuery,
  normaliseVersion,
  PACKAGE_ENV,
  type PackageManager,
  packageManagerFor,
  parseInstalledVersion,
  restartTimerArgv,
  selfUpgradePlan,
  updatePlan,
  ZYPPER_REPO_LIST,
} from "./plans.ts";
import { choosePackageProxy, proxyEnvironment } from "./proxy.ts";
import {
  alpamonRepoAlias,
  appendParagraph,
  unmovedNote,
  withZypperHint,
  ZYPPER_LOCK_ATTEMPTS,
  ZYPPER_LOCK_DELAY_MS,
  ZYPPER_LOCKED,
  type ZypperRun,
  zypperSucceeded,
  zypperSystemVerb,
} from "./zypper.ts";

export interface PackageCommandDeps {
  runProcess: RunProcess;
  family: () => Family;
  version: string;
  log: Logger;
  now: () => number;
  /** The os-release ID (names an unknown platform in replies, picks `zypper dup` on Tumbleweed); default the family. */
  platformId?: () => string;
  /** The console's host, added to no_proxy when a package proxy is used. */
  consoleHost?: string;
  /** Per-step timeout; default 1 hour. */
  timeoutMs?: number;
  maxOutputBytes?: number;
  hasSystemd?: () => boolean;
  /** Which package manager to use; default from the family and what is installed in `searchPath`. */
  packageManager?: () => PackageManager | undefined;
  /**
   * The PATH every package tool runs with and where the package manager is looked for; default PACKAGE_ENV.PATH.
   * The seam for tests: a directory of stand-in executables first on it runs instead of the real tools.
   */
  searchPath?: string;
  /** Waits between attempts while zypper's lock is held; default the system clock. */
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
}

/** How a step's exit code is read: plain success is 0; zypper has its own rules, lock retries and hints. */
interface StepRules {
  succeeded(exitCode: number): boolean;
  /** The exit code of a held lock, retried ZYPPER_LOCK_ATTEMPTS times in all. */
  lockedCode?: number;
  explain?(output: string, exitCode: number): string;
}

const PLAIN: StepRules = { succeeded: (code) => code === 0 };
const zypperRules = (run: ZypperRun): StepRules => ({
  succeeded: (code) => zypperSucceeded(code, run),
  lockedCode: ZYPPER_LOCKED,
  explain: withZypperHint,
});

/** The bodies of the commands packages/index.ts declares, keyed by name. */
export function packageCommands(deps: PackageCommandDeps): FamilyBodies {
  const timeoutMs = deps.timeoutMs ?? 60 * 60 * 1000;
  const maxOutputBytes = deps.maxOutputBytes ?? 8 * 1024 * 1024;
  const hasSystemd = deps.hasSystemd ?? (() => existsSync("/run/systemd/system"));
  const baseEnv: Record<string, string> = { ...PACKAGE_ENV, PATH: deps.searchPath ?? PACKAGE_ENV.PATH };
  const managerFor = deps.packageManager ?? (() => packageManagerFor(deps.family(), existsSync, baseEnv.PATH));
  const sleep = deps.sleep ?? systemClock.sleep;
  const platformLike = () => {
    const family = deps.family();
    return family !== "unknown" ? family : (deps.platformId?.() ?? family);
  };
  const unsupported = () => fail(`Platform '${platformLike()}' (package manager "none") not supported.`);
  const run = (argv: string[], env: Record<string, string> = baseEnv, signal?: AbortSignal): Promise<RunResult> =>
    deps.runProcess({ argv, env, timeoutMs, maxOutputBytes, ...(signal ? { signal } : {}) });

  async function runSteps(steps: string[][], env: Record<string, string>, rules: StepRules, signal: AbortSignal): Promise<CommandResult> {
    let output = "";
    for (const argv of steps) {
      for (let attempt = 1; ; attempt++) {
        const r = await run(argv, env, signal);
        if (r.startError) return { exitCode: 1, result: `${output}${r.startError}` };
        output += r.output + (r.omittedBytes ? `\n[alpamon: output truncated, ${r.omittedBytes} bytes omitted]\n` : "");
        if (r.timedOut) return { exitCode: 1, result: `${output}\n[alpamon: ${argv[0]} timed out after ${timeoutMs / 1000} s]` };
        if (rules.succeeded(r.exitCode)) break;
        if (r.exitCode === rules.lockedCode && attempt < ZYPPER_LOCK_ATTEMPTS) {
          output += `\n[alpamon: ${argv[0]} is locked by another process (exit ${r.exitCode}); attempt ${attempt + 1} of ${ZYPPER_LOCK_ATTEMPTS} in ${ZYPPER_LOCK_DELAY_MS / 1000} s]\n`;
          try {
            await sleep(ZYPPER_LOCK_DELAY_MS, signal);
          } catch {
            return { exitCode: 1, result: `${output}[alpamon: stopped while waiting for the lock]` };
          }
          continue;
        }
        const exitCode = r.exitCode === -1 ? 1 : r.exitCode;
        return { exitCode, result: rules.explain ? rules.explain(output, r.exitCode) : output };
      }
    }
    return { exitCode: 0, result: output };
  }

  async function installedVersion(pm: PackageManager, pkg: string): Promise<string | undefined> {
    const r = await run(installedVersionQuery(pm, pkg));
    return parseInstalledVersion(pm, r.exitCode, r.output);
  }

  /** The environment of the package manager for `upgrade`: the proxy's variables when `package_proxy` is valid. */
  function upgradeEnvironment(data: CommandData): Record<string, string> {
    const proxy = choosePackageProxy(data.package_proxy);
    if (proxy.kind === "ignored") deps.log.warn("package_proxy ignored", { reason: proxy.reason });
    return proxy.kind === "proxy" ? { ...baseEnv, ...proxyEnvironment(proxy.url, deps.consoleHost) } : baseEnv;
  }

  /** The steps and rules of `upgrade`; for zypper, the refresh is scoped to alpamon's repository when it is found. */
  async function upgradeSteps(pm: PackageManager, packages: string[], env: Record<string, string>) {
    if (pm !== "zypper") return { steps: selfUpgradePlan(pm, packages), rules: PLAIN };
    const repos = await run(ZYPPER_REPO_LIST, env);
    const alias = repos.exitCode === 0 ? alpamonRepoAlias(repos.output) : undefined;
    return { steps: selfUpgradePlan(pm, packages, alias), rules: zypperRules({ upgrade: true, scopedRefresh: alias !== undefined }) };
  }

  return {
    update: {
      run: async (_data, ctx) => {
        const pm = managerFor();
        if (!pm) return unsupported();
        if (pm !== "zypper") return runSteps(updatePlan(pm), baseEnv, PLAIN, ctx.signal);
        const verb = zypperSystemVerb(deps.platformId?.() ?? "");
        return runSteps(updatePlan(pm, verb), baseEnv, zypperRules({ upgrade: false, scopedRefresh: false }), ctx.signal);
      },
    },
    upgrade: {
      run: async (data: CommandData, ctx) => {
        const pm = managerFor();
        if (!pm) return unsupported();
        const env = upgradeEnvironment(data ?? {});
        const before = await installedVersion(pm, ALPAMON);
        if (!before) return fail(`The alpamon package is not installed through ${pm}; upgrade alpamon the way it was installed.`);
        const pamBefore = await installedVersion(pm, ALPAMON_PAM);
        const packages = pamBefore ? [ALPAMON, ALPAMON_PAM] : [ALPAMON];
        const { steps: plan, rules } = await upgradeSteps(pm, packages, env);
        const steps = await runSteps(plan, env, rules, ctx.signal);
        if (steps.exitCode !== 0) return steps;

        const after = (await installedVersion(pm, ALPAMON)) ?? before;
        const pamAfter = pamBefore ? ((await installedVersion(pm, ALPAMON_PAM)) ?? pamBefore) : undefined;
        const unmoved = [
          ...(after === before ? [{ name: ALPAMON, version: after }] : []),
          ...(pamBefore && pamAfter === pamBefore ? [{ name: ALPAMON_PAM, version: pamAfter }] : []),
        ];
        // zypper can exit 0 without upgrading (a vendor change it declines): say so rather than "up-to-date".
        const note = pm === "zypper" ? unmovedNote(unmoved) : undefined;
        const reply = (text: string) => ok(note ? appendParagraph(text, note) : text);
        if (unmoved.length === packages.length) {
          if (note) return reply(steps.result);
          const pam = pamAfter ? normaliseVersion(pamAfter) : "not installed";
          return ok(`Already up-to-date (alpamon: ${normaliseVersion(after)}, pam: ${pam})`);
        }
        const upgraded = [
          ...(after !== before ? [`alpamon ${normaliseVersion(before)} → ${normaliseVersion(after)}`] : []),
          ...(pamBefore && pamAfter && pamAfter !== pamBefore
            ? [`alpamon-pam ${normaliseVersion(pamBefore)} → ${normaliseVersion(pamAfter)}`]
            : []),
        ].join(", ");
        const done = `${steps.result}\nUpgraded ${upgraded}`;
        // Only a new alpamon needs the agent restarted; alpamon-pam is loaded by PAM for each session.
        if (after === before) return reply(`${done}.`);
        if (!hasSystemd()) return reply(`${done}; no systemd found: restart alpamon to use it.`);
        const timer = await run(restartTimerArgv(deps.now()));
        if (timer.exitCode !== 0) {
          deps.log.warn("could not schedule the restart after an upgrade", { output: timer.output || timer.startError });
          return reply(`${done}; scheduling the restart failed: restart alpamon to use it.`);
        }
        return reply(`${done}; alpamon will restart in 30 seconds.`);
      },
    },
  };
}
