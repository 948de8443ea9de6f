// The file manager end to end: openftp starts a real worker as a real test user, the agent dials a WebSocket
// and relays requests; every operation's success and failure codes, kernel-enforced denial on /root,
// symlinks, copy names, overwrite protection and bad input that neither side dies of.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { chmodSync, existsSync, lstatSync, mkdirSync, readFileSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { ConsoleHttp } from "../../../src/console/http.ts";
import { LogHub } from "../../../src/log/logger.ts";
import { fileCommands } from "../../../src/capabilities/files/commands.ts";
import { FakeFtp } from "./fake-ftp.ts";
import { context, useTestUsers, useWorkerArgv } from "./helpers.ts";
import { runnable } from "../../helpers/commands.ts";

/** A node of a `list` reply, as far as these tests look into it. */
interface ListNode {
  name: string;
  children?: ListNode[];
}

const isRoot = process.getuid?.() === 0; // users, groups and the identity switch need root
const rootTest = test.skipIf(!isRoot);

const newUser = useTestUsers();
const testWorkerArgv = useWorkerArgv();
const log = new LogHub({ write: () => {}, close: () => {} }).logger();
let ftp: FakeFtp;
let user: { name: string; home: string; uid: number };
const stop = new AbortController();

beforeAll(async () => {
  if (!isRoot) return;
  ftp = new FakeFtp();
  user = newUser();
  const http = new ConsoleHttp({
    serverUrl: ftp.url,
    id: "srv",
    key: "k3y",
    tls: { rejectUnauthorized: true },
    userAgent: "alpamon/test",
    log,
  });
  const { openftp } = runnable(
    fileCommands({ http, enqueue: () => 1, userAgent: "alpamon/test", log, signal: stop.signal, workerArgv: testWorkerArgv }),
  );
  const fin = await openftp!.run(
    context("openftp", { session_id: "s1", url: "/ws/ftp/s1/tok/", username: user.name, groupname: user.name, home_directory: null }),
  );
  expect(fin).toEqual({ exitCode: 0, result: "Spawned a ftp terminal." });
});

afterAll(async () => {
  if (!isRoot) return;
  stop.abort();
  await ftp.stop();
});

rootTest("the socket is dialled on the console's host with its credentials", () => {
  expect(ftp.handshakes[0]!.path).toBe("/ws/ftp/s1/tok/");
  expect(ftp.handshakes[0]!.headers.authorization).toBe('id="srv", key="k3y"');
  expect(ftp.handshakes[0]!.headers.origin).toBe(ftp.url);
});

rootTest("pwd starts at the user's home; mkd, cwd and relative paths", async () => {
  expect(await ftp.request("pwd")).toMatchObject({ success: true, code: 250, data: { path: user.home } });
  expect(await ftp.request("mkd", { path: "~/docs" })).toMatchObject({
    code: 250,
    data: { message: `Make ${user.home}/docs successfully.` },
  });
  expect(statSync(`${user.home}/docs`).uid).toBe(user.uid);
  expect(await ftp.request("mkd", { path: "docs" })).toMatchObject({
    success: false,
    code: 552,
    data: { message: `mkdir ${user.home}/docs: file exists` },
  });
  expect(await ftp.request("cwd", { path: "docs" })).toMatchObject({ code: 250 });
  expect(await ftp.request("pwd")).toMatchObject({ data: { path: `${user.home}/docs` } });
  expect(await ftp.request("cwd", { path: "/etc/hostname" })).toMatchObject({
    success: false,
    code: 550,
    data: { message: "not a directory" },
  });
  expect(await ftp.request("cwd", { path: "~" })).toMatchObject({ code: 250 });
});

rootTest("the kernel denies /root to the user", async () => {
  expect(await ftp.request("list", { path: "/root" })).toMatchObject({ success: false, code: 450 });
  expect(await ftp.request("mkd", { path: "/root/x" })).toMatchObject({
    success: false,
    code: 450,
    data: { message: "mkdir /root/x: permission denied" },
  });
  expect(await ftp.request("chown", { path: "~", username: "root" })).toMatchObject({ success: false, code: 450 });
});

