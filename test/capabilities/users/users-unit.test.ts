// The user commands without touching the host: data validation messages, tool-family choice, the argv each
// family gets, adduser's comment-flag detection and failure mapping. A fake runProcess records every argv;
// nothing here may create, change or delete an account (the real-tool tests are in users.test.ts).
import { describe, expect, test } from "bun:test";
import { type CommandContext, invoke } from "../../../src/commands/contract.ts";
import { ACCOUNT_NAME } from "../../../src/capabilities/users/users-data.ts";
import { backupStamp } from "../../../src/capabilities/users/users-home.ts";
import { adduserCommentFlag, chooseTool, toolFailure } from "../../../src/capabilities/users/users-tools.ts";
import { userCommands, type UserCommandDeps } from "../../../src/capabilities/users/users.ts";
import type { GroupEntry, PasswdEntry } from "../../../src/exec/identity.ts";
import type { RunOptions, RunResult } from "../../../src/exec/types.ts";
import { silentLogger } from "../../../src/log/logger.ts";
import type { Platform, PlatformFamily } from "../../../src/platform/os-release.ts";

const platformOf = (family: PlatformFamily): Platform => ({ id: family, idLike: [], family, name: family, version: "1" });
/** A result with only its first line (the home-permission note of the fake host's missing home dropped). */
const firstLine = (r: { exitCode: number; result: string }) => ({ exitCode: r.exitCode, result: r.result.split("\n")[0] });
const done = (output = "", exitCode = 0): RunResult => ({ exitCode, output, omittedBytes: 0, timedOut: false });

function fakeHost(
  opts: {
    family?: PlatformFamily;
    forced?: "debian" | "shadow";
    exists?: (p: string) => boolean;
    respond?: (argv: string[]) => RunResult;
    /** Accounts already on the fake host besides alpu (uid 45100) and toor (uid 0). */
    users?: PasswdEntry[];
    groups?: GroupEntry[];
  } = {},
) {
  const calls: RunOptions[] = [];
  let syncs = 0;
  const home = "/nonexistent-alp-home";
  const users = new Map<string, PasswdEntry>(
    [
      { name: "alpu", uid: 45100, gid: 45100, gecos: "", home, shell: "/bin/sh" },
      { name: "toor", uid: 0, gid: 0, gecos: "", home: "/root", shell: "/bin/sh" },
      ...(opts.users ?? []),
    ].map((u) => [u.name, u]),
  );
  const groups = new Map<string, GroupEntry>((opts.groups ?? []).map((g) => [g.name, g]));
  // A successful adduser/useradd run makes the account, as the real tools do.
  const remember = (argv: string[]) => {
    const tool = argv[0]!.split("/").pop();
    if ((tool !== "adduser" && tool !== "useradd") || argv.length < 4) return;
    const flag = (name: string) => {
      const i = argv.indexOf(name);
      return i < 0 ? undefined : argv[i + 1];
    };
    const name = argv.at(-1)!;
    users.set(name, {
      name,
      uid: Number(flag("--uid") ?? 45300),
      gid: 45300,
      gecos: "",
      home: flag("--home") ?? flag("--home-dir") ?? home,
      shell: "/bin/sh",
    });
  };
  const deps: UserCommandDeps = {
    runProcess: async (options) => {
      calls.push(options);
      if (options.argv[1] === "--help") return done("adduser [--comment comment] [--home dir]");
      const result = opts.respond?.(options.argv) ?? done();
      if (result.exitCode === 0) remember(options.argv);
      return result;
    },
    lookupUser: async (name) => users.get(name),
    lookupGroup: async (key) =>
      typeof key === "string" ? groups.get(key) : key === 45999 ? undefined : { name: `grp${key}`, gid: Number(key), members: [] },
    platform: () => platformOf(opts.family ?? "debian"),
    ...(opts.forced ? { userTools: opts.forced } : {}),
    syncUsersAndGroups: () => void syncs++,
    log: silentLogger,
    exists: opts.exists ?? ((p) => /^\/usr\/sbin\//.test(p)),
  };
  const bodies = userCommands(deps);
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
    } satisfies CommandContext);
  return { run, calls, argvs: () => calls.map((c) => c.argv).filter((a) => a[1] !== "--help"), syncs: () => syncs };
}

