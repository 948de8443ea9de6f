// The user commands without touching the host: data validation messages, tool-family choice, the argv each
// family gets, adduser's comment-flag detection and failure mapping. A fake runProcess records every argv;
// nothing here may create, change or delete an account (the real-tool tests are in users.test.ts).
import { describe, expect, test } from "bun:test";
import { type CommandContext, invoke } from "../../../src/commands/contract.ts";
import { ACCOUNT_NAME } from "../../../src/capabilities/users/users-data.ts";
import { backupStamp } from "../../../src/capabilities/users/users-home.ts";
import { adduserCommentFlag, chooseTool, toolFailure } from "../../../src/capabilities/users/users-tools.ts";
import { REPLIES, userCommands, type UserCommandDeps } from "../../../src/capabilities/users/users.ts";
import type { RunOptions, RunResult } from "../../../src/exec/types.ts";
import { silentLogger } from "../../../src/log/logger.ts";
import type { Platform, PlatformFamily } from "../../../src/platform/os-release.ts";

const platformOf = (family: PlatformFamily): Platform => ({ id: family, idLike: [], family, name: family, version: "1" });
const done = (output = "", exitCode = 0): RunResult => ({ exitCode, output, omittedBytes: 0, timedOut: false });

function fakeHost(
  opts: {
    family?: PlatformFamily;
    forced?: "debian" | "shadow";
    exists?: (p: string) => boolean;
    respond?: (argv: string[]) => RunResult;
  } = {},
) {
  const calls: RunOptions[] = [];
  let syncs = 0;
  const deps: UserCommandDeps = {
    runProcess: async (options) => {
      calls.push(options);
      if (options.argv[1] === "--help") return done("adduser [--comment comment] [--home dir]");
      return opts.respond?.(options.argv) ?? done();
    },
    lookupUser: async (name) =>
      name === "ghost"
        ? undefined
        : { name, uid: name === "toor" ? 0 : 45100, gid: 45100, gecos: "", home: "/nonexistent-alp-home", shell: "/bin/sh" },
    lookupGroup: async (key) => (key === 45999 ? undefined : { name: `grp${key}`, gid: Number(key), members: [] }),
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
  test("no tools at all → the reference's Not implemented reply, for every command", async () => {
    const host = fakeHost({ family: "unknown", exists: () => false });
    const data: Record<string, Record<string, unknown>> = {
      adduser: USER,
      addgroup: { groupname: "alpg", gid: 45100 },
      deluser: { username: "alpu" },
      delgroup: { groupname: "alpg" },
      moduser: { username: "alpu", groupnames: [], comment: "c" },
    };
    for (const [name, d] of Object.entries(data)) {
      expect(await host.run(name, d)).toEqual({ exitCode: 1, result: `Not implemented '${name}' command for this platform.` });
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
    const host = fakeHost({ family: "rhel" });
    await host.run("adduser", { ...USER, groups: [] });
    await host.run("adduser", { ...USER, groups: [45101, 45100] });
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
    expect(host.argvs()).toEqual([
      [...base, "--comment", "Alp Test", "alpabc123"],
      [...base, "--groups", "45101", "--comment", "Alp Test", "alpabc123"],
    ]);
  });

  test("an unknown extra gid fails before anything is created", async () => {
    const host = fakeHost();
    expect(await host.run("adduser", { ...USER, groups: [45999] })).toEqual({
      exitCode: 1,
      result: "adduser: there is no group with gid 45999",
    });
    expect(host.argvs()).toEqual([]);
    expect(host.syncs()).toBe(0);
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
      expect(await host.run("addgroup", { groupname: "alpg", gid: 45100 })).toEqual({ exitCode: 0, result: REPLIES.addgroup });
      expect(await host.run("delgroup", { groupname: "alpg" })).toEqual({ exitCode: 0, result: REPLIES.delgroup });
      expect(await host.run("deluser", { username: "alpu", purge_home: true })).toEqual({ exitCode: 0, result: REPLIES.deluser });
      expect(host.argvs()).toEqual(expected.map((a) => [`/usr/sbin/${a[0]}`, ...a.slice(1)]));
      expect(host.syncs()).toBe(3);
    }
    const host = fakeHost();
    expect(await host.run("moduser", { username: "alpu", groupnames: [], comment: "New" })).toEqual({
      exitCode: 0,
      result: REPLIES.moduser,
    });
    expect(await host.run("moduser", { username: "alpu", groupnames: ["a", "b"], comment: "New" })).toEqual({
      exitCode: 0,
      result: REPLIES.moduser,
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

  test("backup stamps are UTC without ':'", () => {
    expect(backupStamp(Date.UTC(2025, 9, 13, 7, 43, 40, 512))).toBe("20251013T074340Z");
  });
});
