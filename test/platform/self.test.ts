// How the agent starts itself again: from source, Bun runs the main script; the compiled form is covered by
// test/build/ (a restart in place and the file worker run the real binary there).
import { expect, test } from "bun:test";
import { isCompiledBinary, selfArgv } from "../../src/platform/self.ts";

test("from source: Bun, the main script, then the arguments", () => {
  expect(isCompiledBinary()).toBe(false);
  expect(selfArgv(["ftp-worker"])).toEqual([process.execPath, Bun.main, "ftp-worker"]);
  expect(selfArgv([])).toEqual([process.execPath, Bun.main]);
});
