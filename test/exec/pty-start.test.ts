// Starting a shell on a PTY as another user (startPty through the launcher's hops and setpriv): the start is
// signalled by the trampoline over a descriptor the shell never inherits, not found by polling /proc, and a
// shell that cannot be executed is a failed start that names the reason.
import { afterEach, describe, expect, spyOn, test } from "bun:test";
import { chmodSync, copyFileSync } from "node:fs";
import { join } from "node:path";
import { lookupUser } from "../../src/exec/identity.ts";
import { type PtyProcess, startPty } from "../../src/exec/pty.ts";
import type { Identity } from "../../src/exec/types.ts";
import { eventually } from "../console/fake-console-waits.ts";
import { useTempDirs } from "../helpers/tmp.ts";
import { useTestUser } from "../helpers/users.ts";

const { user: USER, isRoot } = useTestUser("alpst");
const started: PtyProcess[] = [];
const tempDir = useTempDirs("alpamon-pty-start-");

afterEach(async () => {
  await Promise.all(started.splice(0).map((p) => p.kill(500)));
});

async function identity(): Promise<Identity> {
  const pw = (await lookupUser(USER))!;
  return { user: pw.name, uid: pw.uid, gid: pw.gid, home: pw.home, shell: pw.shell };
}

async function start(shell: string, onData: (text: string) => void = () => {}, who?: Identity) {
  return startPty({
    shell,
    identity: who ?? (await identity()),
    env: { TERM: "xterm", PATH: "/usr/bin:/bin", HOME: `/home/${USER}` },
    rows: 24,
    cols: 80,
    onData: (bytes) => onData(Buffer.from(bytes).toString("latin1")),
  });
}

describe.skipIf(!isRoot)("startPty as a user", () => {
  test("resolves once the shell runs, with no sleep or poll while the launcher's hops run", async () => {
    const who = await identity(); // looked up first: getent runs with a timeout of its own
    const sleep = spyOn(Bun, "sleep");
    const timeouts = spyOn(globalThis, "setTimeout");
    let out = "";
    try {
      const result = await start("/bin/bash", (text) => (out += text), who);
      if (!result.ok) throw new Error(result.error);
      started.push(result.pty);
      // One timer at most (the start limit, cleared on the signal); no sleep, so no polling.
      expect(sleep.mock.calls).toEqual([]);
      expect(timeouts.mock.calls.length).toBeLessThanOrEqual(1);
      // The shell is the user's, and the trampoline's start signal (a socket) is not among its descriptors.
      result.pty.write(`echo "$(id -un) $0 sockets:$(find /proc/$$/fd -lname 'socket:*' | wc -l)"; echo EN''D\n`);
      await eventually(() => out.includes("END"), 10_000, "the shell's answer");
      expect(out).toMatch(new RegExp(`${USER} -bash sockets:0\\r?\\n`));
    } finally {
      sleep.mockRestore();
      timeouts.mockRestore();
    }
  });

  test("a shell that does not exist is a failed start with the launcher's reason", async () => {
    const missing = join(`${tempDir()}-absent`, "zsh"); // a directory the user could enter, but it is not there
    const result = await start(missing);
    if (result.ok) started.push(result.pty);
    expect(result).toEqual({ ok: false, error: `cannot start ${missing}: No such file or directory` });
  });

  test("a shell the user may not execute is a failed start with the launcher's reason", async () => {
    const dir = tempDir(); // root's, mode 0700: the user cannot reach the shell inside
    const shell = join(dir, "sh");
    copyFileSync("/bin/sh", shell);
    chmodSync(shell, 0o755);
    const result = await start(shell);
    if (result.ok) started.push(result.pty);
    expect(result).toEqual({ ok: false, error: expect.stringMatching(new RegExp(`^cannot start ${shell}: .*Permission denied`)) });
  });
});
