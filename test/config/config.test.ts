import { describe, expect, test } from "bun:test";
import { chmodSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { ConfigError } from "../../src/config/errors.ts";
import { parseIni } from "../../src/config/ini.ts";
import { defaultCandidates, loadConfig } from "../../src/config/load.ts";
import { parseBool } from "../../src/config/schema.ts";
import { renderConfig, runSetup, setupInputFromEnv, validateSetupInput } from "../../src/config/setup.ts";
import { runCli } from "../helpers/cli.ts";
import { useTempDirs } from "../helpers/tmp.ts";

const tempDir = useTempDirs("alpamon-config-");
const GOOD = `[server]
url = https://console.example.com/
id = 7b4cbc4c-1111-4222-8333-944445555666
key = s3cr3t-KEY_value
`;

function writeConf(text: string, name = "alpamon.conf"): string {
  const path = join(tempDir(), name);
  writeFileSync(path, text);
  return path;
}

function configError(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (err) {
    if (err instanceof ConfigError) return err;
    throw err;
  }
  throw new Error("expected a ConfigError");
}

describe("INI parsing", () => {
  test("inline comments are cut from unquoted values, kept inside double quotes", () => {
    const s = parseIni('[server]\nkey = abc#def\nid = abc;def\nurl = "https://h/#x;y"\n');
    expect(s.server).toEqual({ key: "abc", id: "abc", url: "https://h/#x;y" });
  });
  test("comment lines with # and ; are ignored, colon works as a delimiter", () => {
    const s = parseIni("# a\n; b\n[ssl]\nverify: false\nca_cert : /x.pem\n");
    expect(s.ssl).toEqual({ verify: "false", ca_cert: "/x.pem" });
  });
  test("single-quoted values are unquoted, a duplicated key keeps the last value", () => {
    const s = parseIni("[logging]\ndebug = 'true'\ndebug = off\n[server]\nid = 'a b'\n");
    expect(s.logging!.debug).toBe("off");
    expect(s.server!.id).toBe("a b");
  });
});

describe("bool spellings", () => {
  test("accepts the go-ini words in any case and nothing else", () => {
    for (const word of ["1", "t", "T", "TRUE", "true", "yes", "Y", "on", "On"]) expect(parseBool(word)).toBe(true);
    for (const word of ["0", "f", "FALSE", "no", "N", "off", "OFF"]) expect(parseBool(word)).toBe(false);
    for (const word of ["ture", "2", "enabled", "", "nope"]) expect(parseBool(word)).toBeUndefined();
  });
});

describe("loading and validation", () => {
  test("a good file: trailing slash removed, verify defaults to TRUE, debug false, default paths", () => {
    const config = loadConfig({ explicitPath: writeConf(GOOD) });
    expect(config.serverUrl).toBe("https://console.example.com");
    expect(config.ssl.verify).toBe(true);
    expect(config.ssl.caCert).toBeUndefined();
    expect(config.debug).toBe(false);
    expect(config.dataDir).toBe("/var/lib/alpamon");
    expect(config.logFile).toBe("/var/log/alpamon/alpamon.log");
    expect(config.pidFile).toBe("/run/alpamon/alpamon.pid");
    expect(config.outbox).toEqual({ maxRows: 50_000, maxBytes: 64 * 1024 * 1024 });
  });

  test("[files] unzip limits: defaults 4 GiB, 200:1 and 100,000 entries; sizes take K/M/G/T, ratios N or N:1", () => {
    expect(loadConfig({ explicitPath: writeConf(GOOD) }).files.unzip).toEqual({
      maxBytes: 4 * 1024 ** 3,
      maxRatio: 200,
      maxEntries: 100_000,
    });
    const set = loadConfig({
      explicitPath: writeConf(`${GOOD}[files]\nunzip_max_bytes = 512M\nunzip_max_ratio = 50:1\nunzip_max_entries = 10\n`),
    });
    expect(set.files.unzip).toEqual({ maxBytes: 512 * 1024 ** 2, maxRatio: 50, maxEntries: 10 });
    const plain = loadConfig({ explicitPath: writeConf(`${GOOD}[files]\nunzip_max_bytes = 1000\nunzip_max_ratio = 1000\n`) });
    expect(plain.files.unzip).toMatchObject({ maxBytes: 1000, maxRatio: 1000 });
    expect(loadConfig({ explicitPath: writeConf(`${GOOD}[files]\nunzip_max_bytes = 2GiB\n`) }).files.unzip.maxBytes).toBe(2 * 1024 ** 3);
  });

  test("[commands] shell_timeout: seconds, default 1800 (30 minutes)", () => {
    expect(loadConfig({ explicitPath: writeConf(GOOD) }).commands).toEqual({ shellTimeoutMs: 1_800_000 });
    const set = loadConfig({ explicitPath: writeConf(`${GOOD}[commands]\nshell_timeout = 5\n`) });
    expect(set.commands.shellTimeoutMs).toBe(5_000);
    expect(loadConfig({ explicitPath: writeConf(`${GOOD}[commands]\nshell_timeout = 604800\n`) }).commands.shellTimeoutMs).toBe(
      604_800_000,
    );
  });

  test("the agent refuses a bad [commands] shell_timeout: exit 78 and one line naming the key", async () => {
    const dir = tempDir();
    const path = writeConf(
      `${GOOD}[agent]\ndata_dir = ${dir}/state\nlog_file = -\npid_file = ${dir}/alpamon.pid\n[commands]\nshell_timeout = 30m\n`,
    );
    const { code, signal, stderr } = await runCli(["--config", path], { timeoutMs: 15_000 });
    expect({ code, signal }).toEqual({ code: 78, signal: null });
    expect(stderr.trim().split("\n")).toEqual([
      `alpamon: config error: ${path}: [commands] shell_timeout: must be a whole number of seconds from 1 to 604800 (got "30m"; default 1800)`,
    ]);
  });

  test("[agent] paths are read, and log_file '-' means stderr", () => {
    const config = loadConfig({
      explicitPath: writeConf(`${GOOD}[agent]\ndata_dir = /srv/a\nlog_file = -\npid_file = /tmp/a.pid\n`),
    });
    expect([config.dataDir, config.logFile, config.pidFile]).toEqual(["/srv/a", "-", "/tmp/a.pid"]);
  });

  const bad: [string, string, RegExp][] = [
    ["unparsable verify", `${GOOD}[ssl]\nverify = ture\n`, /\[ssl\] verify: is not a boolean/],
    ["unparsable debug", `${GOOD}[logging]\ndebug = maybe\n`, /\[logging\] debug: is not a boolean/],
    ["url without scheme", GOOD.replace("https://", ""), /\[server\] url: must start with http:\/\/ or https:\/\//],
    ["ftp url", GOOD.replace("https://", "ftp://"), /\[server\] url: must start with http/],
    ["empty id", GOOD.replace(/^id = .*$/m, "id ="), /\[server\] id: is empty/],
    ["empty key", GOOD.replace(/^key = .*$/m, "key = "), /\[server\] key: is empty/],
    ["missing key", GOOD.replace(/^key = .*$/m, ""), /\[server\] key: is empty/],
    ["quote in key", GOOD.replace(/^key = .*$/m, 'key = ab"c'), /\[server\] key: may contain only/],
    ["relative data_dir", `${GOOD}[agent]\ndata_dir = state\n`, /\[agent\] data_dir: must be an absolute path/],
    ["a zero outbox cap", `${GOOD}[agent]\noutbox_max_rows = 0\n`, /\[agent\] outbox_max_rows: must be a positive whole number/],
    ["a fractional byte cap", `${GOOD}[agent]\noutbox_max_bytes = 1.5\n`, /\[agent\] outbox_max_bytes: must be a positive whole number/],
    ["credentials in url", GOOD.replace("https://", "https://u:p@"), /\[server\] url: must not contain a user/],
    [
      "a password without a user name in url",
      GOOD.replace("https://", "https://:pw@"),
      /\[server\] url: must not contain a user name or password/,
    ],
    [
      "a user name without a password in url",
      GOOD.replace("https://", "https://u@"),
      /\[server\] url: must not contain a user name or password/,
    ],
    // The URL parser drops an empty user info, but the value is used as written (request URLs, the Origin header).
    ["an empty user info in url", GOOD.replace("https://", "https://@"), /\[server\] url: must not contain a user name or password/],
    [
      "an empty user and password in url",
      GOOD.replace("https://", "https://:@"),
      /\[server\] url: must not contain a user name or password/,
    ],
    ["a zero unzip size", `${GOOD}[files]\nunzip_max_bytes = 0\n`, /\[files\] unzip_max_bytes: must be a positive size in bytes/],
    [
      "an unknown size unit",
      `${GOOD}[files]\nunzip_max_bytes = 4X\n`,
      /\[files\] unzip_max_bytes: must be a positive size in bytes, optionally with K, M, G or T \(got "4X"\)/,
    ],
    [
      "a fractional ratio",
      `${GOOD}[files]\nunzip_max_ratio = 1.5:1\n`,
      /\[files\] unzip_max_ratio: must be a positive whole number \(got "1.5:1"\)/,
    ],
    [
      "a zero shell_timeout",
      `${GOOD}[commands]\nshell_timeout = 0\n`,
      /\[commands\] shell_timeout: must be a whole number of seconds from 1 to 604800 \(got "0"/,
    ],
    [
      "a negative shell_timeout",
      `${GOOD}[commands]\nshell_timeout = -5\n`,
      /\[commands\] shell_timeout: must be a whole number of seconds/,
    ],
    [
      "a fractional shell_timeout",
      `${GOOD}[commands]\nshell_timeout = 1.5\n`,
      /\[commands\] shell_timeout: must be a whole number of seconds/,
    ],
    [
      "a shell_timeout over a week",
      `${GOOD}[commands]\nshell_timeout = 604801\n`,
      /\[commands\] shell_timeout: must be a whole number of seconds/,
    ],
    ["a negative entry count", `${GOOD}[files]\nunzip_max_entries = -1\n`, /\[files\] unzip_max_entries: must be a positive whole number/],
  ];
  for (const [name, text, message] of bad) {
    test(`rejects ${name} with a message naming file and key`, () => {
      const path = writeConf(text);
      const err = configError(() => loadConfig({ explicitPath: path }));
      expect(err.message).toMatch(message);
      expect(err.message.startsWith(path)).toBe(true);
    });
  }

  test("the agent refuses a url with a password but no user name: exit 78, one line, the password never shown", async () => {
    const dir = tempDir();
    const path = writeConf(
      `${GOOD.replace("https://", "https://:hunter2pw@")}[agent]\ndata_dir = ${dir}/state\nlog_file = -\npid_file = ${dir}/alpamon.pid\n`,
    );
    // Bounded: an agent that accepted the file would run (and retry the console) until killed.
    const { code, signal, stdout, stderr } = await runCli(["--config", path], { timeoutMs: 15_000 });
    expect({ code, signal }).toEqual({ code: 78, signal: null });
    expect(stderr.trim().split("\n")).toEqual([`alpamon: config error: ${path}: [server] url: must not contain a user name or password`]);
    expect(stdout + stderr).not.toContain("hunter2pw");
  });

  test("a url whose path, query or fragment holds an @ is not taken for user info", () => {
    expect(loadConfig({ explicitPath: writeConf(GOOD.replace("console.example.com/", "console.example.com/team@ops")) }).serverUrl).toBe(
      "https://console.example.com/team@ops",
    );
  });

  test("the key never appears in an error message", () => {
    const path = writeConf(GOOD.replace(/^key = .*$/m, "key = top secret value"));
    const err = configError(() => loadConfig({ explicitPath: path }));
    expect(err.message).not.toContain("top secret");
  });

  test("an unreadable or non-PEM ca_cert is an error", () => {
    const missing = writeConf(`${GOOD}[ssl]\nca_cert = /nonexistent/ca.pem\n`);
    expect(configError(() => loadConfig({ explicitPath: missing })).message).toMatch(
      /\[ssl\] ca_cert: cannot read \/nonexistent\/ca.pem \(ENOENT\)/,
    );
    const notPem = writeConf("hello", "ca.pem");
    const withBad = writeConf(`${GOOD}[ssl]\nca_cert = ${notPem}\n`);
    expect(configError(() => loadConfig({ explicitPath: withBad })).message).toMatch(/holds no PEM certificate/);
  });

  test("precedence: the first existing non-empty candidate wins, empty files are skipped", () => {
    const empty = writeConf("", "empty.conf");
    const first = writeConf(GOOD.replace("console.example.com", "first.example"), "first.conf");
    const second = writeConf(GOOD.replace("console.example.com", "second.example"), "second.conf");
    const config = loadConfig({ env: {}, candidates: ["/nonexistent/a.conf", empty, first, second] });
    expect(config.serverUrl).toBe("https://first.example");
    expect(config.source).toBe(first);
  });

  test("ALPAMON_CONFIG names the file, --config wins over it", () => {
    const a = writeConf(GOOD.replace("console.example.com", "a.example"), "a.conf");
    const b = writeConf(GOOD.replace("console.example.com", "b.example"), "b.conf");
    expect(loadConfig({ env: { ALPAMON_CONFIG: a }, candidates: [] }).serverUrl).toBe("https://a.example");
    expect(loadConfig({ explicitPath: b, env: { ALPAMON_CONFIG: a } }).serverUrl).toBe("https://b.example");
  });

  test("no file at all is a config error that says where it looked", () => {
    const err = configError(() => loadConfig({ env: {}, candidates: ["/nonexistent/x.conf"] }));
    expect(err.message).toMatch(/no configuration file found \(looked in \/nonexistent\/x.conf\)/);
  });

  test("an explicit file that is empty or missing is an error, not a fallback", () => {
    expect(configError(() => loadConfig({ explicitPath: writeConf("  \n") })).message).toMatch(/is empty/);
    expect(configError(() => loadConfig({ explicitPath: "/nonexistent/c.conf" })).message).toMatch(/ENOENT/);
  });

  test("HOME is only used when absolute", () => {
    expect(defaultCandidates({ HOME: "/root" })).toEqual(["/etc/alpamon/alpamon.conf", "/root/.alpamon.conf"]);
    expect(defaultCandidates({ HOME: "relative" })).toEqual(["/etc/alpamon/alpamon.conf"]);
    expect(defaultCandidates({})).toEqual(["/etc/alpamon/alpamon.conf"]);
  });
});

describe("setup", () => {
  const env = { ALPACON_URL: "https://c.example", PLUGIN_ID: "abc-123", PLUGIN_KEY: "k#ey;with=odd" };

  test("renders a file the loader reads back exactly, with safe defaults", async () => {
    const target = join(tempDir(), "etc", "alpamon.conf");
    const outcome = await runSetup(setupInputFromEnv(env, {}), { target, print: () => {} });
    expect(outcome).toBe("written");
    expect(statSync(target).mode & 0o777).toBe(0o600);
    const config = loadConfig({ explicitPath: target });
    expect(config.key).toBe("k#ey;with=odd");
    expect(config.ssl.verify).toBe(true);
    expect(config.debug).toBe(false);
  });

  test("flags win over the environment; an empty env value counts as unset", () => {
    const input = setupInputFromEnv({ ...env, PLUGIN_DEBUG: "" }, { url: "http://flag.example" });
    expect(input.url).toBe("http://flag.example");
    expect(input.debug).toBeUndefined();
  });

  test("missing values are named together; a newline cannot inject INI lines", () => {
    expect(() => validateSetupInput({})).toThrow(/missing ALPACON_URL \(--url\), PLUGIN_ID \(--id\), PLUGIN_KEY/);
    expect(() => validateSetupInput({ ...setupInputFromEnv(env, {}), id: "x\n[ssl]\nverify=false" })).toThrow(/line break/);
    expect(() => validateSetupInput({ ...setupInputFromEnv(env, {}), sslVerify: "sure" })).toThrow(/ALPACON_SSL_VERIFY: is not a boolean/);
  });

  test("an existing file is kept unless forced or confirmed", async () => {
    const target = writeConf("[server]\nurl = https://old\n");
    const input = setupInputFromEnv(env, {});
    expect(await runSetup(input, { target, print: () => {} })).toBe("kept");
    expect(await runSetup(input, { target, print: () => {}, confirmOverwrite: async () => false })).toBe("kept");
    expect(await runSetup(input, { target, print: () => {}, confirmOverwrite: async () => true })).toBe("written");
    writeFileSync(target, "[server]\n");
    expect(await runSetup(input, { target, force: true, print: () => {} })).toBe("written");
    expect(loadConfig({ explicitPath: target }).serverUrl).toBe("https://c.example");
  });

  test("the rendered template quotes every free-text value", () => {
    const text = renderConfig({ url: "https://h", id: "i", key: "k;#", verify: false, caCert: undefined, debug: true });
    expect(text).toContain('key = "k;#"');
    expect(text).toContain("verify = false");
    expect(text).toContain("debug = true");
  });

  test("an unwritable target is reported", async () => {
    const dir = tempDir();
    chmodSync(dir, 0o500);
    try {
      // root ignores directory permissions; only assert when the write is really refused
      const attempt = runSetup(setupInputFromEnv(env, {}), { target: join(dir, "sub", "a.conf"), print: () => {} });
      if (process.getuid?.() !== 0) await expect(attempt).rejects.toThrow(/EACCES/);
      else expect(await attempt).toBe("written");
    } finally {
      chmodSync(dir, 0o700);
    }
  });
});
