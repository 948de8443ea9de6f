// Package updates: `update` (the system's packages) and `upgrade` (alpamon and alpamon-pam, optionally through the
// console's `package_proxy`). Loaded on first use; the console's URL only feeds the proxy's no_proxy list.
import type { Capability } from "../../commands/capability.ts";
import { lazyFamily, type LazySpec } from "../../commands/lazy.ts";
import { runProcess } from "../../exec/run.ts";
import type { Logger } from "../../log/logger.ts";
import type { Clock } from "../../platform/clock.ts";
import type { Platform } from "../../platform/os-release.ts";
import { consoleHostOf } from "./proxy.ts";

/** Upstream's update/upgrade timeout (upstream-2026 §2.4, §7.2). */
const PACKAGE_TIMEOUT_MS = 30 * 60_000;

export const PACKAGE_SPECS: readonly LazySpec[] = [
  { name: "update", summary: "upgrade the system's packages (apt-get, dnf, yum or zypper)", timeoutMs: PACKAGE_TIMEOUT_MS },
  { name: "upgrade", summary: "upgrade alpamon through the package manager, then restart it", timeoutMs: PACKAGE_TIMEOUT_MS },
];

export interface PackagesDeps {
  platform: () => Platform;
  version: string;
  clock: Clock;
  log: Logger;
  /** The console's URL ([server] url): its host is never sent through a package proxy (no_proxy). */
  consoleUrl?: string;
}

export function createPackages(deps: PackagesDeps): Capability {
  const consoleHost = consoleHostOf(deps.consoleUrl);
  return {
    name: "packages",
    commands: lazyFamily(PACKAGE_SPECS, async () =>
      (await import("./packages.ts")).packageCommands({
        runProcess,
        family: () => deps.platform().family,
        platformId: () => deps.platform().id,
        ...(consoleHost ? { consoleHost } : {}),
        version: deps.version,
        log: deps.log,
        now: () => deps.clock.now(),
        sleep: (ms, signal) => deps.clock.sleep(ms, signal),
      }),
    ),
  };
}
