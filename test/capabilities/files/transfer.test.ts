// download and upload end to end as a real test user: text, base64 and URL contents, overwrite protection,
// safe unzip, both dialects' command shapes, stat reports, credentials only to the console's origin, and
// zips made on the fly verified with Info-ZIP's own `unzip`.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chmodSync, chownSync, existsSync, mkdirSync, readFileSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { ConsoleHttp } from "../../../src/console/http.ts";
import type { OutboxItem } from "../../../src/console/outbox/item.ts";
import { fileCommands } from "../../../src/capabilities/files/commands.ts";
import { zipStream, type ZipSource } from "../../../src/capabilities/files/zip-write.ts";
import { LogHub } from "../../../src/log/logger.ts";
import { FakeConsole } from "../../console/fake-console.ts";
import { useTempDirs } from "../../helpers/tmp.ts";
import { blobSha256, ContentServer } from "./content-server.ts";
import { context, sh, useTestUsers, useWorkerArgv } from "./helpers.ts";
import { runnable } from "../../helpers/commands.ts";

// The test user (and its home) is new for every run of this file; anything else goes into a temp dir of the
// test's own, removed after each test even when it fails.
const isRoot = process.getuid?.() === 0;
const newUser = useTestUsers();
const tempDir = useTempDirs("alpamon-transfer-");
const testWorkerArgv = useWorkerArgv();
const log = new LogHub({ write: () => {}, close: () => {} }).logger();
let fake: FakeConsole;
let content: ContentServer;
let user: { name: string; home: string; uid: number };
let enqueued: OutboxItem[];
let handlers: Record<string, (ctx: ReturnType<typeof context>) => Promise<{ exitCode: number; result: string }>>;

beforeAll(async () => {
  if (!isRoot) return; // creating the test user needs root
  fake = await FakeConsole.start();
  content = new ContentServer();
  user = newUser();
  enqueued = [];
  const http = new ConsoleHttp({
    serverUrl: fake.url,
    id: fake.id,
    key: fake.key,
    tls: { rejectUnauthorized: true },
    userAgent: "alpamon/test",
    log,
  });
  const list = fileCommands({
    http,
    enqueue: (i) => {
      enqueued.push(i);
      return enqueued.length;
    },
    userAgent: "alpamon/test",
    log,
    workerArgv: testWorkerArgv,
  });
  handlers = Object.fromEntries(Object.entries(runnable(list)).map(([name, h]) => [name, (ctx) => h.run(ctx)]));
});

afterAll(async () => {
  await fake?.stop();
  await content?.stop();
});

const download = (line: string, data: object) => handlers.download!(context(line, data));
const upload = (line: string, data: object) => handlers.upload!(context(line, data));

/** A file in the user's home, owned by the user (each test writes the ones it needs). */
function userFile(name: string, text: string): string {
  const path = join(user.home, name);
  writeFileSync(path, text);
  chownSync(path, user.uid, user.uid);
  return path;
}

async function zipFile(path: string, sources: ZipSource[]): Promise<void> {
  const parts: Uint8Array[] = [];
  for await (const chunk of zipStream(sources)) parts.push(chunk);
  writeFileSync(path, Buffer.concat(parts));
}

