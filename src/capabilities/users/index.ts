// User and group management: adduser, addgroup, deluser, delgroup, moduser. The family's code is loaded on
// first use (commands/lazy.ts); its names and summaries are written here only.
import type { Capability } from "../../commands/capability.ts";
import { lazyFamily, type LazySpec } from "../../commands/lazy.ts";
import { lookupGroup, lookupUser } from "../../exec/identity.ts";
import { runProcess } from "../../exec/run.ts";
import type { Logger } from "../../log/logger.ts";
import type { Clock } from "../../platform/clock.ts";
import type { Platform } from "../../platform/os-release.ts";

// Upstream's user and group handler timeouts (upstream-2026 §2.4): deluser may move a large home first.
const USER_TIMEOUT_MS = 2 * 60_000;
const DELUSER_TIMEOUT_MS = 5 * 60_000;
const GROUP_TIMEOUT_MS = 30_000;

export const USER_SPECS: readonly LazySpec[] = [
  {
    name: "adduser",
    summary: "add a user (uid, gid, comment, home, shell, extra groups; a service account lets the OS pick ids and home); idempotent",
    timeoutMs: USER_TIMEOUT_MS,
  },
  { name: "addgroup", summary: "add a group with a given gid; idempotent", timeoutMs: GROUP_TIMEOUT_MS },
  {
    name: "deluser",
    summary: "delete a user, keeping the home under /home/deleted_users unless purge_home",
    timeoutMs: DELUSER_TIMEOUT_MS,
  },
  { name: "delgroup", summary: "delete a group", timeoutMs: GROUP_TIMEOUT_MS },
  { name: "moduser", summary: "set a user's comment and replace its supplementary groups", timeoutMs: USER_TIMEOUT_MS },
];

export interface UsersDeps {
  platform: () => Platform;
  /** Asks the inventory to sync users and groups after a change. */
  syncUsersAndGroups: () => void;
  clock: Clock;
  log: Logger;
}

export function createUsers(deps: UsersDeps): Capability {
  return {
    name: "users",
    commands: lazyFamily(USER_SPECS, async () =>
      (await import("./users.ts")).userCommands({ runProcess, lookupUser, lookupGroup, ...deps }),
    ),
  };
}