const USER = {
  username: "alpabc123",
  uid: 45100,
  gid: 45100,
  comment: "Alp Test",
  home_directory: "/nonexistent-alp-home",
  shell: "/bin/bash",
  groupname: "ignored",
};

describe("data validation", () => {
  const bad: [string, Record<string, unknown>, string][] = [
    ["adduser", { ...USER, username: undefined }, "adduser: username is required"],
    ["adduser", { ...USER, username: "" }, "adduser: username is required"],
    ["adduser", { ...USER, username: null }, "adduser: username is required"],
    [
      "adduser",
      { ...USER, username: "-rf" },
      "adduser: username must start with a letter or '_' and hold at most 32 letters, digits, '_', '.' or '-'",
    ],
    ["adduser", { ...USER, username: 7 }, "adduser: username must be a string"],
    ["adduser", { ...USER, uid: 0 }, "adduser: uid 0 is root's and cannot be given to a new user"],
    ["adduser", { ...USER, gid: 0 }, "adduser: gid 0 is root's group and cannot be a new user's primary group"],
    ["adduser", { ...USER, uid: "1001" }, "adduser: uid must be a whole number"],
    ["adduser", { ...USER, uid: 1.5 }, "adduser: uid must be a whole number"],
    ["adduser", { ...USER, uid: -3 }, "adduser: uid must be a whole number"],
    ["adduser", { ...USER, uid: 2 ** 32 }, "adduser: uid must be at most 4294967294"],
    ["adduser", { ...USER, uid: undefined }, "adduser: uid is required"],
    ["adduser", { ...USER, groups: [45101, "x"] }, "adduser: groups[1] must be a whole number"],
    ["adduser", { ...USER, groups: "45101" }, "adduser: groups must be a list of group ids"],
    ["adduser", { ...USER, home_directory: "/" }, "adduser: home_directory must not be /"],
    ["adduser", { ...USER, home_directory: "home/x" }, "adduser: home_directory must be an absolute path"],
    ["adduser", { ...USER, home_directory: "/home/../etc" }, "adduser: home_directory must not contain '..'"],
    ["adduser", { ...USER, shell: "/bin/sh\n" }, "adduser: shell must not contain ':' or control characters"],
    ["adduser", { ...USER, comment: "a:b" }, "adduser: comment must not contain ':' or control characters"],
    ["adduser", { ...USER, home_directory_permission: "999" }, 'adduser: home_directory_permission must be an octal mode such as "700"'],
    ["adduser", { ...USER, home_directory_permission: 700 }, 'adduser: home_directory_permission must be an octal string such as "700"'],
    ["addgroup", { groupname: "alpgrp", gid: 0 }, "addgroup: gid 0 is root's and cannot be given to a new group"],
    ["addgroup", { gid: 45100 }, "addgroup: groupname is required"],
    [
      "addgroup",
      { groupname: "--help", gid: 45100 },
      "addgroup: groupname must start with a letter or '_' and hold at most 32 letters, digits, '_', '.' or '-'",
    ],
    ["deluser", {}, "deluser: username is required"],
    ["deluser", { username: "alpabc", purge_home: "yes" }, "deluser: purge_home must be true or false"],
    ["delgroup", { groupname: 5 }, "delgroup: groupname must be a string"],
    ["moduser", { username: "alpabc", comment: "x" }, "moduser: groupnames is required"],
    ["moduser", { username: "alpabc", comment: "x", groupnames: null }, "moduser: groupnames is required"],
    [
      "moduser",
      { username: "alpabc", comment: "x", groupnames: ["ok", "-x"] },
      "moduser: groupnames[1] must start with a letter or '_' and hold at most 32 letters, digits, '_', '.' or '-'",
    ],
    ["moduser", { username: "alpabc", groupnames: [] }, "moduser: comment is required"],
  ];
  for (const [name, data, message] of bad) {
    test(`${name} ${JSON.stringify(data)} → ${message}`, async () => {
      const host = fakeHost();
      expect(await host.run(name, data)).toEqual({ exitCode: 1, result: message });
      expect(host.calls).toEqual([]);
      expect(host.syncs()).toBe(0);
    });
  }

  test("every failing field gets its own line", async () => {
    const host = fakeHost();
    expect((await host.run("adduser", {})).result.split("\n")).toEqual(
      ["username", "uid", "gid", "comment", "home_directory", "shell"].map((f) => `adduser: ${f} is required`),
    );
  });

  test("the name pattern refuses option look-alikes and accepts usual names", () => {
    for (const name of ["-rf", "--help", "a b", "a:b", "1abc", "", "a".repeat(33), "../x", "a/b"])
      expect(ACCOUNT_NAME.test(name)).toBe(false);
    for (const name of ["alice", "_svc", "bob.smith", "web-1", "Alice", "host$", "a".repeat(32)])
      expect(ACCOUNT_NAME.test(name)).toBe(true);
  });
});

