// `[tunnel] allowed_ports` and `[editor] idle_timeout`, `code_server` (README, "Tunnels"): defaults, parsing,
// and the agent refusing a bad value with exit 78 and one line naming the key.
import { describe, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { formatPortList, parsePortList, portAllowed } from "../../src/config/schema.ts";
import { runCli } from "../helpers/cli.ts";
import { useConfigFiles } from "../helpers/config.ts";

const { tempDir, load, problem } = useConfigFiles("alpamon-tunnel-config-");
const SERVER = "[server]\nurl = https://console.example.com\nid = srv-1\nkey = s3cr3t-KEY_value\n";

describe("[tunnel] and [editor]", () => {
  test("defaults: any port, 60 idle minutes, code-server looked up", () => {
    const config = load(SERVER);
    expect(config.tunnel).toEqual({ allowedPorts: [], loadLimitPercent: 90 });
    expect(config.editor).toEqual({ idleTimeoutMinutes: 60, codeServer: undefined });
  });

  test("values are read", () => {
    const config = load(
      `${SERVER}[tunnel]\nallowed_ports = 22, 8000 - 8100,443\nload_limit = 100\n[editor]\nidle_timeout = 0\ncode_server = /opt/cs/bin/code-server\n`,
    );
    expect(config.tunnel.allowedPorts).toEqual([
      { from: 22, to: 22 },
      { from: 8000, to: 8100 },
      { from: 443, to: 443 },
    ]);
    expect(formatPortList(config.tunnel.allowedPorts)).toBe("22,8000-8100,443");
    expect(config.tunnel.loadLimitPercent).toBe(100);
    expect(config.editor).toEqual({ idleTimeoutMinutes: 0, codeServer: "/opt/cs/bin/code-server" });
  });

  test("portAllowed: an empty list allows every port; otherwise only the listed ones", () => {
    expect(portAllowed([], 5432)).toBe(true);
    const list = parsePortList("22,8000-8100");
    if ("error" in list) throw new Error(list.error);
    expect([22, 8000, 8050, 8100].map((p) => portAllowed(list, p))).toEqual([true, true, true, true]);
    expect([21, 23, 7999, 8101, 5432].map((p) => portAllowed(list, p))).toEqual([false, false, false, false, false]);
  });

  test.each([
    ["[tunnel]\nallowed_ports = 22,ssh", '[tunnel] allowed_ports: "ssh" is not a port (1-65535) or a range like 8000-8100'],
    ["[tunnel]\nallowed_ports = 0", '[tunnel] allowed_ports: "0" is not a port'],
    ["[tunnel]\nallowed_ports = 65536", '[tunnel] allowed_ports: "65536" is not a port'],
    ["[tunnel]\nallowed_ports = 9000-8000", '[tunnel] allowed_ports: "9000-8000" is not a port'],
    ["[tunnel]\nallowed_ports = 22,,80", '[tunnel] allowed_ports: "" is not a port'],
    ["[tunnel]\nload_limit = 101", "[tunnel] load_limit: must be a whole percent from 0 to 100"],
    ["[editor]\nidle_timeout = -1", "[editor] idle_timeout: must be a whole number of minutes from 0 to 10080"],
    ["[editor]\nidle_timeout = 1h", "[editor] idle_timeout: must be a whole number of minutes"],
    ["[editor]\ncode_server = code-server", '[editor] code_server: must be an absolute path (got "code-server")'],
  ])("%s is refused", (lines, message) => {
    expect(problem(`${SERVER}${lines}\n`)).toContain(message);
  });

  test("the agent refuses a bad allowed_ports: exit 78 and one line naming the key", async () => {
    const dir = tempDir();
    const path = join(dir, "alpamon.conf");
    writeFileSync(
      path,
      `${SERVER}[agent]\ndata_dir = ${dir}/state\nlog_file = -\npid_file = ${dir}/alpamon.pid\n[tunnel]\nallowed_ports = 22-\n`,
    );
    const { code, signal, stderr } = await runCli(["--config", path], { timeoutMs: 15_000 });
    expect({ code, signal }).toEqual({ code: 78, signal: null });
    expect(stderr.trim().split("\n")).toEqual([
      `alpamon: config error: ${path}: [tunnel] allowed_ports: "22-" is not a port (1-65535) or a range like 8000-8100; write ports and ranges like 22,8000-8100`,
    ]);
  });
});
