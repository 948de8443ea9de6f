// Flow control of a real PTY (startPty, bash as the test's own user): a pause stops the program's output whatever
// its terminal modes, and never shows up in those modes. Deterministic: instead of timing a pause against the
// shell, each test waits until the shell is blocked writing to the stopped terminal.
import { afterEach, describe, expect, test } from "bun:test";
import { existsSync, readFileSync } from "node:fs";
import { type PtyProcess, startPty } from "../../../src/exec/pty.ts";
import { eventually } from "../../console/fake-console-waits.ts";

const WRITE_SYSCALL = process.arch === "arm64" ? 64 : 1;
const shells: PtyProcess[] = [];

afterEach(async () => {
  await Promise.all(shells.splice(0).map((p) => p.kill(500)));
});

async function bash(): Promise<{ pty: PtyProcess; output: () => string }> {
  let out = "";
  const started = await startPty({
    shell: "/bin/bash",
    env: { TERM: "xterm", PATH: "/usr/bin:/bin", HOME: "/tmp" },
    cwd: "/tmp",
    rows: 24,
    cols: 80,
    onData: (bytes) => (out += Buffer.from(bytes).toString("latin1")),
  });
  if (!started.ok) throw new Error(started.error);
  shells.push(started.pty);
  const output = () => out;
  // The quotes keep the marker out of the echoed command line.
  started.pty.write("PS1='$ '; echo RE''ADY\n");
  await eventually(() => output().includes("READY"), 10_000, "the shell to answer");
  return { pty: started.pty, output };
}

/** The shell sits in write(2) on the terminal: its output is stopped (it is not waiting for a child or input). */
function blockedInWrite(pid: number): boolean {
  try {
    return Number(readFileSync(`/proc/${pid}/syscall`, "utf8").split(" ")[0]) === WRITE_SYSCALL;
  } catch {
    return false;
  }
}

async function run(shell: { pty: PtyProcess; output: () => string }, tag: string, command: string): Promise<string> {
  const from = shell.output().length;
  shell.pty.write(`${command}; echo ${tag}''END\n`);
  const end = `${tag}END`;
  const text = await eventually(
    () => (shell.output().indexOf(end, from) >= 0 ? shell.output().slice(from) : undefined),
    10_000,
    `"${end}"`,
  );
  return text.slice(0, text.indexOf(end));
}

describe.skipIf(!existsSync("/bin/bash") || !existsSync("/proc/self/syscall"))("PTY flow control", () => {
  test("a pause holds back a program that turned XON/XOFF off, a keystroke does not restart it, resume does", async () => {
    const shell = await bash();
    await run(shell, "A", "stty -ixon ixany");
    shell.pty.write("sleep 0.2; echo OU''TPUT\n");
    await eventually(() => /sleep 0\.2.*\r?\n/.test(shell.output()), 10_000, "the command line's echo");
    shell.pty.pause();
    // The shell finishes the sleep and then blocks writing OUTPUT: nothing of it has come through.
    await eventually(() => blockedInWrite(shell.pty.pid), 10_000, "the shell to block writing to the stopped terminal");
    shell.pty.write("x"); // IXANY would restart a tty stopped by XOFF
    shell.pty.pause(); // idempotent
    await eventually(() => blockedInWrite(shell.pty.pid), 10_000, "the shell to stay blocked");
    expect(shell.output()).not.toContain("OUTPUT");
    shell.pty.resume();
    await eventually(() => shell.output().includes("OUTPUT"), 10_000, "the output after resume");
  });

  test("a shell that returns to its prompt during a pause keeps its own modes (-ixon survives)", async () => {
    const shell = await bash();
    await run(shell, "B", "stty -ixon");
    shell.pty.write("sleep 0.2\n");
    await eventually(() => /sleep 0\.2\r?\n/.test(shell.output()), 10_000, "the command line's echo");
    shell.pty.pause();
    // bash saves the terminal's modes when it starts reading a line, then blocks writing its prompt. It restores
    // that saved copy before the next command: if the pause had changed the modes, the copy would carry it.
    await eventually(() => blockedInWrite(shell.pty.pid), 10_000, "bash to block writing its prompt");
    shell.pty.resume();
    expect(await run(shell, "C", "stty -a | grep -o -- '-\\?ixon' | sed 's/^/mode:/'")).toContain("mode:-ixon");
  });
});