describe("tool family", () => {
  const sbin =
    (...names: string[]) =>
    (p: string) =>
      names.some((n) => p === `/usr/sbin/${n}`);
  test("debian prefers adduser, falls back to useradd when adduser is missing", () => {
    expect(chooseTool("adduser", "debian", undefined, sbin("adduser", "useradd"))).toEqual({
      family: "debian",
      program: "/usr/sbin/adduser",
    });
    expect(chooseTool("adduser", "debian", undefined, sbin("useradd"))).toEqual({ family: "shadow", program: "/usr/sbin/useradd" });
  });
  test("rhel, suse and unknown distros use shadow-utils, never another adduser", () => {
    for (const family of ["rhel", "suse", "unknown"] as const) {
      expect(chooseTool("deluser", family, undefined, sbin("userdel", "deluser"))).toEqual({
        family: "shadow",
        program: "/usr/sbin/userdel",
      });
      expect(chooseTool("adduser", family, undefined, sbin("adduser"))).toBeUndefined();
    }
  });
  test("merged-/usr hosts find the tools in /usr/bin", () => {
    expect(chooseTool("addgroup", "rhel", undefined, (p) => p === "/usr/bin/groupadd")?.program).toBe("/usr/bin/groupadd");
  });
  test("a forced family is used even on another platform", () => {
    expect(chooseTool("delgroup", "debian", "shadow", sbin("delgroup", "groupdel"))?.program).toBe("/usr/sbin/groupdel");
  });
  test("no tools at all → upstream's platform-not-supported reply, for every command", async () => {
    const host = fakeHost({ family: "unknown", exists: () => false });
    const data: Record<string, Record<string, unknown>> = {
      adduser: USER,
      addgroup: { groupname: "alpg", gid: 45100 },
      deluser: { username: "alpu" },
      delgroup: { groupname: "alpg" },
      moduser: { username: "alpu", groupnames: [], comment: "c" },
    };
    for (const [name, d] of Object.entries(data)) {
      const management = name.endsWith("group") ? "group" : "user";
      expect(await host.run(name, d)).toEqual({ exitCode: 1, result: `Platform 'unknown' not supported for ${management} management` });
    }
    expect(host.calls).toEqual([]);
  });
});