describe.skipIf(!isRoot)("download and upload as a test user", () => {
  test("download text and base64 as the user; relative paths land in the home; stat through the outbox", async () => {
    const r = await download("download", {
      username: user.name,
      groupname: user.name,
      type: "text",
      content: "hello\n",
      path: "hello.txt",
      url: "/api/websh/uploads/7/",
    });
    expect(r).toEqual({ exitCode: 0, result: `Successfully downloaded ${user.home}/hello.txt.` });
    const st = statSync(`${user.home}/hello.txt`);
    expect([st.uid, st.mode & 0o777]).toEqual([user.uid, 0o644]);
    expect(readFileSync(`${user.home}/hello.txt`, "utf8")).toBe("hello\n");
    expect(enqueued.at(-1)).toMatchObject({ method: "POST", path: "/api/websh/uploads/7/stat/", body: { success: true, type: "upload" } });
    const b = await download("download", {
      username: user.name,
      type: "base64",
      content: Buffer.from([0, 1, 2, 255]).toString("base64"),
      path: "~/bin.dat",
    });
    expect(b.exitCode).toBe(0);
    expect([...readFileSync(`${user.home}/bin.dat`)]).toEqual([0, 1, 2, 255]);
    expect((await download("download", { username: user.name, type: "base64", content: "@@notbase64", path: "x" })).result).toContain(
      "base64",
    );
  });

  test("overwrite protection, a directory where a file is expected, /root, NUL and a missing name", async () => {
    expect((await download("download", { username: user.name, type: "text", content: "first\n", path: "kept.txt" })).exitCode).toBe(0);
    const again = await download("download", { username: user.name, type: "text", content: "other", path: "kept.txt" });
    expect(again).toEqual({ exitCode: 1, result: `${user.home}/kept.txt already exists.` });
    expect(readFileSync(`${user.home}/kept.txt`, "utf8")).toBe("first\n");
    const over = await download("download", {
      username: user.name,
      type: "text",
      content: "other",
      path: "kept.txt",
      allow_overwrite: true,
    });
    expect(over.exitCode).toBe(0);
    expect(readFileSync(`${user.home}/kept.txt`, "utf8")).toBe("other");
    expect((await download("download", { username: user.name, type: "text", content: "x", path: "/tmp" })).result).toContain(
      "is a directory",
    );
    expect((await download("download", { username: user.name, type: "text", content: "x", path: "/root/owned" })).result).toBe(
      "stat /root/owned: permission denied",
    );
    expect(existsSync("/root/owned")).toBe(false);
    expect((await download("download", { username: user.name, type: "text", content: "x", path: "a\u0000b" })).exitCode).toBe(1);
    expect((await download("download", { username: user.name, type: "text", content: "x" })).result).toBe(
      "download: no file path was given",
    );
    expect((await download("download", { type: "text", content: "x", path: "/tmp/x" })).result).toBe("download: username is required");
  });

  test("download from a URL: the console's origin gets credentials, another origin does not", async () => {
    fake.route("GET", "/api/websh/uploads/9/download/", () => ({ status: 200, body: "from the console" }));
    const ok1 = await download('download "/tmp/ignored"', {
      username: user.name,
      type: "url",
      content: `${fake.url}/api/websh/uploads/9/download/`,
      path: "~/c.txt",
    });
    expect(ok1.exitCode).toBe(0);
    expect(readFileSync(`${user.home}/c.txt`, "utf8")).toBe("from the console");
    const req = fake.requests.find((r) => r.path === "/api/websh/uploads/9/download/")!;
    expect(req.headers.authorization).toContain(fake.key);
    const size = 5 * 1024 * 1024 + 17;
    const ok2 = await download("download", {
      username: user.name,
      type: "url",
      content: `${content.url}/blob/${size}`,
      path: "~/blob.bin",
    });
    expect(ok2.exitCode).toBe(0);
    expect(content.received.at(-1)!.headers.authorization).toBeUndefined();
    expect(new Bun.CryptoHasher("sha256").update(readFileSync(`${user.home}/blob.bin`)).digest("hex")).toBe(blobSha256(size));
    const missing = await download("download", { username: user.name, type: "url", content: `${content.url}/nothing`, path: "~/n.bin" });
    expect(missing).toEqual({ exitCode: 1, result: "downloading content failed (HTTP 404)" });
  });

  test("2024 dialect: the path comes from the command line, the user from the data; no stat without url", async () => {
    fake.route("GET", "/api/websh/uploads/11/download/", () => ({ status: 200, body: "legacy" }));
    const before = enqueued.length;
    const r = await handlers.download!(
      context(`download "${user.home}/legacy file.txt"`, {
        type: "url",
        content: `${fake.url}/api/websh/uploads/11/download/`,
        username: user.name,
        groupname: user.name,
      }),
    );
    expect(r).toEqual({ exitCode: 0, result: `Successfully downloaded ${user.home}/legacy file.txt.` });
    expect(readFileSync(`${user.home}/legacy file.txt`, "utf8")).toBe("legacy");
    expect(enqueued.length).toBe(before);
  });

  test("unzip extracts safely; escaping names and symlinks are refused before anything is written", async () => {
    const src = join(user.home, "zsrc");
    mkdirSync(src);
    writeFileSync(join(src, "one.txt"), "one");
    const now = new Date();
    const tmp = tempDir();
    const good = join(tmp, "good.zip");
    await zipFile(good, [
      { name: "pkg/", mode: 0o40755, mtime: now, size: 0 },
      { name: "pkg/one.txt", path: join(src, "one.txt"), mode: 0o100640, mtime: now, size: 3 },
    ]);
    expect(sh(["unzip", "-t", good]).code).toBe(0);
    const b64 = readFileSync(good).toString("base64");
    mkdirSync(join(user.home, "out"));
    sh(["chown", `${user.name}:${user.name}`, join(user.home, "out")]);
    const r = await download("download", { username: user.name, type: "base64", content: b64, path: "~/out/a.zip", allow_unzip: true });
    expect(r.exitCode).toBe(0);
    expect(readFileSync(join(user.home, "out/pkg/one.txt"), "utf8")).toBe("one");
    expect(statSync(join(user.home, "out/pkg/one.txt")).uid).toBe(user.uid);
    expect(existsSync(join(user.home, "out/a.zip"))).toBe(false);
    // Same archive again: the existing file is not replaced without allow_overwrite.
    expect(
      (await download("download", { username: user.name, type: "base64", content: b64, path: "~/out/a.zip", allow_unzip: true })).result,
    ).toContain("already exists");

    for (const [name, mode] of [
      ["../escape.txt", 0o100644],
      ["/abs.txt", 0o100644],
      ["pkg/link", 0o120777],
    ] as const) {
      const bad = join(tmp, "bad.zip");
      await zipFile(bad, [{ name, path: join(src, "one.txt"), mode, mtime: now, size: 3 }]);
      const res = await download("download", {
        username: user.name,
        type: "base64",
        content: readFileSync(bad).toString("base64"),
        path: "~/out/b.zip",
        allow_unzip: true,
      });
      expect(res.exitCode).toBe(1);
      expect(existsSync(join(user.home, "escape.txt"))).toBe(false);
      expect(existsSync(join(user.home, "out/pkg/link"))).toBe(false);
    }
    // A symlink planted in the destination is not followed (its target is writable by the user, so only the
    // extraction's own refusal keeps x.txt out of it).
    const elsewhere = join(tmp, "elsewhere");
    mkdirSync(elsewhere);
    chmodSync(tmp, 0o755);
    chmodSync(elsewhere, 0o777);
    symlinkSync(elsewhere, join(user.home, "out/trap"));
    const trap = join(tmp, "trap.zip");
    await zipFile(trap, [{ name: "trap/x.txt", path: join(src, "one.txt"), mode: 0o100644, mtime: now, size: 3 }]);
    expect(
      (
        await download("download", {
          username: user.name,
          type: "base64",
          content: readFileSync(trap).toString("base64"),
          path: "~/out/t.zip",
          allow_unzip: true,
        })
      ).exitCode,
    ).toBe(1);
    expect(existsSync(join(elsewhere, "x.txt"))).toBe(false);
    // A .jar is never unpacked.
    expect(
      (await download("download", { username: user.name, type: "base64", content: b64, path: "~/out/lib.jar", allow_unzip: true }))
        .exitCode,
    ).toBe(0);
    expect(existsSync(join(user.home, "out/lib.jar"))).toBe(true);
  });

  test("upload one file as is: multipart `content`, credentials only on the console's origin, stat", async () => {
    userFile("up.txt", "upload me");
    fake.route("POST", "/api/websh/downloads/3/upload/", () => ({ status: 201, body: {} }));
    const r = await upload("upload", {
      username: user.name,
      groupname: user.name,
      paths: ["~/up.txt"],
      content: `${fake.url}/api/websh/downloads/3/upload/`,
      url: "/api/websh/downloads/3/",
    });
    expect(r).toEqual({ exitCode: 0, result: "Successfully uploaded up.txt." });
    const req = fake.requests.find((q) => q.path === "/api/websh/downloads/3/upload/")!;
    expect(req.headers.authorization).toContain(fake.key);
    expect(req.headers["content-type"]).toStartWith("multipart/form-data; boundary=");
    expect(req.body).toContain('name="content"; filename="up.txt"');
    expect(req.body).toContain("upload me");
    expect(enqueued.at(-1)).toMatchObject({ path: "/api/websh/downloads/3/stat/", body: { success: true, type: "download" } });
    // Foreign origin: no credentials; a blob PUT carries the raw bytes.
    const blob = await upload("upload", { username: user.name, paths: ["up.txt"], content: `${content.url}/bucket/up`, use_blob: true });
    expect(blob.exitCode).toBe(0);
    const put = content.received.at(-1)!;
    expect([put.method, put.headers.authorization, readFileSync(put.file, "utf8")]).toEqual(["PUT", undefined, "upload me"]);
  });

  test("upload a directory and several paths as zips made on the fly (checked with unzip)", async () => {
    const dir = join(user.home, "proj");
    mkdirSync(join(dir, "sub"), { recursive: true });
    writeFileSync(join(dir, "a.txt"), "a".repeat(10_000));
    writeFileSync(join(dir, "sub/b.bin"), Buffer.from(crypto.getRandomValues(new Uint8Array(70_000))));
    sh(["chown", "-R", `${user.name}:${user.name}`, dir]);
    const r = await upload("upload", { username: user.name, paths: ["proj"], content: `${content.url}/dir` });
    expect(r).toEqual({ exitCode: 0, result: "Successfully uploaded proj.zip." });
    const got = content.received.at(-1)!;
    const body = readFileSync(got.file);
    expect(body.toString("latin1")).toContain('name="name"\r\n\r\nproj.zip');
    const start = body.indexOf("PK\u0003\u0004");
    const end = body.lastIndexOf("\r\n--");
    const zip = join(tempDir(), "up.zip");
    writeFileSync(zip, body.subarray(start, end));
    expect(sh(["unzip", "-t", zip])).toMatchObject({ code: 0 });
    expect(sh(["unzip", "-l", zip]).out).toContain("proj/sub/b.bin");
    expect(sh(["unzip", "-p", zip, "proj/a.txt"]).out).toBe("a".repeat(10_000));
    expect(existsSync(`${dir}.zip`)).toBe(false);

    userFile("up.txt", "upload me");
    const multi = await upload("upload", {
      username: user.name,
      paths: ["proj/a.txt", "up.txt", "/etc/hostname"],
      content: `${content.url}/multi`,
    });
    expect(multi.exitCode).toBe(0);
    const m = readFileSync(content.received.at(-1)!.file);
    writeFileSync(zip, m.subarray(m.indexOf("PK\u0003\u0004"), m.lastIndexOf("\r\n--")));
    const listing = sh(["unzip", "-l", zip]).out;
    expect(sh(["unzip", "-t", zip]).code).toBe(0);
    for (const n of ["a.txt", "up.txt", "hostname"]) expect(listing).toContain(n);
  });

  test("upload failures: unreadable paths, missing paths, a refusing console; 2024 path from the line", async () => {
    userFile("up.txt", "upload me");
    expect((await upload("upload", { username: user.name, paths: ["/root"], content: `${content.url}/x` })).result).toContain(
      "permission denied",
    );
    expect((await upload("upload", { username: user.name, paths: ["/etc/shadow"], content: `${content.url}/x` })).result).toContain(
      "permission denied",
    );
    expect((await upload("upload", { username: user.name, content: `${content.url}/x` })).result).toBe("No paths provided");
    expect((await upload("upload", { username: user.name, paths: ["nope"], content: `${content.url}/x` })).result).toContain(
      "no such file or directory",
    );
    content.status = 500;
    try {
      expect((await upload("upload", { username: user.name, paths: ["up.txt"], content: `${content.url}/x` })).result).toContain(
        "HTTP 500",
      );
    } finally {
      content.status = 200;
    }
    const legacy = await handlers.upload!(
      context(`upload "${user.home}/up.txt"`, { type: "url", content: `${content.url}/legacy`, username: user.name, groupname: user.name }),
    );
    expect(legacy).toEqual({ exitCode: 0, result: `Successfully uploaded ${user.home}/up.txt.` });
  });

  test("files[]: every item is written and reported; a failure is not masked by a later success", async () => {
    const before = enqueued.length;
    const r = await download("download", {
      username: user.name,
      files: [
        { type: "text", content: "first", path: "~/multi-1.txt", url: "/api/websh/uploads/21/" },
        { type: "text", content: "denied", path: "/root/multi-2.txt", url: "/api/websh/uploads/22/" },
        { type: "text", content: "third", path: "~/multi-3.txt", url: "/api/websh/uploads/23/" },
      ],
    });
    expect(r.exitCode).toBe(1);
    expect(r.result).toBe("1 of 3 files failed: stat /root/multi-2.txt: permission denied");
    expect(readFileSync(`${user.home}/multi-3.txt`, "utf8")).toBe("third");
    expect(enqueued.slice(before).map((i) => [i.path, (i.body as { success: boolean }).success])).toEqual([
      ["/api/websh/uploads/21/stat/", true],
      ["/api/websh/uploads/22/stat/", false],
      ["/api/websh/uploads/23/stat/", true],
    ]);
  });

  test("a large URL download into a denied directory fails at once without reading the whole body", async () => {
    const t0 = Date.now();
    const r = await download("download", {
      username: user.name,
      type: "url",
      content: `${content.url}/blob/${64 * 1024 * 1024}`,
      path: "/root/big.bin",
    });
    expect(r).toEqual({ exitCode: 1, result: "stat /root/big.bin: permission denied" });
    expect(Date.now() - t0).toBeLessThan(5_000);
    expect(existsSync("/root/big.bin")).toBe(false);
  });
});
