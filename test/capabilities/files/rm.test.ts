// `rm` removes the staged exec wrapper `/tmp/.alpacon-exec-<lower hex>.sh` and nothing else (upstream-2026 §10.1):
// real files in /tmp, run through the stand-in the registry holds, so the lazy load and the schema are exercised.
import { afterAll, describe, expect, test } from "bun:test";
import { existsSync, lstatSync, mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { createFiles } from "../../../src/capabilities/files/index.ts";
import type { CommandResult } from "../../../src/commands/contract.ts";
import { silentLogger } from "../../../src/log/logger.ts";
import { context } from "./helpers.ts";

const made: string[] = [];
afterAll(() => {
  for (const path of made.reverse()) rmSync(path, { recursive: true, force: true });
});

const spec = createFiles({ http: {} as never, enqueue: () => 1, userAgent: "alpamon/test", log: silentLogger }).commands!.find(
  (c) => c.name === "rm",
)!;

async function rm(data: object): Promise<CommandResult> {
  const ctx = context("rm", data);
  return await spec.run(ctx.data, ctx);
}

function hex(): string {
  return crypto.getRandomValues(new Uint8Array(6)).reduce((s, b) => s + b.toString(16).padStart(2, "0"), "");
}

/** A real file with known content; registered for cleanup. */
function file(path: string, content = `keep ${path}`): string {
  writeFileSync(path, content);
  made.push(path);
  return path;
}

const refused = (raw: string): CommandResult => ({ exitCode: 1, result: `rm: refusing to remove path outside staging namespace: ${raw}` });

describe("rm: the staged exec wrapper only", () => {
  test("the spec carries the file family's 10-minute timeout", () => {
    expect(spec.timeoutMs).toBe(10 * 60_000);
  });

  test("removes a real staged wrapper, and says when there is none", async () => {
    const path = file(`/tmp/.alpacon-exec-${hex()}.sh`, "#!/bin/sh\necho hi\n");
    expect(await rm({ path })).toEqual({ exitCode: 0, result: `Successfully removed ${path}.` });
    expect(existsSync(path)).toBe(false);
    expect(await rm({ path })).toEqual({ exitCode: 0, result: `${path} does not exist; nothing to remove.` });
  });

  test("the path is cleaned first (as Go's path.Clean): a detour through /tmp/.. still names the wrapper", async () => {
    const name = `.alpacon-exec-${hex()}.sh`;
    file(`/tmp/${name}`);
    expect(await rm({ path: `//tmp/../tmp/./${name}/` })).toEqual({ exitCode: 0, result: `Successfully removed /tmp/${name}.` });
    expect(existsSync(`/tmp/${name}`)).toBe(false);
  });

  test("refuses every other path and touches nothing", async () => {
    const dir = `/tmp/alpamon-rm-${hex()}`;
    mkdirSync(dir);
    made.push(dir);
    const h = hex();
    const staged = file(`/tmp/.alpacon-exec-${h}.sh`);
    const victim = file(`${dir}/victim`);
    const nested = file(`${dir}/.alpacon-exec-${h}.sh`);
    const link = `${dir}/link-to-staged`;
    symlinkSync(staged, link);
    const cases = [
      "/etc/passwd",
      victim,
      nested,
      link,
      `/tmp/.alpacon-exec-${h}.sh/../../etc/passwd`,
      `/tmp/.alpacon-exec-${h}.sh/../${dir.slice(5)}/victim`,
      `../../tmp/.alpacon-exec-${h}.sh`,
      `tmp/.alpacon-exec-${h}.sh`,
      `.alpacon-exec-${h}.sh`,
      `/tmp/.alpacon-exec-${h.toUpperCase()}x.sh`,
      `/tmp/.alpacon-exec-${h}.sh.bak`,
      `/tmp/.alpacon-exec-${h}.shx`,
      `/tmp/.alpacon-exec-${h}.sh\0`,
      `/tmp/.alpacon-exec-${h} .sh`,
      "/tmp/.alpacon-exec-.sh",
      "/tmp/.alpacon-exec-xyz.sh",
      `/tmp/alpacon-exec-${h}.sh`,
      `/var/tmp/.alpacon-exec-${h}.sh`,
      "/tmp",
      "/",
      "",
    ];
    for (const raw of cases) expect(await rm({ path: raw })).toEqual(refused(raw));
    for (const path of [staged, victim, nested]) expect(readFileSync(path, "utf8")).toBe(`keep ${path}`);
    expect(lstatSync(link).isSymbolicLink()).toBe(true);
    expect(existsSync("/etc/passwd")).toBe(true);
  });

  test("a staged name that is a symlink loses the link; its target is never followed", async () => {
    const target = file(`/tmp/alpamon-rm-target-${hex()}`);
    const link = `/tmp/.alpacon-exec-${hex()}.sh`;
    symlinkSync(target, link);
    made.push(link);
    expect(await rm({ path: link })).toEqual({ exitCode: 0, result: `Successfully removed ${link}.` });
    expect(existsSync(link)).toBe(false);
    expect(readFileSync(target, "utf8")).toBe(`keep ${target}`);
  });

  test("a staged name that is a directory is not removed: the OS error", async () => {
    const path = `/tmp/.alpacon-exec-${hex()}.sh`;
    mkdirSync(path);
    made.push(path);
    writeFileSync(`${path}/inside`, "x");
    expect(await rm({ path })).toEqual({ exitCode: 1, result: `remove ${path}: is a directory` });
    expect(readFileSync(`${path}/inside`, "utf8")).toBe("x");
  });

  test("data.path is required and must be a string", async () => {
    expect(await rm({})).toEqual({ exitCode: 1, result: "rm: path is required" });
    expect(await rm({ path: 3 })).toEqual({ exitCode: 1, result: "rm: path must be a string" });
  });
});