rootTest("list: depth, hidden files, symlinks as links, depth limit", async () => {
  mkdirSync(`${user.home}/tree/a/b/c`, { recursive: true });
  writeFileSync(`${user.home}/tree/a/f.txt`, "hello");
  writeFileSync(`${user.home}/tree/.hidden`, "");
  symlinkSync("/etc", `${user.home}/tree/link`);
  Bun.spawnSync(["chown", "-R", "-h", `${user.name}:${user.name}`, `${user.home}/tree`]);
  const one = await ftp.request("list", { path: "~/tree", depth: 1 });
  expect(one.data.type).toBe("folder");
  const oneChildren = one.data.children as ListNode[];
  expect(oneChildren.map((c) => c.name)).toEqual(["a", "link"]);
  expect(oneChildren[1]).toMatchObject({ type: "symlink", target: "/etc", owner: user.name });
  expect(oneChildren[0]!.children).toBeUndefined();
  const hidden = await ftp.request("list", { path: "~/tree", depth: 3, show_hidden: true });
  const hiddenChildren = hidden.data.children as ListNode[];
  expect(hiddenChildren.map((c) => c.name)).toEqual([".hidden", "a", "link"]);
  const a = hiddenChildren[1]!;
  expect(a.children!.find((c) => c.name === "f.txt")).toMatchObject({ type: "file", size: 5, permission_octal: "644" });
  expect(a.children!.find((c) => c.name === "b")!.children![0]!.children).toBeUndefined();
  expect(await ftp.request("list", { path: "~/tree", depth: 4 })).toMatchObject({ success: false, code: 452 });
  expect(await ftp.request("list", { path: "~/nothing" })).toMatchObject({ success: false, code: 550 });
});

rootTest("cp: files, trees, copy names, no copy into itself, overwrite only when asked", async () => {
  writeFileSync(`${user.home}/a.txt`, "A");
  writeFileSync(`${user.home}/b.txt`, "B");
  Bun.spawnSync(["chown", `${user.name}:${user.name}`, `${user.home}/a.txt`, `${user.home}/b.txt`]);
  expect(await ftp.request("cp", { src: "a.txt", dst: "b.txt" })).toMatchObject({ code: 250, data: { dst: `${user.home}/a (1).txt` } });
  expect(readFileSync(`${user.home}/b.txt`, "utf8")).toBe("B");
  expect(await ftp.request("cp", { src: "a.txt", dst: "a.txt" })).toMatchObject({ code: 250, data: { dst: `${user.home}/a (2).txt` } });
  expect(await ftp.request("cp", { src: "a.txt", dst: "b.txt", allow_overwrite: true })).toMatchObject({
    code: 250,
    data: { dst: `${user.home}/b.txt` },
  });
  expect(readFileSync(`${user.home}/b.txt`, "utf8")).toBe("A");
  expect(await ftp.request("cp", { src: "tree", dst: "tree/a/inside" })).toMatchObject({ success: false, code: 553 });
  const copied = await ftp.request("cp", { src: "tree", dst: "tree2" });
  expect(copied).toMatchObject({ code: 250, data: { dst: `${user.home}/tree2` } });
  expect(lstatSync(`${user.home}/tree2/link`).isSymbolicLink()).toBe(true);
  expect(readFileSync(`${user.home}/tree2/a/f.txt`, "utf8")).toBe("hello");
  expect(statSync(`${user.home}/tree2/a/f.txt`).uid).toBe(user.uid);
  // Replacing a tree only when asked: the old one is swapped out whole.
  writeFileSync(`${user.home}/tree2/stale.txt`, "old");
  expect(await ftp.request("cp", { src: "tree", dst: "tree2" })).toMatchObject({ code: 250, data: { dst: `${user.home}/tree (1)` } });
  expect(await ftp.request("cp", { src: "tree", dst: "tree2", allow_overwrite: true })).toMatchObject({
    code: 250,
    data: { dst: `${user.home}/tree2` },
  });
  expect(existsSync(`${user.home}/tree2/stale.txt`)).toBe(false);
  expect(await ftp.request("rmd", { path: "tree (1)", recursive: true })).toMatchObject({ code: 250 });
  // An unsearchable parent: the copy-name search stops instead of spinning (reference bug 12).
  expect(await ftp.request("cp", { src: "/etc/hostname", dst: "/etc/hostname/x" })).toMatchObject({ success: false });
  expect(await ftp.request("cp", { src: "missing", dst: "x" })).toMatchObject({ success: false, code: 550 });
});

