// The user and group commands: adduser, addgroup, deluser, delgroup and moduser, with upstream's 2026 replies
// (upstream-2026 §10.1): adduser and addgroup are idempotent (an account that is already there, with the same
// id, is success). Each gets data its schema has checked, runs the host's account tools through exec/ (never a
// shell), and asks for an inventory sync after a success. A deleted user's home is moved only after the deletion.
import { chmodSync, lstatSync } from "node:fs";
import type { GroupEntry, PasswdEntry } from "../../exec/identity.ts";
import type { RunProcess } from "../../exec/types.ts";
import type { Logger } from "../../log/logger.ts";
import { systemClock, type Clock } from "../../platform/clock.ts";
import type { Platform } from "../../platform/os-release.ts";
import type * as v from "valibot";
import { fail, ok, type CommandContext, type CommandResult } from "../../commands/contract.ts";
import type { FamilyBodies } from "../../commands/lazy.ts";
import { AddGroupData, AddUserData, DEFAULT_HOME_PERMISSION, DelGroupData, DelUserData, ModUserData } from "./users-data.ts";
import { backupHome, DELETED_USERS_DIR, planHomeBackup } from "./users-home.ts";
import {
  adduserCommentFlag,
  chooseTool,
  findProgram,
  notSupported,
  runTool,
  toolFailure,
  type AccountOperation,
  type Exists,
  type ToolFamily,
} from "./users-tools.ts";

export interface UserCommandDeps {
  runProcess: RunProcess;
  lookupUser: (name: string) => Promise<PasswdEntry | undefined>;
  lookupGroup: (nameOrGid: string | number) => Promise<GroupEntry | undefined>;
  platform: () => Platform;
  /** Pins the tool family instead of choosing by platform (tests exercise both on one host). */
  userTools?: ToolFamily;
  /** Inventory hook: called once after each command that changed users or groups. */
  syncUsersAndGroups: () => void;
  clock?: Clock;
  log: Logger;
  /** Where kept homes go; default /home/deleted_users. */
  deletedUsersDir?: string;
  /** File existence check for locating the tools (tests simulate hosts without them). */
  exists?: Exists;
}

/** The replies the console shows (upstream-2026 §10.1). */
export const REPLIES = {
  adduser: (user: string) => `User '${user}' added successfully`,
  userExists: (user: string) => `User '${user}' already exists`,
  groupsFailed: (user: string, existed: boolean, error: string) =>
    `User '${user}' ${existed ? "already exists" : "created"} but failed to add to groups: ${error}`,
  addgroup: (group: string, gid: number) => `Group '${group}' added successfully with GID ${gid}`,
  groupExists: (group: string, gid: number) => `Group '${group}' already exists with GID ${gid}`,
  deluser: (user: string) => `User '${user}' deleted successfully`,
  delgroup: (group: string) => `Group '${group}' deleted successfully`,
  moduser: (user: string) => `User '${user}' modified successfully`,
} as const;

