// User and group management: adduser, addgroup, deluser, delgroup, moduser. The family's code is loaded on
// first use (commands/lazy.ts); its names and summaries are written here only.
import type { Capability } from "../../commands/capability.ts";
import { lazyFamily, type LazySpec } from "../../commands/lazy.ts";
import { lookupGroup, lookupUser } from "../../exec/identity.ts";
import { runProcess } from "../../exec/run.ts";
import type { Logger } from "../../log/logger.ts";
import type { Clock } from "../../platform/clock.ts";
import type { Platform } from "../../platform/os-release.ts";

export const USER_SPECS: readonly LazySpec[] = [
  { name: "adduser", summary: "add a user (uid, gid, comment, home, shell, extra groups)" },
  { name: "addgroup", summary: "add a group with a given gid" },
  { name: "deluser", summary: "delete a user, keeping the home under /home/deleted_users unless purge_home" },
  { name: "delgroup", summary: "delete a group" },
  { name: "moduser", summary: "set a user's comment and replace its supplementary groups" },
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