describe("argv and environment", () => {
  test("debian adduser: --comment when adduser lists it, then one adduser per extra group (not the primary)", async () => {
    const host = fakeHost({ family: "debian" });
    await host.run("adduser", { ...USER, groups: [45100, 45101, 45101, 45102] });
    expect(host.argvs()).toEqual([
      [
        "/usr/sbin/adduser",
        "--home",
        "/nonexistent-alp-home",
        "--shell",
        "/bin/bash",
        "--uid",
        "45100",
        "--gid",
        "45100",
        "--comment",
        "Alp Test",
        "--disabled-password",
        "alpabc123",
      ],
      ["/usr/sbin/adduser", "alpabc123", "grp45101"],
      ["/usr/sbin/adduser", "alpabc123", "grp45102"],
    ]);
    for (const call of host.calls) {
      expect(call.env).toEqual({ PATH: "/usr/sbin:/usr/bin:/sbin:/bin", LANG: "C.UTF-8" });
      expect(call.identity).toBeUndefined();
    }
    expect(host.calls.filter((c) => c.argv[1] !== "--help").every((c) => c.timeoutMs === 60_000)).toBe(true);
  });

  test("shadow useradd: --create-home, --groups only when there are extra groups", async () => {
    const base = [
      "/usr/sbin/useradd",
      "--home-dir",
      "/nonexistent-alp-home",
      "--create-home",
      "--shell",
      "/bin/bash",
      "--uid",
      "45100",
      "--gid",
      "45100",
    ];
    const plain = fakeHost({ family: "rhel" });
    expect(firstLine(await plain.run("adduser", { ...USER, groups: [] }))).toEqual({
      exitCode: 0,
      result: "User 'alpabc123' added successfully",
    });
    expect(plain.argvs()).toEqual([[...base, "--comment", "Alp Test", "alpabc123"]]);
    const grouped = fakeHost({ family: "rhel" });
    expect(firstLine(await grouped.run("adduser", { ...USER, groups: [45101, 45100] }))).toEqual({
      exitCode: 0,
      result: "User 'alpabc123' added successfully",
    });
    expect(grouped.argvs()).toEqual([[...base, "--groups", "45101", "--comment", "Alp Test", "alpabc123"]]);
  });

  test("an unknown extra gid does not block the account: created, and the group failure is named (exit 0)", async () => {
    for (const family of ["debian", "rhel"] as const) {
      const host = fakeHost({ family });
      expect(await host.run("adduser", { ...USER, groups: [45999, 45101] })).toEqual({
        exitCode: 0,
        result: "User 'alpabc123' created but failed to add to groups: there is no group with gid 45999",
      });
      expect(host.argvs()[0]!.at(-1)).toBe("alpabc123");
      expect(host.argvs().flat()).toContain(family === "debian" ? "grp45101" : "45101");
      expect(host.syncs()).toBe(1);
    }
  });

  test("adduser of an account already there with the same uid: exit 0, nothing re-created, missing groups joined", async () => {
    const existing: PasswdEntry = { name: "alpabc123", uid: 45100, gid: 45100, gecos: "", home: "/nonexistent-alp-home", shell: "/bin/sh" };
    const debian = fakeHost({ family: "debian", users: [existing] });
    expect(await debian.run("adduser", USER)).toEqual({ exitCode: 0, result: "User 'alpabc123' already exists" });
    expect(debian.argvs()).toEqual([]);
    expect(debian.syncs()).toBe(1);
    expect(await debian.run("adduser", { ...USER, groups: [45101] })).toEqual({ exitCode: 0, result: "User 'alpabc123' already exists" });
    expect(debian.argvs()).toEqual([["/usr/sbin/adduser", "alpabc123", "grp45101"]]);

    const shadow = fakeHost({
      family: "rhel",
      users: [existing],
      respond: (a) => (a.includes("--append") ? done("usermod: no\n", 6) : done()),
    });
    expect(await shadow.run("adduser", { ...USER, groups: [45101, 45999] })).toEqual({
      exitCode: 0,
      result: "User 'alpabc123' already exists but failed to add to groups: there is no group with gid 45999; usermod: no",
    });
    expect(shadow.argvs()).toEqual([["/usr/sbin/usermod", "--append", "--groups", "grp45101", "alpabc123"]]);
  });

  test("adduser of a name taken with another uid fails and changes nothing", async () => {
    const host = fakeHost({ users: [{ name: "alpabc123", uid: 45777, gid: 45100, gecos: "", home: "/x", shell: "/bin/sh" }] });
    expect(await host.run("adduser", { ...USER, groups: [45101] })).toEqual({
      exitCode: 1,
      result: "adduser: user 'alpabc123' already exists with uid 45777, not 45100; the existing account was not changed",
    });
    expect(host.argvs()).toEqual([]);
    expect(host.syncs()).toBe(0);
  });

  test("a service account leaves uid, gid and home to the OS; groupname becomes the primary group, created if missing", async () => {
    const service = { ...USER, uid: 0, gid: 0, home_directory: "", groupname: "alpsvc", is_service_account: true };
    const debian = fakeHost({ family: "debian" });
    expect(firstLine(await debian.run("adduser", service))).toEqual({ exitCode: 0, result: "User 'alpabc123' added successfully" });
    expect(debian.argvs()).toEqual([
      ["/usr/sbin/addgroup", "alpsvc"],
      ["/usr/sbin/adduser", "--shell", "/bin/bash", "--ingroup", "alpsvc", "--comment", "Alp Test", "--disabled-password", "alpabc123"],
    ]);
    const rhel = fakeHost({ family: "rhel", groups: [{ name: "alpsvc", gid: 45400, members: [] }] });
    const { uid: _uid, gid: _gid, home_directory: _home, ...absent } = service;
    expect(firstLine(await rhel.run("adduser", absent))).toEqual({ exitCode: 0, result: "User 'alpabc123' added successfully" });
    expect(rhel.argvs()).toEqual([
      ["/usr/sbin/useradd", "--create-home", "--shell", "/bin/bash", "--gid", "alpsvc", "--comment", "Alp Test", "alpabc123"],
    ]);
    // Given ids are still used; without a groupname the OS picks the primary group too.
    const given = fakeHost({ family: "rhel" });
    await given.run("adduser", { ...service, uid: 45200, groupname: null, home_directory: "/srv/alpsvc" });
    expect(given.argvs()).toEqual([
      [
        "/usr/sbin/useradd",
        "--home-dir",
        "/srv/alpsvc",
        "--create-home",
        "--shell",
        "/bin/bash",
        "--uid",
        "45200",
        "--comment",
        "Alp Test",
        "alpabc123",
      ],
    ]);
  });

  test("service-account data is still checked; an IAM user's 0 ids and empty home are still refused", async () => {
    const host = fakeHost();
    const service = { ...USER, is_service_account: true };
    expect(await host.run("adduser", { ...service, home_directory: "home/x" })).toEqual({
      exitCode: 1,
      result: "adduser: home_directory must be an absolute path",
    });
    expect(await host.run("adduser", { ...service, groupname: "-x", gid: 0 })).toMatchObject({ exitCode: 1 });
    expect(await host.run("adduser", { ...service, is_service_account: "yes" })).toEqual({
      exitCode: 1,
      result: "adduser: is_service_account must be true or false",
    });
    expect(await host.run("adduser", { ...USER, uid: 0, is_service_account: false })).toEqual({
      exitCode: 1,
      result: "adduser: uid 0 is root's and cannot be given to a new user",
    });
    expect(await host.run("adduser", { ...USER, home_directory: "", is_service_account: false })).toEqual({
      exitCode: 1,
      result: "adduser: home_directory is required",
    });
    expect(host.argvs().filter((a) => a.includes("-x"))).toEqual([]);
  });

  test("addgroup of a group already there: same gid is exit 0, another gid fails; a lost race counts as there", async () => {
    const host = fakeHost({ family: "rhel", groups: [{ name: "alpg", gid: 45100, members: [] }] });
    expect(await host.run("addgroup", { groupname: "alpg", gid: 45100 })).toEqual({
      exitCode: 0,
      result: "Group 'alpg' already exists with GID 45100",
    });
    expect(await host.run("addgroup", { groupname: "alpg", gid: 45101 })).toEqual({
      exitCode: 1,
      result: "addgroup: group 'alpg' already exists with GID 45100, not 45101; the existing group was not changed",
    });
    expect(host.argvs()).toEqual([]);
    expect(host.syncs()).toBe(1);
  });

  test("addgroup, delgroup, deluser --remove-home/--remove and moduser with an empty group list", async () => {
    for (const [family, expected] of [
      [
        "debian",
        [
          ["addgroup", "--gid", "45100", "alpg"],
          ["delgroup", "alpg"],
          ["deluser", "--remove-home", "alpu"],
        ],
      ],
      [
        "suse",
        [
          ["groupadd", "--gid", "45100", "alpg"],
          ["groupdel", "alpg"],
          ["userdel", "--remove", "alpu"],
        ],
      ],
    ] as const) {
      const host = fakeHost({ family });
      expect(await host.run("addgroup", { groupname: "alpg", gid: 45100 })).toEqual({
        exitCode: 0,
        result: "Group 'alpg' added successfully with GID 45100",
      });
      expect(await host.run("delgroup", { groupname: "alpg" })).toEqual({ exitCode: 0, result: "Group 'alpg' deleted successfully" });
      expect(await host.run("deluser", { username: "alpu", purge_home: true })).toEqual({
        exitCode: 0,
        result: "User 'alpu' deleted successfully",
      });
      expect(host.argvs()).toEqual(expected.map((a) => [`/usr/sbin/${a[0]}`, ...a.slice(1)]));
      expect(host.syncs()).toBe(3);
    }
    const host = fakeHost();
    expect(await host.run("moduser", { username: "alpu", groupnames: [], comment: "New" })).toEqual({
      exitCode: 0,
      result: "User 'alpu' modified successfully",
    });
    expect(await host.run("moduser", { username: "alpu", groupnames: ["a", "b"], comment: "New" })).toEqual({
      exitCode: 0,
      result: "User 'alpu' modified successfully",
    });
    expect(host.argvs()).toEqual([
      ["/usr/sbin/usermod", "--comment", "New", "-G", "", "alpu"],
      ["/usr/sbin/usermod", "--comment", "New", "-G", "a,b", "alpu"],
    ]);
  });

  test("a failing tool: its exit code and output, no sync", async () => {
    const host = fakeHost({ respond: () => done("groupadd: GID '45100' already exists\n", 4), family: "rhel" });
    expect(await host.run("addgroup", { groupname: "alpg", gid: 45100 })).toEqual({
      exitCode: 4,
      result: "groupadd: GID '45100' already exists\n",
    });
    expect(host.syncs()).toBe(0);
  });

  test("deluser of an unknown user names it; uid 0 is refused", async () => {
    const host = fakeHost();
    expect(await host.run("deluser", { username: "ghost" })).toEqual({
      exitCode: 1,
      result: "deluser: there is no user ghost on this server",
    });
    expect(await host.run("deluser", { username: "toor", purge_home: true })).toEqual({
      exitCode: 1,
      result: "deluser: toor has uid 0 and will not be deleted",
    });
    expect(host.argvs()).toEqual([]);
  });
});

