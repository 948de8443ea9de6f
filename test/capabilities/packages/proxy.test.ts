// `package_proxy` (upstream-2026 §7.1): which values are taken, and, with a real child, that the URL reaches
// the package manager's environment and never its argv or the agent's log.
import { describe, expect, test } from "bun:test";
import { packageCommands } from "../../../src/capabilities/packages/packages.ts";
import { choosePackageProxy, consoleHostOf, proxyEnvironment } from "../../../src/capabilities/packages/proxy.ts";
import type { CommandContext } from "../../../src/commands/contract.ts";
import { runProcess } from "../../../src/exec/run.ts";
import type { RunOptions } from "../../../src/exec/types.ts";
import { LogHub, silentLogger } from "../../../src/log/logger.ts";
import { runnable } from "../../helpers/commands.ts";
import { withStandIns } from "./stand-ins.ts";

const ctx = (data: Record<string, unknown>): CommandContext => ({
  id: "t",
  args: [],
  line: "upgrade",
  data,
  user: null,
  group: null,
  env: null,
  signal: new AbortController().signal,
  log: silentLogger,
});

const SECRET = "s3cr3t-Pw";
const PROXY = `http://alice:${SECRET}@proxy.example:3128`;
const NO_PROXY = "localhost,127.0.0.1,::1,169.254.169.254,fd00:ec2::254,metadata.google.internal,console.example.com";

describe("package_proxy validation", () => {
  test("an http, https, socks5 or socks5h URL with a host is taken as given", () => {
    for (const url of [
      PROXY,
      "https://proxy.example",
      "socks5://10.0.0.1:1080",
      "socks5h://u:p@proxy.example:1080",
      "HTTP://proxy.example:8080/",
      "http://[fd00::1]:3128",
    ]) {
      expect(choosePackageProxy(url)).toEqual({ kind: "proxy", url });
    }
  });

  test("absent, null or empty means no proxy; anything else is ignored with a reason that never quotes it", () => {
    for (const none of [undefined, null, ""]) expect(choosePackageProxy(none)).toEqual({ kind: "none" });
    const ignored: [unknown, string][] = [
      [`ftp://alice:${SECRET}@proxy.example`, "scheme is not http, https, socks5 or socks5h"],
      [`socks4://alice:${SECRET}@proxy.example`, "scheme is not http, https, socks5 or socks5h"],
      [`proxy.example:3128`, "scheme is not http, https, socks5 or socks5h"],
      [`alice:${SECRET}@proxy.example`, "scheme is not http, https, socks5 or socks5h"],
      ["http://", "not a URL"],
      ["http:///proxy.example", "no host"],
      ["socks5://", "no host"],
      [`http://alice:${SECRET}@proxy .example`, "contains whitespace or control characters"],
      [`http://proxy.example\n`, "contains whitespace or control characters"],
      [`not a url ${SECRET}`, "contains whitespace or control characters"],
      [`${SECRET}`, "not a URL"],
      [3128, "not a string"],
      [{ url: PROXY }, "not a string"],
    ];
    for (const [value, reason] of ignored) {
      const choice = choosePackageProxy(value);
      expect([value, choice]).toEqual([value, { kind: "ignored", reason }]);
      expect(JSON.stringify(choice)).not.toContain(SECRET);
    }
  });

  test("the child's environment: both spellings of the proxy, and no_proxy with the console's host", () => {
    expect(proxyEnvironment(PROXY, "console.example.com")).toEqual({
      http_proxy: PROXY,
      https_proxy: PROXY,
      HTTP_PROXY: PROXY,
      HTTPS_PROXY: PROXY,
      no_proxy: NO_PROXY,
      NO_PROXY: NO_PROXY,
    });
    expect(proxyEnvironment(PROXY).no_proxy).toBe("localhost,127.0.0.1,::1,169.254.169.254,fd00:ec2::254,metadata.google.internal");
  });

  test("the console's host comes from its URL, without port or IPv6 brackets", () => {
    expect(consoleHostOf("https://console.example.com:8443/")).toBe("console.example.com");
    expect(consoleHostOf("http://[fd00::5]:8000")).toBe("fd00::5");
    expect(consoleHostOf(undefined)).toBeUndefined();
    expect(consoleHostOf("not a url")).toBeUndefined();
  });
});

