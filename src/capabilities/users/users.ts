// The user and group commands: adduser, addgroup, deluser, delgroup and moduser, with the reference's
// replies. Each gets data its schema has checked, runs the host's account tools through exec/ (never a shell), and asks
// for an inventory sync after a change. Never leaves a deleted user's home half-moved when deletion fails.
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
import { backupHome, DELETED_USERS_DIR, planHomeBackup, restoreHome } from "./users-home.ts";
import {
  adduserCommentFlag,
  chooseTool,
  findProgram,
  notImplemented,
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

export const REPLIES = {
  adduser: "Successfully added new user.",
  addgroup: "Successfully added new group.",
  deluser: "Successfully deleted the user.",
  delgroup: "Successfully deleted the group.",
  moduser: "Successfully modified user information.",
} as const;

/** The bodies of the commands users/index.ts declares, keyed by name; each data schema is checked before its run. */
export function userCommands(deps: UserCommandDeps): FamilyBodies {
  const clock = deps.clock ?? systemClock;
  const backupRoot = deps.deletedUsersDir ?? DELETED_USERS_DIR;
  const commentFlags = new Map<string, "--comment" | "--gecos">();

  const tool = (operation: AccountOperation) => chooseTool(operation, deps.platform().family, deps.userTools, deps.exists);

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

  async function addUser(d: v.InferOutput<typeof AddUserData>, ctx: CommandContext): Promise<CommandResult> {
    const chosen = tool("adduser");
    if (!chosen) return notImplemented("adduser");

    // Resolve every extra group before creating anything, so a bad gid changes nothing.
    const extras: GroupEntry[] = [];
    for (const gid of new Set(d.groups ?? [])) {
      if (gid === d.gid) continue;
      const group = await deps.lookupGroup(gid);
      if (!group) return fail(`adduser: there is no group with gid ${gid}`);
      extras.push(group);
    }

    const { program, family } = chosen;
    const [uid, gid] = [String(d.uid), String(d.gid)];
    const argv =
      family === "debian"
        ? [
            program,
            "--home",
            d.home_directory,
            "--shell",
            d.shell,
            "--uid",
            uid,
            "--gid",
            gid,
            await commentFlag(program),
            d.comment,
            "--disabled-password",
            d.username,
          ]
        : [
            program,
            "--home-dir",
            d.home_directory,
            "--create-home",
            "--shell",
            d.shell,
            "--uid",
            uid,
            "--gid",
            gid,
            ...(extras.length > 0 ? ["--groups", extras.map((g) => g.gid).join(",")] : []),
            "--comment",
            d.comment,
            d.username,
          ];
    const created = await runTool(deps.runProcess, argv, ctx.signal);
    if (created.exitCode !== 0) return toolFailure(program, created);

    const done = () => changed("added a user", { user: d.username, uid: d.uid, tools: family });
    if (family === "debian") {
      for (const group of extras) {
        const joined = await runTool(deps.runProcess, [program, d.username, group.name], ctx.signal);
        if (joined.exitCode !== 0) {
          done();
          return toolFailure(program, joined, `The user ${d.username} was added, but adding it to group ${group.name} failed:\n`);
        }
      }
    }

    const note = setHomePermission(d.home_directory, d.uid, d.home_directory_permission || DEFAULT_HOME_PERMISSION);
    done();
    if (note?.failed) return fail(`The user ${d.username} was added, but ${note.text}`);
    return ok(note ? `${REPLIES.adduser}\n${note.text}` : REPLIES.adduser);
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
    if (!chosen) return notImplemented("addgroup");
    const { groupname, gid } = d;
    const result = await runTool(deps.runProcess, [chosen.program, "--gid", String(gid), groupname], ctx.signal);
    if (result.exitCode !== 0) return toolFailure(chosen.program, result);
    changed("added a group", { group: groupname, gid, tools: chosen.family });
    return ok(REPLIES.addgroup);
  }

  async function delUser(d: v.InferOutput<typeof DelUserData>, ctx: CommandContext): Promise<CommandResult> {
    const chosen = tool("deluser");
    if (!chosen) return notImplemented("deluser");
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
      return ok(REPLIES.deluser);
    }

    const plan = planHomeBackup(user, backupRoot);
    let kept: ReturnType<typeof backupHome> | undefined;
    if (plan.kind === "backup") {
      kept = backupHome(plan.home, username, clock.now(), backupRoot);
      if (!kept.ok) return fail(kept.error);
    }
    const result = await runTool(deps.runProcess, [program, username], ctx.signal);
    if (result.exitCode !== 0) {
      const undo = kept?.ok ? restoreHome(kept.backup) : undefined;
      if (undo) deps.log.error("could not roll back a home directory backup", { user: username, error: undo });
      const failure = toolFailure(program, result);
      return undo ? { ...failure, result: `${failure.result}\n${undo}` } : failure;
    }
    const backup = kept?.ok ? kept.backup.backup : undefined;
    changed("deleted a user", { user: username, tools: family, backup: backup ?? "none" });
    if (plan.kind === "skip") return ok(`${REPLIES.deluser}\nThe home directory was not backed up: ${plan.reason}.`);
    return ok(REPLIES.deluser);
  }

  async function delGroup(d: v.InferOutput<typeof DelGroupData>, ctx: CommandContext): Promise<CommandResult> {
    const chosen = tool("delgroup");
    if (!chosen) return notImplemented("delgroup");
    const { groupname } = d;
    const result = await runTool(deps.runProcess, [chosen.program, groupname], ctx.signal);
    if (result.exitCode !== 0) return toolFailure(chosen.program, result);
    changed("deleted a group", { group: groupname, tools: chosen.family });
    return ok(REPLIES.delgroup);
  }

  async function modUser(d: v.InferOutput<typeof ModUserData>, ctx: CommandContext): Promise<CommandResult> {
    const program = findProgram("usermod", deps.exists);
    if (!program) return notImplemented("moduser");
    const { username, groupnames, comment } = d;
    // An empty -G "" removes every supplementary group, as the reference does.
    const argv = [program, "--comment", comment, "-G", groupnames.join(","), username];
    const result = await runTool(deps.runProcess, argv, ctx.signal);
    if (result.exitCode !== 0) return toolFailure(program, result);
    changed("modified a user", { user: username, groups: groupnames.join(",") });
    return ok(REPLIES.moduser);
  }

  return {
    adduser: { data: AddUserData, run: addUser },
    addgroup: { data: AddGroupData, run: addGroup },
    deluser: { data: DelUserData, run: delUser },
    delgroup: { data: DelGroupData, run: delGroup },
    moduser: { data: ModUserData, run: modUser },
  };
}
