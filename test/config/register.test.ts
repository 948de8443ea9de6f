// `alpamon register` / `unregister` against the fake console (TLS with its throwaway CA): the token travels
// only in the Authorization header, the config is written 0600 and loads, existing registrations are kept
// unless --force, failures write nothing, and the service is started through systemctl argv only.
import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { existsSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { loadConfig } from "../../src/config/load.ts";
import {
  normalizeServerName,
  parseTags,
  REGISTER_PATH,
  RegisterError,
  resolveToken,
  runRegister,
  runUnregister,
} from "../../src/config/register.ts";
import type { RunOptions, RunResult } from "../../src/exec/types.ts";
import { detectPlatform } from "../../src/platform/os-release.ts";
import { FakeConsole } from "../console/fake-console.ts";
import { runCli } from "../helpers/cli.ts";
import { useTempDirs } from "../helpers/tmp.ts";

const tempDir = useTempDirs("alpamon-register-");
const TOKEN = "tok_Reg1stration-SECRET-0123456789";
const NEW_ID = "7b4cbc4c-1111-4222-8333-944445555666";
const NEW_KEY = "NewKey_abcdefghijklmnopqrstuvwxyz012345";
const DEBIAN = () => detectPlatform({ ID: "debian", VERSION_ID: "12", NAME: "Debian GNU/Linux" });

let fake: FakeConsole;

beforeEach(async () => {
  fake = await FakeConsole.start({ tls: true });
});
afterEach(async () => {
  await fake.stop();
});

/** The console's register endpoint: 201 with {id, key, name} (or what `reply` says). */
function answerRegister(reply: { status: number; body: unknown } = { status: 201, body: { id: NEW_ID, key: NEW_KEY, name: "web-1" } }) {
  return fake.fault({ method: "POST", path: REGISTER_PATH }, { status: reply.status, body: JSON.stringify(reply.body) });
}

function registerRequests() {
  return fake.requests.filter((r) => r.method === "POST" && r.path === REGISTER_PATH);
}

function tokenFile(dir: string): string {
  const path = join(dir, "token");
  writeFileSync(path, `${TOKEN}\n`, { mode: 0o600 });
  return path;
}

describe("alpamon register (CLI)", () => {
  test("--token-file registers, writes a loadable 0600 config and keeps the token out of output and config", async () => {
    answerRegister();
    const dir = tempDir();
    const conf = join(dir, "etc", "alpamon.conf");
    const r = await runCli([
      "register",
      "--no-cloud-probe",
      "--url",
      fake.url,
      "--token-file",
      tokenFile(dir),
      "--name",
      "web-1",
      "--ca-cert",
      fake.caCertPath!,
      "--tag",
      "env=prod",
      "--tag",
      "role=web,tier=1",
      "--config",
      conf,
      "--no-start",
    ]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(NEW_ID);
    expect(r.stdout).toContain("Cloud detection skipped (--no-cloud-probe).");
    expect(r.stdout + r.stderr).not.toContain(TOKEN);

    const [req] = registerRequests();
    expect(req!.headers.authorization).toBe(`token="${TOKEN}"`);
    expect(req!.headers["content-type"]).toBe("application/json");
    const body = req!.json as { name: string; platform: string; tags: Record<string, string> };
    expect(body.name).toBe("web-1");
    expect(typeof body.platform).toBe("string");
    expect(body.platform.length).toBeGreaterThan(0);
    expect(body.tags).toEqual({ env: "prod", role: "web", tier: "1" });

    expect(statSync(conf).mode & 0o777).toBe(0o600);
    expect(readFileSync(conf, "utf8")).not.toContain(TOKEN);
    const config = loadConfig({ explicitPath: conf, env: {} });
    expect(config.serverUrl).toBe(fake.url);
    expect(config.id).toBe(NEW_ID);
    expect(config.key).toBe(NEW_KEY);
    expect(config.ssl).toEqual({ verify: true, caCert: fake.caCertPath });
    expect(config.debug).toBe(false);
  });

  test("ALPACON_TOKEN works without a flag; --token works but warns that it is visible", async () => {
    answerRegister();
    const dir = tempDir();
    const viaEnv = await runCli(
      ["register", "--no-cloud-probe", "--url", fake.url, "--ca-cert", fake.caCertPath!, "--config", join(dir, "a.conf"), "--no-start"],
      {
        env: { ALPACON_TOKEN: TOKEN },
      },
    );
    expect(viaEnv.code).toBe(0);
    expect(viaEnv.stderr).toBe("");
    const viaFlag = await runCli([
      "register",
      "--no-cloud-probe",
      "--url",
      fake.url,
      "--token",
      TOKEN,
      "--ca-cert",
      fake.caCertPath!,
      "--config",
      join(dir, "b.conf"),
      "--no-start",
    ]);
    expect(viaFlag.code).toBe(0);
    expect(viaFlag.stderr).toContain("visible");
    expect(viaFlag.stderr + viaFlag.stdout).not.toContain(TOKEN);
    expect(registerRequests().map((r) => r.headers.authorization)).toEqual([`token="${TOKEN}"`, `token="${TOKEN}"`]);
  });

  test("an existing registration is kept unless --force; --force replaces it", async () => {
    answerRegister();
    const dir = tempDir();
    const conf = join(dir, "alpamon.conf");
    const old = `[server]\nurl = ${fake.url}\nid = old-id\nkey = oldkey\n`;
    writeFileSync(conf, old, { mode: 0o600 });
    const args = [
      "register",
      "--no-cloud-probe",
      "--url",
      fake.url,
      "--token-file",
      tokenFile(dir),
      "--ca-cert",
      fake.caCertPath!,
      "--config",
      conf,
      "--no-start",
    ];
    const refused = await runCli(args);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain("--force");
    expect(readFileSync(conf, "utf8")).toBe(old);
    expect(registerRequests()).toHaveLength(0);

    const forced = await runCli([...args, "--force"]);
    expect(forced.code).toBe(0);
    expect(loadConfig({ explicitPath: conf, env: {} }).id).toBe(NEW_ID);
  });

  test("a refused token fails with a hint and writes nothing; the token is not echoed", async () => {
    answerRegister({ status: 403, body: { detail: `Invalid token ${TOKEN}.` } });
    const dir = tempDir();
    const conf = join(dir, "alpamon.conf");
    const r = await runCli([
      "register",
      "--no-cloud-probe",
      "--url",
      fake.url,
      "--token-file",
      tokenFile(dir),
      "--ca-cert",
      fake.caCertPath!,
      "--config",
      conf,
      "--no-start",
    ]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("HTTP 403");
    expect(r.stderr).toContain("Invalid token ***.");
    expect(r.stderr + r.stdout).not.toContain(TOKEN);
    expect(existsSync(conf)).toBe(false);
  });

  test("without the console's CA the TLS check fails (verify defaults to true)", async () => {
    answerRegister();
    const dir = tempDir();
    const conf = join(dir, "alpamon.conf");
    const r = await runCli([
      "register",
      "--no-cloud-probe",
      "--url",
      fake.url,
      "--token-file",
      tokenFile(dir),
      "--config",
      conf,
      "--no-start",
    ]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("cannot reach");
    expect(existsSync(conf)).toBe(false);
  });

  test("no token at all, or both flags, is a clear error before any request", async () => {
    const dir = tempDir();
    const none = await runCli(["register", "--no-cloud-probe", "--url", fake.url, "--config", join(dir, "c.conf"), "--no-start"]);
    expect(none.code).toBe(1);
    expect(none.stderr).toContain("no API token");
    const both = await runCli([
      "register",
      "--no-cloud-probe",
      "--url",
      fake.url,
      "--token",
      "x",
      "--token-file",
      tokenFile(dir),
      "--config",
      join(dir, "c.conf"),
    ]);
    expect(both.code).toBe(1);
    expect(both.stderr).toContain("not both");
    expect(registerRequests()).toHaveLength(0);
  });

  test("unregister needs --yes without a terminal, then removes the config", async () => {
    const dir = tempDir();
    const conf = join(dir, "alpamon.conf");
    writeFileSync(conf, `[server]\nurl = ${fake.url}\nid = ${NEW_ID}\nkey = ${NEW_KEY}\n`, { mode: 0o600 });
    const refused = await runCli(["unregister", "--config", conf, "--no-stop"]);
    expect(refused.code).toBe(1);
    expect(existsSync(conf)).toBe(true);
    const done = await runCli(["unregister", "--config", conf, "--yes", "--no-stop"]);
    expect(done.code).toBe(0);
    expect(done.stdout).toContain(NEW_ID);
    expect(existsSync(conf)).toBe(false);
    const again = await runCli(["unregister", "--config", conf, "--yes", "--no-stop"]);
    expect(again.code).toBe(0);
    expect(again.stdout).toContain("No registration");
  });
});

describe("register internals", () => {
  test("with systemd the service is reloaded, enabled and restarted by argv; the token is in no argv or env", async () => {
    answerRegister({ status: 201, body: { id: NEW_ID, key: NEW_KEY } });
    const calls: RunOptions[] = [];
    const runProcess = async (o: RunOptions): Promise<RunResult> => {
      calls.push(o);
      return { exitCode: 0, output: "", omittedBytes: 0, timedOut: false };
    };
    const lines: string[] = [];
    const target = join(tempDir(), "alpamon.conf");
    const reg = await runRegister(
      { url: fake.url, token: TOKEN, caCert: fake.caCertPath },
      {
        target,
        platform: DEBIAN,
        hostname: () => "web-2.example.com",
        userAgent: "test",
        runProcess,
        hasSystemd: () => true,
        print: (l) => lines.push(l),
        cloud: false,
      },
    );
    expect(reg).toEqual({ id: NEW_ID, name: "web-2", target, service: "started" });
    expect(calls.map((c) => c.argv)).toEqual([
      ["systemctl", "daemon-reload"],
      ["systemctl", "enable", "alpamon.service"],
      ["systemctl", "restart", "alpamon.service"],
    ]);
    expect(JSON.stringify(calls)).not.toContain(TOKEN);
    expect(lines.join("\n")).not.toContain(TOKEN);
    expect(registerRequests()[0]!.json).toEqual({ name: "web-2", platform: "debian" });
  });

  test("a failing systemctl does not undo the registration", async () => {
    answerRegister();
    const runProcess = async (): Promise<RunResult> => ({
      exitCode: 1,
      output: "Failed to connect to bus",
      omittedBytes: 0,
      timedOut: false,
    });
    const lines: string[] = [];
    const target = join(tempDir(), "alpamon.conf");
    const reg = await runRegister(
      { url: fake.url, token: TOKEN, caCert: fake.caCertPath, name: "x" },
      { target, platform: DEBIAN, userAgent: "test", runProcess, hasSystemd: () => true, print: (l) => lines.push(l), cloud: false },
    );
    expect(reg.service).toBe("failed");
    expect(lines.join("\n")).toContain("systemctl enable --now");
    expect(loadConfig({ explicitPath: target, env: {} }).id).toBe(NEW_ID);
  });

  test("an answer without a usable key writes nothing", async () => {
    answerRegister({ status: 201, body: { id: NEW_ID, key: 'bad"key' } });
    const target = join(tempDir(), "alpamon.conf");
    const run = runRegister(
      { url: fake.url, token: TOKEN, caCert: fake.caCertPath, name: "x" },
      {
        target,
        platform: DEBIAN,
        userAgent: "test",
        runProcess: async () => {
          throw new Error("not called");
        },
        noStart: true,
        print: () => {},
        cloud: false,
      },
    );
    await expect(run).rejects.toThrow(/key/);
    expect(existsSync(target)).toBe(false);
  });

  test("unregister stops and disables the service through systemctl", async () => {
    const target = join(tempDir(), "alpamon.conf");
    writeFileSync(target, `[server]\nid = ${NEW_ID}\n`);
    const argvs: string[][] = [];
    const runProcess = async (o: RunOptions): Promise<RunResult> => {
      argvs.push(o.argv);
      return { exitCode: 0, output: "", omittedBytes: 0, timedOut: false };
    };
    expect(await runUnregister({ target, runProcess, hasSystemd: () => true, print: () => {} })).toBe("removed");
    expect(argvs).toEqual([
      ["systemctl", "stop", "alpamon.service"],
      ["systemctl", "disable", "alpamon.service"],
    ]);
    expect(existsSync(target)).toBe(false);
  });

  test("names follow the console's slug rule; tags parse; tokens are checked", () => {
    expect(normalizeServerName("web 1.example/com")).toBe("web-1-example-com");
    expect(normalizeServerName("--ok_name--")).toBe("ok_name");
    expect(normalizeServerName("äöü")).toBe("");
    expect(normalizeServerName("a".repeat(80))).toHaveLength(64);
    expect(parseTags(["a=1,b=2", "c=x=y"])).toEqual({ a: "1", b: "2", c: "x=y" });
    expect(() => parseTags(["novalue"])).toThrow(RegisterError);
    expect(() => resolveToken({ env: { ALPACON_TOKEN: 'has"quote' } })).toThrow(/printable/);
    expect(() => resolveToken({ env: { ALPACON_TOKEN: "two\nlines" } })).toThrow(RegisterError);
    expect(resolveToken({ env: {}, file: "/x", readFile: () => ` ${TOKEN}\n` })).toEqual({ token: TOKEN });
  });
});