/** The bodies of the commands users/index.ts declares, keyed by name; each data schema is checked before its run. */
export function userCommands(deps: UserCommandDeps): FamilyBodies {
  const clock = deps.clock ?? systemClock;
  const backupRoot = deps.deletedUsersDir ?? DELETED_USERS_DIR;
  const commentFlags = new Map<string, "--comment" | "--gecos">();

  const tool = (operation: AccountOperation) => chooseTool(operation, deps.platform().family, deps.userTools, deps.exists);
  const platformName = () => {
    const p = deps.platform();
    return p.family === "unknown" ? p.id : p.family;
  };

  const changed = (what: string, fields: Record<string, unknown>) => {
    deps.log.info(what, fields);
    try {
      deps.syncUsersAndGroups();
    } catch (err) {
      deps.log.warn("could not schedule the users and groups sync", { error: err });
    }
  };

  const commentFlag = async (program: string): Promise<"--comment" | "--gecos"> => {
    const known = commentFlags.get(program);
    if (known) return known;
    const detected = await adduserCommentFlag(deps.runProcess, program);
    if (detected) commentFlags.set(program, detected);
    return detected ?? "--gecos";
  };

  const uidConflict = (user: string, existing: number, wanted: number) =>
    fail(`adduser: user '${user}' already exists with uid ${existing}, not ${wanted}; the existing account was not changed`);

  /** A service account's named primary group: found, or created with an OS-picked gid. */
  async function ensurePrimaryGroup(name: string, signal: AbortSignal): Promise<CommandResult | undefined> {
    if (await deps.lookupGroup(name)) return undefined;
    const chosen = tool("addgroup");
    if (!chosen) return notSupported("group", platformName());
    const made = await runTool(deps.runProcess, [chosen.program, name], signal);
    if (made.exitCode !== 0 && !(await deps.lookupGroup(name)))
      return toolFailure(chosen.program, made, `adduser: creating the group ${name} failed:\n`);
    return undefined;
  }

  /** Adds an existing account to groups it is not yet in; returns one error text per group that failed. */
  async function joinGroups(
    user: PasswdEntry,
    groups: GroupEntry[],
    family: ToolFamily,
    program: string,
    signal: AbortSignal,
  ): Promise<string[]> {
    const errors: string[] = [];
    const usermod = family === "shadow" ? findProgram("usermod", deps.exists) : undefined;
    for (const group of groups) {
      if (group.gid === user.gid || group.members.includes(user.name)) continue;
      const argv =
        family === "debian"
          ? [program, user.name, group.name]
          : usermod
            ? [usermod, "--append", "--groups", group.name, user.name]
            : undefined;
      if (!argv) {
        errors.push(`usermod is not installed, so ${user.name} was not added to ${group.name}`);
        continue;
      }
      const joined = await runTool(deps.runProcess, argv, signal);
      if (joined.exitCode !== 0) errors.push(toolFailure(argv[0]!, joined).result.trim());
    }
    return errors;
  }

  async function addUser(d: v.InferOutput<typeof AddUserData>, ctx: CommandContext): Promise<CommandResult> {
    const chosen = tool("adduser");
    if (!chosen) return notSupported("user", platformName());
    const { program, family } = chosen;
    // A service account's 0 or empty uid, gid and home are left to the OS (undefined below).
    const uid = d.uid || undefined;
    const gid = d.gid || undefined;
    const home = d.home_directory || undefined;
    const primaryName = d.is_service_account === true && gid === undefined && "groupname" in d && d.groupname ? d.groupname : undefined;

    let existing = await deps.lookupUser(d.username);
    if (existing && uid !== undefined && existing.uid !== uid) return uidConflict(d.username, existing.uid, uid);

    // Extra groups are resolved first; an unknown gid is reported as a group failure, never blocks the account.
    const groupErrors: string[] = [];
    const extras: GroupEntry[] = [];
    for (const extra of new Set(d.groups ?? [])) {
      if (extra === gid) continue;
      const group = await deps.lookupGroup(extra);
      if (group) extras.push(group);
      else groupErrors.push(`there is no group with gid ${extra}`);
    }

    let created = false;
    if (!existing) {
      if (primaryName) {
        const failed = await ensurePrimaryGroup(primaryName, ctx.signal);
        if (failed) return failed;
      }
      const primary = gid !== undefined ? String(gid) : primaryName;
      const argv =
        family === "debian"
          ? [
              program,
              ...(home ? ["--home", home] : []),
              "--shell",
              d.shell,
              ...(uid !== undefined ? ["--uid", String(uid)] : []),
              ...(gid !== undefined ? ["--gid", String(gid)] : primaryName ? ["--ingroup", primaryName] : []),
              await commentFlag(program),
              d.comment,
              "--disabled-password",
              d.username,
            ]
          : [
              program,
              ...(home ? ["--home-dir", home] : []),
              "--create-home",
              "--shell",
              d.shell,
              ...(uid !== undefined ? ["--uid", String(uid)] : []),
              ...(primary ? ["--gid", primary] : []),
              ...(extras.length > 0 ? ["--groups", extras.map((g) => g.gid).join(",")] : []),
              "--comment",
              d.comment,
              d.username,
            ];
      const result = await runTool(deps.runProcess, argv, ctx.signal);
      existing = await deps.lookupUser(d.username);
      if (result.exitCode !== 0) {
        // Created meanwhile by someone else (or only visible through NSS): the same account is fine, another is not.
        if (!existing) return toolFailure(program, result);
        if (uid !== undefined && existing.uid !== uid) return uidConflict(d.username, existing.uid, uid);
      } else {
        created = true;
      }
    }

    if (existing && !(created && family === "shadow")) {
      groupErrors.push(...(await joinGroups(existing, extras, family, program, ctx.signal)));
    }

    const note =
      created && existing
        ? setHomePermission(existing.home, existing.uid, d.home_directory_permission || DEFAULT_HOME_PERMISSION)
        : undefined;
    changed(created ? "added a user" : "user already present", { user: d.username, uid: existing?.uid, tools: family });
    if (groupErrors.length > 0) return ok(REPLIES.groupsFailed(d.username, !created, groupErrors.join("; ")));
    if (note?.failed) return fail(`User '${d.username}' was added, but ${note.text}`);
    if (!created) return ok(REPLIES.userExists(d.username));
    return ok(note ? `${REPLIES.adduser(d.username)}\n${note.text}` : REPLIES.adduser(d.username));
  }

  /** chmod of the new home, only when it is a real directory the new user owns (a pre-existing shared dir is left alone). */
  function setHomePermission(home: string, uid: number, permission: string): { text: string; failed?: true } | undefined {
    try {
      const stat = lstatSync(home);
      if (!stat.isDirectory() || stat.uid !== uid) {
        return { text: `The home directory ${home} was not created for this user, so its permissions were left unchanged.` };
      }
      chmodSync(home, parseInt(permission, 8));
      return undefined;
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === "ENOENT") return { text: `The home directory ${home} does not exist, so no permission was set.` };
      return { text: `setting the permission of ${home} to ${permission} failed: ${(err as Error).message}`, failed: true };
    }
  }

  async function addGroup(d: v.InferOutput<typeof AddGroupData>, ctx: CommandContext): Promise<CommandResult> {
    const chosen = tool("addgroup");
    if (!chosen) return notSupported("group", platformName());
    const { groupname, gid } = d;
    const conflict = (found: GroupEntry) =>
      fail(`addgroup: group '${groupname}' already exists with GID ${found.gid}, not ${gid}; the existing group was not changed`);
    const before = await deps.lookupGroup(groupname);
    if (before) {
      if (before.gid !== gid) return conflict(before);
      changed("group already present", { group: groupname, gid });
      return ok(REPLIES.groupExists(groupname, gid));
    }
    const result = await runTool(deps.runProcess, [chosen.program, "--gid", String(gid), groupname], ctx.signal);
    if (result.exitCode !== 0) {
      // Created meanwhile (or only visible through NSS): the same gid is success, another is a conflict.
      const after = await deps.lookupGroup(groupname);
      if (!after) return toolFailure(chosen.program, result);
      if (after.gid !== gid) return conflict(after);
      changed("group already present", { group: groupname, gid });
      return ok(REPLIES.groupExists(groupname, gid));
    }
    changed("added a group", { group: groupname, gid, tools: chosen.family });
    return ok(REPLIES.addgroup(groupname, gid));
  }

  async function delUser(d: v.InferOutput<typeof DelUserData>, ctx: CommandContext): Promise<CommandResult> {
    const chosen = tool("deluser");
    if (!chosen) return notSupported("user", platformName());
    const { username } = d;
    const purge = d.purge_home === true;
    const user = await deps.lookupUser(username);
    if (!user) return fail(`deluser: there is no user ${username} on this server`);
    if (user.uid === 0) return fail(`deluser: ${username} has uid 0 and will not be deleted`);

    const { program, family } = chosen;
    if (purge) {
      const result = await runTool(deps.runProcess, [program, family === "debian" ? "--remove-home" : "--remove", username], ctx.signal);
      if (result.exitCode !== 0) return toolFailure(program, result);
      changed("deleted a user and their home", { user: username, tools: family });
      return ok(REPLIES.deluser(username));
    }

    // Checked before, moved after: the home is only touched once the account (and every process of it) is gone.
    const plan = planHomeBackup(user, backupRoot);
    if (plan.kind === "fail") return fail(plan.error);
    const result = await runTool(deps.runProcess, [program, username], ctx.signal);
    if (result.exitCode !== 0) return toolFailure(program, result);
    const chownTree = async (dir: string, uid: number) => {
      const chown = findProgram("chown", deps.exists);
      if (!chown) return "chown is not installed";
      const handed = await runTool(deps.runProcess, [chown, "-R", "-P", `--from=${uid}`, "0:0", "--", dir], ctx.signal);
      return handed.exitCode === 0 ? undefined : toolFailure("chown", handed).result;
    };
    const kept = plan.kind === "backup" ? await backupHome(plan, username, clock.now(), chownTree, backupRoot) : undefined;
    changed("deleted a user", { user: username, tools: family, backup: kept?.ok ? kept.backup : "none" });
    if (plan.kind === "skip") return ok(`${REPLIES.deluser(username)}\nThe home directory was not backed up: ${plan.reason}.`);
    if (kept && !kept.ok) {
      deps.log.error("could not keep a deleted user's home directory", { user: username, error: kept.error });
      return ok(`${REPLIES.deluser(username)}\nThe home directory was not backed up: ${kept.error}.`);
    }
    return ok(REPLIES.deluser(username));
  }

  async function delGroup(d: v.InferOutput<typeof DelGroupData>, ctx: CommandContext): Promise<CommandResult> {
    const chosen = tool("delgroup");
    if (!chosen) return notSupported("group", platformName());
    const { groupname } = d;
    const result = await runTool(deps.runProcess, [chosen.program, groupname], ctx.signal);
    if (result.exitCode !== 0) return toolFailure(chosen.program, result);
    changed("deleted a group", { group: groupname, tools: chosen.family });
    return ok(REPLIES.delgroup(groupname));
  }

  async function modUser(d: v.InferOutput<typeof ModUserData>, ctx: CommandContext): Promise<CommandResult> {
    const program = findProgram("usermod", deps.exists);
    if (!program) return notSupported("user", platformName());
    const { username, groupnames, comment } = d;
    // An empty -G "" removes every supplementary group, as the reference does.
    const argv = [program, "--comment", comment, "-G", groupnames.join(","), username];
    const result = await runTool(deps.runProcess, argv, ctx.signal);
    if (result.exitCode !== 0) return toolFailure(program, result);
    changed("modified a user", { user: username, groups: groupnames.join(",") });
    return ok(REPLIES.moduser(username));
  }

  return {
    adduser: { data: AddUserData, run: addUser },
    addgroup: { data: AddGroupData, run: addGroup },
    deluser: { data: DelUserData, run: delUser },
    delgroup: { data: DelGroupData, run: delGroup },
    moduser: { data: ModUserData, run: modUser },
  };
}