rootTest("mv, dele, rmd", async () => {
  writeFileSync(`${user.home}/m.txt`, "M");
  Bun.spawnSync(["chown", `${user.name}:${user.name}`, `${user.home}/m.txt`]);
  expect(await ftp.request("mv", { src: "m.txt", dst: "b.txt" })).toMatchObject({ code: 250, data: { dst: `${user.home}/m (1).txt` } });
  expect(await ftp.request("mv", { src: "m (1).txt", dst: "b.txt", allow_overwrite: true })).toMatchObject({
    code: 250,
    data: { dst: `${user.home}/b.txt` },
  });
  expect(readFileSync(`${user.home}/b.txt`, "utf8")).toBe("M");
  expect(await ftp.request("mv", { src: "/etc/hostname", dst: "~/h" })).toMatchObject({ success: false, code: 450 });
  expect(await ftp.request("dele", { path: "b.txt" })).toMatchObject({
    code: 250,
    data: { message: `Delete ${user.home}/b.txt successfully.` },
  });
  expect(await ftp.request("dele", { path: "b.txt" })).toMatchObject({ success: false, code: 550 });
  expect(await ftp.request("rmd", { path: "tree2" })).toMatchObject({ success: false, code: 552 });
  expect(await ftp.request("rmd", { path: "tree2", recursive: true })).toMatchObject({ code: 250 });
  expect(() => lstatSync(`${user.home}/tree2`)).toThrow();
  expect(lstatSync("/etc/hostname").isFile()).toBe(true);
  expect(await ftp.request("dele", { path: "/etc/hostname" })).toMatchObject({ success: false, code: 450 });
});

rootTest("chmod keeps special bits and works recursively; chown to the user's own group", async () => {
  writeFileSync(`${user.home}/run.sh`, "#!/bin/sh\n");
  Bun.spawnSync(["chown", `${user.name}:${user.name}`, `${user.home}/run.sh`]);
  expect(await ftp.request("chmod", { path: "run.sh", mode: "2755" })).toMatchObject({
    code: 250,
    data: { message: `Changed permissions of ${user.home}/run.sh to 2755` },
  });
  expect(statSync(`${user.home}/run.sh`).mode & 0o7777).toBe(0o2755);
  expect(await ftp.request("chmod", { path: "tree", mode: "700", recursive: true })).toMatchObject({ code: 250 });
  expect(statSync(`${user.home}/tree/a/f.txt`).mode & 0o777).toBe(0o700);
  expect(await ftp.request("chmod", { path: "run.sh", mode: "9x" })).toMatchObject({ success: false, code: 452 });
  expect(await ftp.request("chown", { path: "run.sh", groupname: user.name })).toMatchObject({ code: 250 });
  expect(await ftp.request("chown", { path: "run.sh", username: "no-such-user-x" })).toMatchObject({ success: false, code: 550 });
  chmodSync(`${user.home}/run.sh`, 0o644);
});

rootTest("bad input: NUL, unknown command, invalid JSON, missing path; the session survives", async () => {
  expect(await ftp.request("mkd", { path: "a\u0000b" })).toMatchObject({ success: false, code: 452 });
  expect(await ftp.request("nope")).toEqual({ command: "nope", success: false, code: 550, data: {} });
  const before = ftp.replies.length;
  ftp.sendRaw("{not json");
  await ftp.until(() => ftp.replies.length > before);
  expect(ftp.replies[before]).toMatchObject({ success: false, code: 550 });
  expect(await ftp.request("dele", {})).toMatchObject({ success: false });
  expect(await ftp.request("pwd")).toMatchObject({ success: true, code: 250 });
});

rootTest("openftp refuses foreign hosts, unknown users and missing names without starting anything", async () => {
  const http = new ConsoleHttp({
    serverUrl: ftp.url,
    id: "srv",
    key: "k3y",
    tls: { rejectUnauthorized: true },
    userAgent: "alpamon/test",
    log,
  });
  const { openftp } = runnable(fileCommands({ http, enqueue: () => 1, userAgent: "alpamon/test", log, workerArgv: testWorkerArgv }));
  const foreign = await openftp!.run(context("openftp", { session_id: "s", url: "ws://127.0.0.2:1/ws/", username: user.name }));
  expect(foreign.exitCode).toBe(1);
  expect((await openftp!.run(context("openftp", { session_id: "s", url: "/ws/x/", username: "nobody-here-x" }))).result).toContain(
    "Failed to get demoted permission",
  );
  expect((await openftp!.run(context("openftp", { url: "/ws/x/", username: user.name }))).result).toContain("Not enough information");
  expect((await openftp!.run(context("openftp", { session_id: "s", url: "/ws/x/" }))).result).toContain("username is required");
});

rootTest("closing the socket ends the worker", async () => {
  const pids = () => Bun.spawnSync(["pgrep", "-u", user.name]).stdout.toString().trim();
  expect(pids()).not.toBe("");
  ftp.close();
  const deadline = Date.now() + 10_000;
  while (pids() !== "" && Date.now() < deadline) await Bun.sleep(100);
  expect(pids()).toBe("");
});