describe("helpers", () => {
  test("adduser comment flag: --comment only when the usage text lists it", async () => {
    const answer =
      (output: string, extra: Partial<RunResult> = {}) =>
      async () => ({ ...done(output), ...extra });
    expect(await adduserCommentFlag(answer("adduser [--comment comment] [--home dir]"), "/usr/sbin/adduser")).toBe("--comment");
    expect(await adduserCommentFlag(answer("adduser [--home DIR] [--gecos GECOS] USER"), "/usr/sbin/adduser")).toBe("--gecos");
    expect(await adduserCommentFlag(answer("", { exitCode: -1, startError: "nope" }), "/usr/sbin/adduser")).toBeUndefined();
  });

  test("old adduser gets --gecos", async () => {
    const calls: string[][] = [];
    const handlers = userCommands({
      ...{ lookupUser: async () => undefined, lookupGroup: async () => undefined, log: silentLogger, syncUsersAndGroups: () => {} },
      platform: () => platformOf("debian"),
      exists: (p) => p === "/usr/sbin/adduser",
      runProcess: async (o) => {
        calls.push(o.argv);
        return done(o.argv[1] === "--help" ? "adduser [--gecos GECOS] [--home DIR]" : "");
      },
    });
    await invoke("adduser", handlers.adduser!, {
      id: "c",
      args: [],
      line: "adduser",
      data: USER,
      user: null,
      group: null,
      env: null,
      signal: new AbortController().signal,
      log: silentLogger,
    });
    expect(calls[1]).toContain("--gecos");
    expect(calls[1]).not.toContain("--comment");
  });

  test("tool failures without an exit code still fail with a reason", () => {
    expect(toolFailure("/usr/sbin/userdel", { ...done("", -1), startError: "ENOENT" })).toEqual({
      exitCode: 1,
      result: "could not run /usr/sbin/userdel: ENOENT",
    });
    expect(toolFailure("/usr/sbin/userdel", { ...done("partial", -1), timedOut: true }).result).toBe(
      "/usr/sbin/userdel did not finish within 60 s and was stopped.\npartial",
    );
    expect(toolFailure("/usr/sbin/userdel", done("", 6))).toEqual({ exitCode: 6, result: "/usr/sbin/userdel failed with exit code 6" });
  });

  test("backup stamps are UTC RFC 3339 to the second, as upstream names the backup", () => {
    expect(backupStamp(Date.UTC(2025, 9, 13, 7, 43, 40, 512))).toBe("2025-10-13T07:43:40Z");
  });
});
