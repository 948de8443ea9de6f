// The pure parts of websh: where the PTY socket may be dialled, the shell choice and the login environment.
import { describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chooseShell, loginEnvironment, parseEnvironmentFile, resolvePtyUrl } from "../../../src/capabilities/terminal/data.ts";

const server = "https://console.example.com:8443";
const sameOrigin = (u: string) => {
  const url = new URL(u);
  return url.protocol === "wss:" && url.host === "console.example.com:8443";
};

describe("resolvePtyUrl", () => {
  test("an absolute wss URL on the console's origin is dialled as is (2025)", () => {
    expect(resolvePtyUrl("wss://console.example.com:8443/ws/websh/pty/a/b/", server, sameOrigin)).toEqual({
      ok: true,
      url: "wss://console.example.com:8443/ws/websh/pty/a/b/",
      legacy: false,
    });
  });

  test("a path is joined to the server URL as wss, and marks the 2024 console", () => {
    expect(resolvePtyUrl("/ws/websh/pty/a/b/", `${server}/`, sameOrigin)).toEqual({
      ok: true,
      url: "wss://console.example.com:8443/ws/websh/pty/a/b/",
      legacy: true,
    });
  });

  test("another host, port or scheme, a protocol-relative path and non-ws schemes are refused", () => {
    for (const bad of [
      "wss://evil.example.com/ws/",
      "wss://console.example.com/ws/",
      "ws://console.example.com:8443/ws/",
      "//evil.example.com/x",
      "https://console.example.com:8443/x",
      "x",
    ]) {
      const r = resolvePtyUrl(bad, server, sameOrigin);
      expect(r.ok).toBe(false);
    }
  });
});

test("chooseShell: the passwd shell when usable, else bash, else sh", () => {
  const has =
    (...paths: string[]) =>
    (p: string) =>
      paths.includes(p);
  expect(chooseShell("/usr/bin/zsh", has("/usr/bin/zsh", "/bin/bash"))).toBe("/usr/bin/zsh");
  expect(chooseShell("/usr/sbin/nologin", has("/usr/sbin/nologin", "/bin/bash"))).toBe("/bin/bash");
  expect(chooseShell("", has("/bin/sh"))).toBe("/bin/sh");
  expect(chooseShell("/usr/bin/fish", has("/bin/bash"))).toBe("/bin/bash");
});

test("/etc/environment is parsed like pam_env's simple format, cannot change who the user is, and loader variables stay out", () => {
  expect(parseEnvironmentFile("# c\nPATH=\"/opt/bin:/usr/bin\"\nexport LANG=de_DE.UTF-8\nFOO='bar baz'\nbad line\n")).toEqual({
    PATH: "/opt/bin:/usr/bin",
    LANG: "de_DE.UTF-8",
    FOO: "bar baz",
  });
  const dir = mkdtempSync(join(tmpdir(), "alpamon-env-"));
  try {
    const file = join(dir, "environment");
    writeFileSync(file, "HOME=/tmp\nUSER=root\nPATH=/x\nEXTRA=1\nLD_LIBRARY_PATH=/opt/lib\nGCONV_PATH=/g\nSHLVL=3\n");
    expect(loginEnvironment({ user: "u1", home: "/home/u1", shell: "/bin/bash" }, file)).toEqual({
      PATH: "/x",
      LANG: "C.UTF-8",
      EXTRA: "1",
      TERM: "xterm-256color",
      HOME: "/home/u1",
      USER: "u1",
      LOGNAME: "u1",
      SHELL: "/bin/bash",
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
