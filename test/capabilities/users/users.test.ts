// The user commands against this host's real tools (run as root on a disposable machine), once with
// Debian's adduser family and once with shadow-utils. Every account, home and backup a test makes is
// uniquely named (alp + 6 chars) and removed in afterEach even when the test fails; nothing else is touched.
import { afterAll, afterEach, beforeAll, describe, expect, test } from "bun:test";
import {
  chmodSync,
  chownSync,
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmdirSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import { invoke } from "../../../src/commands/contract.ts";
import { REPLIES, userCommands } from "../../../src/capabilities/users/users.ts";
import { lookupGroup, lookupUser } from "../../../src/exec/identity.ts";
import { runProcess } from "../../../src/exec/run.ts";
import { silentLogger } from "../../../src/log/logger.ts";
import { ManualClock } from "../../../src/platform/clock.ts";
import { readPlatform } from "../../../src/platform/os-release.ts";
const isRoot = process.getuid?.() === 0; // users, groups and the identity switch need root

const SLOW = 30_000;
const BACKUPS = "/home/deleted_users";
const made = { users: new Set<string>(), groups: new Set<string>(), paths: new Set<string>(), procs: [] as Bun.Subprocess[] };
let backupsExisted = false;

const sh = (...argv: string[]) => Bun.spawnSync(argv, { stdout: "pipe", stderr: "pipe", stdin: "ignore" });
const getent = (db: "passwd" | "group", key: string) => {
  const r = sh("getent", db, key);
  return r.exitCode === 0 ? r.stdout.toString().trim().split(":") : undefined;
};
const groupsOf = (user: string) => sh("id", "-Gn", user).stdout.toString().trim().split(/\s+/).sort();

function uniqueName(): string {
  const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789";
  let name = "alp";
  for (let i = 0; i < 6; i++) name += alphabet[Math.floor(Math.random() * alphabet.length)];
  return name;
}

const usedIds = new Set<number>();
function freeId(): number {
  for (;;) {
    const id = 42_000 + Math.floor(Math.random() * 18_000);
    if (!usedIds.has(id) && !getent("passwd", String(id)) && !getent("group", String(id))) {
      usedIds.add(id);
      return id;
    }
  }
}

function makeGroup(): { name: string; gid: number } {
  const group = { name: uniqueName(), gid: freeId() };
  made.groups.add(group.name);
  expect(sh("groupadd", "--gid", String(group.gid), group.name).exitCode).toBe(0);
  return group;
}

/** A user made directly with useradd (for tests whose subject is not adduser). */
function makeUserDirect(opts: { home?: string; createHome?: boolean; groups?: string[] } = {}) {
  const primary = makeGroup();
  const name = uniqueName();
  const uid = freeId();
  const home = opts.home ?? `/home/${name}`;
  made.users.add(name);
  if (opts.home === undefined) made.paths.add(home);
  const argv = ["useradd", "--uid", String(uid), "--gid", String(primary.gid), "--home-dir", home, "--shell", "/bin/sh"];
  argv.push(opts.createHome === false ? "--no-create-home" : "--create-home");
  if (opts.groups?.length) argv.push("--groups", opts.groups.join(","));
  expect(sh(...argv, name).exitCode).toBe(0);
  return { name, uid, gid: primary.gid, home, primary };
}

function backupsOf(user: string): string[] {
  if (!existsSync(BACKUPS)) return [];
  return readdirSync(BACKUPS).filter((entry) => entry.startsWith(`${user}_`));
}

beforeAll(() => {
  if (!isRoot) return;
  backupsExisted = existsSync(BACKUPS);
});

afterEach(async () => {
  if (!isRoot) return;
  for (const proc of made.procs.splice(0)) {
    proc.kill("SIGKILL");
    await proc.exited;
  }
  for (const user of made.users) {
    sh("userdel", "--force", "--remove", user);
    for (const entry of backupsOf(user)) rmSync(join(BACKUPS, entry), { recursive: true, force: true });
  }
  for (const group of made.groups) sh("groupdel", group);
  for (const path of made.paths) rmSync(path, { recursive: true, force: true });
  made.users.clear();
  made.groups.clear();
  made.paths.clear();
});

afterAll(() => {
  if (!isRoot) return;
  if (!backupsExisted && existsSync(BACKUPS) && readdirSync(BACKUPS).length === 0) rmdirSync(BACKUPS);
});

function commands(family: "debian" | "shadow", clock = new ManualClock(Date.UTC(2025, 9, 13, 7, 43, 40))) {
  let syncs = 0;
  const bodies = userCommands({
    runProcess,
    lookupUser: (name) => lookupUser(name),
    lookupGroup: (key) => lookupGroup(key),
    platform: () => readPlatform(),
    userTools: family,
    syncUsersAndGroups: () => void syncs++,
    clock,
    log: silentLogger,
  });
  const run = async (name: string, data: Record<string, unknown>) =>
    await invoke(name, bodies[name]!, {
      id: "c1",
      args: [],
      line: name,
      data,
      user: null,
      group: null,
      env: null,
      signal: new AbortController().signal,
      log: silentLogger,
    });
  return { run, syncs: () => syncs };
}

/** Adds a user through the adduser command under test. */
async function addUser(cmd: ReturnType<typeof commands>, extra: Record<string, unknown> = {}) {
  const primary = makeGroup();
  const name = uniqueName();
  const uid = freeId();
  const home = `/home/${name}`;
  made.users.add(name);
  made.paths.add(home);
  const data = {
    username: name,
    uid,
    gid: primary.gid,
    comment: "Alp Test User",
    home_directory: home,
    shell: "/bin/sh",
    groupname: primary.name,
    ...extra,
  };
  const result = await cmd.run("adduser", data);
  return { name, uid, gid: primary.gid, home, primary, result };
}

for (const family of ["debian", "shadow"] as const) {
  describe.skipIf(!isRoot)(`${family} tools`, () => {
    test(
      "adduser: uid, gid, comment, shell, extra groups and a 0700 home",
      async () => {
        const cmd = commands(family);
        const [e1, e2] = [makeGroup(), makeGroup()];
        const user = await addUser(cmd, { groups: [e1.gid, e2.gid] });
        expect(user.result).toEqual({ exitCode: 0, result: REPLIES.adduser(user.name) });
        const [name, , uid, gid, gecos, home, shell] = getent("passwd", user.name)!;
        expect({ name, uid, gid, home, shell }).toEqual({
          name: user.name,
          uid: String(user.uid),
          gid: String(user.gid),
          home: user.home,
          shell: "/bin/sh",
        });
        expect(gecos!.split(",")[0]).toBe("Alp Test User");
        expect(groupsOf(user.name)).toEqual(expect.arrayContaining([user.primary.name, e1.name, e2.name]));
        const stat = lstatSync(user.home);
        expect(stat.isDirectory()).toBe(true);
        expect(stat.uid).toBe(user.uid);
        expect(stat.mode & 0o7777).toBe(0o700);
        expect(cmd.syncs()).toBe(1);
      },
      SLOW,
    );

    test(
      "adduser: home_directory_permission is applied; no extra groups",
      async () => {
        const cmd = commands(family);
        const user = await addUser(cmd, { home_directory_permission: "750", groups: [] });
        expect(user.result).toEqual({ exitCode: 0, result: REPLIES.adduser(user.name) });
        expect(lstatSync(user.home).mode & 0o7777).toBe(0o750);
        expect(cmd.syncs()).toBe(1);
      },
      SLOW,
    );

    test(
      "adduser: an unknown extra gid still creates the user (exit 0, named); a taken uid is the tool's error",
      async () => {
        const cmd = commands(family);
        const missing = freeId();
        const extra = makeGroup();
        const user = await addUser(cmd, { groups: [missing, extra.gid] });
        expect(user.result).toEqual({
          exitCode: 0,
          result: `User '${user.name}' created but failed to add to groups: there is no group with gid ${missing}`,
        });
        expect(getent("passwd", user.name)?.[2]).toBe(String(user.uid));
        expect(groupsOf(user.name)).toContain(extra.name);
        expect(cmd.syncs()).toBe(1);
        const taken = await addUser(cmd, { uid: 0 + Number(getent("passwd", "nobody")![2]) });
        expect(taken.result.exitCode).not.toBe(0);
        expect(getent("passwd", taken.name)).toBeUndefined();
        expect(cmd.syncs()).toBe(1);
      },
      SLOW,
    );

    test(
      "adduser again: the same account is 'already exists' (exit 0) and joins new groups; another uid is refused",
      async () => {
        const cmd = commands(family);
        const user = await addUser(cmd);
        expect(user.result).toEqual({ exitCode: 0, result: REPLIES.adduser(user.name) });
        const extra = makeGroup();
        const data = { username: user.name, uid: user.uid, gid: user.gid, comment: "Other", home_directory: user.home, shell: "/bin/bash" };
        expect(await cmd.run("adduser", { ...data, groups: [extra.gid] })).toEqual({ exitCode: 0, result: REPLIES.userExists(user.name) });
        expect(groupsOf(user.name)).toEqual(expect.arrayContaining([user.primary.name, extra.name]));
        expect(getent("passwd", user.name)![6]).toBe("/bin/sh");
        const other = freeId();
        expect(await cmd.run("adduser", { ...data, uid: other })).toEqual({
          exitCode: 1,
          result: `adduser: user '${user.name}' already exists with uid ${user.uid}, not ${other}; the existing account was not changed`,
        });
        expect(getent("passwd", user.name)![2]).toBe(String(user.uid));
        expect(cmd.syncs()).toBe(2);
      },
      SLOW,
    );

    test(
      "adduser of a service account: the OS picks uid and home, groupname becomes the (new) primary group",
      async () => {
        const cmd = commands(family);
        const name = uniqueName();
        const group = uniqueName();
        made.users.add(name);
        made.groups.add(group);
        made.groups.add(name);
        made.paths.add(`/home/${name}`);
        const result = await cmd.run("adduser", {
          username: name,
          uid: 0,
          gid: 0,
          comment: "Alp Service",
          home_directory: "",
          shell: "/usr/sbin/nologin",
          groupname: group,
          is_service_account: true,
        });
        expect(result).toEqual({ exitCode: 0, result: REPLIES.adduser(name) });
        const [, , uid, gid, , home, shell] = getent("passwd", name)!;
        expect(Number(uid)).toBeGreaterThan(0);
        expect(gid).toBe(getent("group", group)![2]);
        expect({ home, shell }).toEqual({ home: `/home/${name}`, shell: "/usr/sbin/nologin" });
        expect(lstatSync(home!).uid).toBe(Number(uid));
        expect(lstatSync(home!).mode & 0o7777).toBe(0o700);
        expect(cmd.syncs()).toBe(1);
      },
      SLOW,
    );

    test(
      "addgroup and delgroup; a duplicate gid is the tool's failure and does not sync",
      async () => {
        const cmd = commands(family);
        const name = uniqueName();
        const gid = freeId();
        made.groups.add(name);
        expect(await cmd.run("addgroup", { groupname: name, gid })).toEqual({ exitCode: 0, result: REPLIES.addgroup(name, gid) });
        expect(getent("group", name)?.[2]).toBe(String(gid));
        expect(await cmd.run("addgroup", { groupname: name, gid })).toEqual({ exitCode: 0, result: REPLIES.groupExists(name, gid) });
        expect(await cmd.run("addgroup", { groupname: name, gid: gid + 1 })).toEqual({
          exitCode: 1,
          result: `addgroup: group '${name}' already exists with GID ${gid}, not ${gid + 1}; the existing group was not changed`,
        });
        const other = uniqueName();
        made.groups.add(other);
        const duplicate = await cmd.run("addgroup", { groupname: other, gid });
        expect(duplicate.exitCode).not.toBe(0);
        expect(duplicate.result).toContain(String(gid));
        expect(await cmd.run("delgroup", { groupname: name })).toEqual({ exitCode: 0, result: REPLIES.delgroup(name) });
        expect(getent("group", name)).toBeUndefined();
        expect(cmd.syncs()).toBe(3);
      },
      SLOW,
    );

    test(
      "deluser keeps the home under /home/deleted_users/<user>_<RFC 3339 UTC>, the user's entries handed to root",
      async () => {
        const cmd = commands(family);
        const user = await addUser(cmd);
        mkdirSync(join(user.home, "sub"));
        writeFileSync(join(user.home, "notes.txt"), "keep me");
        writeFileSync(join(user.home, "sub", "deep.txt"), "deep");
        writeFileSync(join(user.home, "setuid"), "#!/bin/sh\n");
        writeFileSync(join(user.home, "theirs.txt"), "not the user's");
        symlinkSync("/etc/hostname", join(user.home, "link"));
        // A symlinked directory: the walk must not go through it into /etc.
        symlinkSync("/etc", join(user.home, "etc-link"));
        for (const p of ["sub", "notes.txt", "sub/deep.txt", "setuid"]) chownSync(join(user.home, p), user.uid, user.gid);
        chmodSync(join(user.home, "setuid"), 0o6755);
        const nobody = Number(getent("passwd", "nobody")![2]);
        chownSync(join(user.home, "theirs.txt"), nobody, nobody);
        for (const link of ["link", "etc-link"]) sh("chown", "-h", `${user.uid}:${user.gid}`, join(user.home, link));
        const hostname = lstatSync("/etc/hostname");

        expect(await cmd.run("deluser", { username: user.name })).toEqual({ exitCode: 0, result: REPLIES.deluser(user.name) });
        expect(getent("passwd", user.name)).toBeUndefined();
        expect(existsSync(user.home)).toBe(false);
        const backup = join(BACKUPS, `${user.name}_2025-10-13T07:43:40Z`);
        expect(backupsOf(user.name)).toEqual([`${user.name}_2025-10-13T07:43:40Z`]);
        expect(readFileSync(join(backup, "notes.txt"), "utf8")).toBe("keep me");
        for (const p of ["", "sub", "notes.txt", "sub/deep.txt", "link", "etc-link", "setuid"]) {
          const stat = lstatSync(join(backup, p));
          expect([p, stat.uid, stat.gid]).toEqual([p, 0, 0]);
        }
        expect(lstatSync(join(backup, "setuid")).mode & 0o7777).toBe(0o755);
        expect([lstatSync(join(backup, "theirs.txt")).uid, lstatSync(join(backup, "theirs.txt")).gid]).toEqual([nobody, nobody]);
        expect(lstatSync(join(backup, "link")).isSymbolicLink()).toBe(true);
        expect(lstatSync(join(backup, "etc-link")).isSymbolicLink()).toBe(true);
        expect(lstatSync("/etc/hostname").uid).toBe(hostname.uid);
        expect(lstatSync(BACKUPS).mode & 0o777).toBe(backupsExisted ? lstatSync(BACKUPS).mode & 0o777 : 0o700);
        expect(cmd.syncs()).toBe(2);
      },
      SLOW,
    );

    test(
      "deluser leaves a home below a directory other users may write to where it is",
      async () => {
        const cmd = commands(family);
        const parent = mkdtempSync("/tmp/alp-open-");
        made.paths.add(parent);
        chmodSync(parent, 0o777);
        const home = join(parent, "home");
        const user = makeUserDirect({ home });
        expect(lstatSync(home).uid).toBe(user.uid);
        expect(await cmd.run("deluser", { username: user.name })).toEqual({
          exitCode: 0,
          result: `${REPLIES.deluser(user.name)}\nThe home directory was not backed up: the home directory ${home} was left in place because ${parent} is writable by users other than root.`,
        });
        expect(getent("passwd", user.name)).toBeUndefined();
        expect(lstatSync(home).uid).toBe(user.uid);
        expect(backupsOf(user.name)).toEqual([]);
      },
      SLOW,
    );

    test(
      "deluser does not follow a home that is a symbolic link",
      async () => {
        const cmd = commands(family);
        const target = mkdtempSync("/tmp/alp-target-");
        made.paths.add(target);
        const user = makeUserDirect({ createHome: false });
        chownSync(target, user.uid, user.gid);
        symlinkSync(target, user.home);
        expect(await cmd.run("deluser", { username: user.name })).toEqual({
          exitCode: 0,
          result: `${REPLIES.deluser(user.name)}\nThe home directory was not backed up: the home directory ${user.home} is a symbolic link.`,
        });
        expect(lstatSync(user.home).isSymbolicLink()).toBe(true);
        expect(lstatSync(target).uid).toBe(user.uid);
        expect(backupsOf(user.name)).toEqual([]);
      },
      SLOW,
    );

    test(
      "deluser with purge_home removes the home and keeps nothing",
      async () => {
        const cmd = commands(family);
        const user = await addUser(cmd);
        expect(await cmd.run("deluser", { username: user.name, purge_home: true })).toEqual({
          exitCode: 0,
          result: REPLIES.deluser(user.name),
        });
        expect(getent("passwd", user.name)).toBeUndefined();
        expect(existsSync(user.home)).toBe(false);
        expect(backupsOf(user.name)).toEqual([]);
        expect(cmd.syncs()).toBe(2);
      },
      SLOW,
    );

    test(
      "deluser leaves the home untouched when deletion fails (the user still has a running process)",
      async () => {
        const cmd = commands(family);
        const user = await addUser(cmd);
        writeFileSync(join(user.home, "notes.txt"), "mine");
        chownSync(join(user.home, "notes.txt"), user.uid, user.gid);
        // userdel refuses to delete a user that owns a live process, and Debian's deluser runs userdel.
        const proc = Bun.spawn(["sleep", "120"], {
          uid: user.uid,
          gid: user.gid,
          cwd: "/",
          stdin: "ignore",
          stdout: "ignore",
          stderr: "ignore",
        });
        made.procs.push(proc);
        await Bun.sleep(100);

        const result = await cmd.run("deluser", { username: user.name });
        expect(result.exitCode).not.toBe(0);
        expect(result.result).toContain("currently used by process");
        expect(getent("passwd", user.name)?.[0]).toBe(user.name);
        expect(lstatSync(user.home).uid).toBe(user.uid);
        expect(lstatSync(join(user.home, "notes.txt")).uid).toBe(user.uid);
        expect(lstatSync(join(user.home, "notes.txt")).gid).toBe(user.gid);
        expect(readFileSync(join(user.home, "notes.txt"), "utf8")).toBe("mine");
        expect(backupsOf(user.name)).toEqual([]);
        expect(cmd.syncs()).toBe(1);
      },
      SLOW,
    );

    test(
      "deluser of a user without a home deletes it and says the home was not kept",
      async () => {
        const cmd = commands(family);
        const user = makeUserDirect({ createHome: false });
        expect(await cmd.run("deluser", { username: user.name })).toEqual({
          exitCode: 0,
          result: `${REPLIES.deluser(user.name)}\nThe home directory was not backed up: the home directory ${user.home} does not exist.`,
        });
        expect(getent("passwd", user.name)).toBeUndefined();
        expect(cmd.syncs()).toBe(1);
      },
      SLOW,
    );

    test(
      "deluser leaves a home the user does not own where it is",
      async () => {
        const cmd = commands(family);
        const shared = mkdtempSync("/tmp/alp-shared-");
        made.paths.add(shared);
        const user = makeUserDirect({ home: shared, createHome: false });
        const result = await cmd.run("deluser", { username: user.name });
        expect(result).toEqual({
          exitCode: 0,
          result: `${REPLIES.deluser(user.name)}\nThe home directory was not backed up: the home directory ${shared} is owned by uid 0, not by the user.`,
        });
        expect(lstatSync(shared).isDirectory()).toBe(true);
        expect(backupsOf(user.name)).toEqual([]);
      },
      SLOW,
    );

    test(
      "deluser of an unknown user names it",
      async () => {
        const cmd = commands(family);
        const name = uniqueName();
        expect(await cmd.run("deluser", { username: name })).toEqual({
          exitCode: 1,
          result: `deluser: there is no user ${name} on this server`,
        });
        expect(cmd.syncs()).toBe(0);
      },
      SLOW,
    );
  });
}

describe.skipIf(!isRoot)("moduser (usermod on every family)", () => {
  test(
    "replaces the supplementary groups and the comment, and [] removes them all",
    async () => {
      const cmd = commands("debian");
      const [e1, e2, e3] = [makeGroup(), makeGroup(), makeGroup()];
      const user = makeUserDirect({ groups: [e1.name] });
      expect(groupsOf(user.name)).toEqual([user.primary.name, e1.name].sort());

      expect(await cmd.run("moduser", { username: user.name, groupnames: [e2.name, e3.name], comment: "Changed Name" })).toEqual({
        exitCode: 0,
        result: REPLIES.moduser(user.name),
      });
      expect(groupsOf(user.name)).toEqual([user.primary.name, e2.name, e3.name].sort());
      expect(getent("passwd", user.name)![4]).toBe("Changed Name");

      expect(await cmd.run("moduser", { username: user.name, groupnames: [], comment: "Changed Name" })).toEqual({
        exitCode: 0,
        result: REPLIES.moduser(user.name),
      });
      expect(groupsOf(user.name)).toEqual([user.primary.name]);
      expect(cmd.syncs()).toBe(2);

      const missing = await cmd.run("moduser", { username: user.name, groupnames: [uniqueName()], comment: "x" });
      expect(missing.exitCode).not.toBe(0);
      expect(missing.result).toContain("does not exist");
      expect(cmd.syncs()).toBe(2);
    },
    SLOW,
  );
});

describe.skipIf(!isRoot)("bad data never reaches the host", () => {
  test(
    "missing, root-owned, option-like and wrongly typed fields are refused, naming the field",
    async () => {
      const cmd = commands("shadow");
      const name = uniqueName();
      made.users.add(name);
      const good = { username: name, uid: freeId(), gid: 100, comment: "c", home_directory: `/home/${name}`, shell: "/bin/sh" };
      const cases: [Record<string, unknown>, string][] = [
        [{ ...good, username: undefined }, "adduser: username is required"],
        [{ ...good, uid: 0 }, "adduser: uid 0 is root's and cannot be given to a new user"],
        [
          { ...good, username: "-rf" },
          "adduser: username must start with a letter or '_' and hold at most 32 letters, digits, '_', '.' or '-'",
        ],
        [{ ...good, uid: String(good.uid) }, "adduser: uid must be a whole number"],
        [{ ...good, groups: ["wheel"] }, "adduser: groups[0] must be a whole number"],
      ];
      for (const [data, message] of cases) expect(await cmd.run("adduser", data)).toEqual({ exitCode: 1, result: message });
      expect(await cmd.run("deluser", { username: "--remove" })).toMatchObject({ exitCode: 1 });
      expect(await cmd.run("moduser", { username: name, comment: "c", groupnames: "a,b" })).toEqual({
        exitCode: 1,
        result: "moduser: groupnames must be a list of group names",
      });
      expect(getent("passwd", name)).toBeUndefined();
      expect(existsSync(`/home/${name}`)).toBe(false);
      expect(cmd.syncs()).toBe(0);
    },
    SLOW,
  );
});