/** upgrade on a Debian host whose apt-get and dpkg-query are stand-ins; what the agent logs and spawns is kept. */
function debianUpgrade(searchPath: string) {
  const lines: string[] = [];
  const hub = new LogHub({ write: (line) => lines.push(line), close: () => {} }, "debug");
  const argvs: string[][] = [];
  const recording = (o: RunOptions) => {
    argvs.push(o.argv);
    return runProcess(o);
  };
  const { upgrade } = runnable(
    packageCommands({
      runProcess: recording,
      family: () => "debian",
      version: "1.0.0",
      log: hub.logger("commands.packages"),
      now: () => 1,
      hasSystemd: () => false,
      consoleHost: "console.example.com",
      searchPath,
    }),
  );
  return { upgrade: upgrade!, lines, argvs };
}

describe("package_proxy reaches the package manager (real child through exec/)", () => {
  test("a valid proxy: every apt-get gets the variables; the URL is in no argv and no log line", async () => {
    await withStandIns(async (stand) => {
      stand.installed("alpamon", "1.0.0-1");
      stand.upgradesTo("alpamon", "1.1.0-1");
      const { upgrade, lines, argvs } = debianUpgrade(stand.searchPath);
      const r = await upgrade.run(ctx({ package_proxy: PROXY }));
      expect(r.exitCode).toBe(0);
      const aptEnvs = stand.environments("apt-get");
      expect(aptEnvs).toHaveLength(2);
      for (const env of aptEnvs) {
        expect(env).toMatchObject({
          http_proxy: PROXY,
          https_proxy: PROXY,
          HTTP_PROXY: PROXY,
          HTTPS_PROXY: PROXY,
          no_proxy: NO_PROXY,
          NO_PROXY,
        });
      }
      // The version queries need no proxy and do not get it.
      for (const env of stand.environments("dpkg-query")) expect(env.http_proxy).toBeUndefined();
      expect(stand.calls().join("\n")).not.toContain(SECRET);
      expect(argvs.flat().join("\n")).not.toContain(SECRET);
      expect(lines.join("\n")).not.toContain(SECRET);
      expect(r.result).not.toContain(SECRET);
    });
  });

  test("an invalid proxy: ignored with a warning that does not quote it; the child gets no proxy variables", async () => {
    await withStandIns(async (stand) => {
      stand.installed("alpamon", "1.0.0-1");
      stand.upgradesTo("alpamon", "1.1.0-1");
      const { upgrade, lines, argvs } = debianUpgrade(stand.searchPath);
      const r = await upgrade.run(ctx({ package_proxy: `ftp://alice:${SECRET}@proxy.example` }));
      expect(r.exitCode).toBe(0);
      expect(lines.filter((line) => line.includes("package_proxy ignored"))).toHaveLength(1);
      expect(lines.join("\n")).toContain("scheme is not http, https, socks5 or socks5h");
      expect(lines.join("\n")).not.toContain(SECRET);
      expect(argvs.flat().join("\n")).not.toContain(SECRET);
      for (const env of stand.environments("apt-get")) {
        for (const name of ["http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "no_proxy", "NO_PROXY"])
          expect(env[name]).toBeUndefined();
      }
      expect(stand.environments("apt-get")).toHaveLength(2);
    });
  });

  test("apt-get runs with Acquire::Retries=3 on the real child's command line", async () => {
    await withStandIns(async (stand) => {
      stand.installed("alpamon", "1.0.0-1");
      const { upgrade } = debianUpgrade(stand.searchPath);
      expect(await upgrade.run(ctx({}))).toEqual({ exitCode: 0, result: "Already up-to-date (alpamon: 1.0.0, pam: not installed)" });
      const apt = stand.calls().filter((c) => c.startsWith("apt-get "));
      expect(apt).toEqual([
        "apt-get -o DPkg::Lock::Timeout=600 -o Acquire::Retries=3 update",
        "apt-get -y -o DPkg::Lock::Timeout=600 -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold -o Acquire::Retries=3 install --only-upgrade alpamon",
      ]);
    });
  });
});
