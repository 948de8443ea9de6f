// A throwaway test user with its own group and one extra group, created in beforeAll and always removed in
// afterAll (processes killed first). Only as root; elsewhere nothing is created and `isRoot` is false.
import { afterAll, beforeAll, expect } from "bun:test";

const sh = (cmd: string[]) => Bun.spawnSync(cmd, { stdout: "pipe", stderr: "pipe" });

export function useTestUser(prefix: string): { user: string; extraGroup: string; isRoot: boolean } {
  const isRoot = process.getuid?.() === 0;
  const suffix = Math.random().toString(36).slice(2, 8);
  const user = `${prefix}${suffix}`;
  const extraGroup = `${prefix}g${suffix}`;
  beforeAll(() => {
    if (!isRoot) return;
    expect(sh(["useradd", "-m", "-U", "-s", "/bin/bash", user]).exitCode).toBe(0);
    expect(sh(["groupadd", extraGroup]).exitCode).toBe(0);
    expect(sh(["usermod", "-aG", extraGroup, user]).exitCode).toBe(0);
  });
  afterAll(() => {
    if (!isRoot) return;
    sh(["pkill", "-KILL", "-u", user]);
    sh(["userdel", "-r", user]);
    sh(["groupdel", extraGroup]);
    sh(["groupdel", user]);
  });
  return { user, extraGroup, isRoot };
}
