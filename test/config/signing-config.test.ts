// `[signing]` (README, "Signed commands"): defaults, each key's validation, and the agent refusing a bad value
// with exit 78 and one line naming the key.
import { describe, expect, test } from "bun:test";
import { join } from "node:path";
import { writeFileSync } from "node:fs";
import { UPSTREAM_KEY_URL } from "../../src/config/schema.ts";
import { TestSigner } from "../console/fake-signer.ts";
import { runCli } from "../helpers/cli.ts";
import { useConfigFiles } from "../helpers/config.ts";

const { tempDir, load, problem } = useConfigFiles("alpamon-signing-config-");
const server = (url = "https://console.example.com") => `[server]\nurl = ${url}\nid = srv-1\nkey = s3cr3t-KEY_value\n`;

describe("[signing]", () => {
  test("defaults: monitor, upstream's key URL (dev only for dev.alpacon.io), no pins, [ssl] ca_cert, 10 minutes", () => {
    expect(load(server()).signing).toEqual({
      mode: "monitor",
      keyUrl: UPSTREAM_KEY_URL,
      pinnedKeys: [],
      caCert: undefined,
      maxAgeMs: 600_000,
    });
    expect(load(server("https://DEV.alpacon.io")).signing.keyUrl).toBe(`${UPSTREAM_KEY_URL}?auth_env=dev`);
    expect(load(server("https://dev.alpacon.io.example.com")).signing.keyUrl).toBe(UPSTREAM_KEY_URL);
  });

  test("values are read", () => {
    const a = new TestSigner("a-1");
    const b = new TestSigner("b.2");
    const config = load(
      `${server()}[signing]\nmode = Enforce\nkey_url = https://keys.example.com/k/?env=x\npublic_keys = ${a.pin()} , ${b.pin()}\nmax_age = 60\n`,
    ).signing;
    expect(config).toEqual({
      mode: "enforce",
      keyUrl: "https://keys.example.com/k/?env=x",
      pinnedKeys: [
        { keyId: "a-1", publicKey: a.publicKey },
        { keyId: "b.2", publicKey: b.publicKey },
      ],
      caCert: undefined,
      maxAgeMs: 60_000,
    });
    expect(load(`${server()}[signing]\nmode = off\nkey_url = http://127.0.0.1:8/k/\n`).signing).toMatchObject({ mode: "off" });
  });

  test.each([
    ["mode = strict", '[signing] mode: must be monitor, enforce or off (got "strict")'],
    ["key_url = http://keys.example.com/k/", "[signing] key_url: must be an https:// URL (http:// only on a loopback host)"],
    ["key_url = ftp://keys.example.com/k/", "[signing] key_url: must be an https:// URL"],
    ["key_url = https://user:pw@keys.example.com/", "[signing] key_url: must not contain a user name or password"],
    ["key_url = not a url", "[signing] key_url: is not a valid URL"],
    ["public_keys = nokey", "[signing] public_keys: entry 1 must be key_id:base64"],
    [
      `public_keys = a:${Buffer.alloc(31).toString("base64")}`,
      "[signing] public_keys: entry 1 (a): the key must be standard base64 of 32 bytes",
    ],
    [`public_keys = a:${Buffer.alloc(32).toString("base64")}, a:${Buffer.alloc(32, 1).toString("base64")}`, "key_id a is listed twice"],
    ["max_age = 0", "[signing] max_age: must be a whole number of seconds from 1 to 86400"],
    ["max_age = 10m", "[signing] max_age: must be a whole number of seconds"],
    ["ca_cert = /nonexistent/ca.pem", "[signing] ca_cert: cannot read /nonexistent/ca.pem"],
  ])("%s is refused", (line, message) => {
    expect(problem(`${server()}[signing]\n${line}\n`)).toContain(message);
  });

  test("the agent refuses a bad [signing] value: exit 78 and one line naming the key", async () => {
    const dir = tempDir();
    const path = join(dir, "alpamon.conf");
    writeFileSync(
      path,
      `${server()}[agent]\ndata_dir = ${dir}/state\nlog_file = -\npid_file = ${dir}/alpamon.pid\n[signing]\nmode = enforcing\n`,
    );
    const { code, signal, stderr } = await runCli(["--config", path], { timeoutMs: 15_000 });
    expect({ code, signal }).toEqual({ code: 78, signal: null });
    expect(stderr.trim().split("\n")).toEqual([
      `alpamon: config error: ${path}: [signing] mode: must be monitor, enforce or off (got "enforcing")`,
    ]);
  });
});
