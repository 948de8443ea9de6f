// The root gates the non-root summary reports (test/helpers/setup.ts), read from test sources.
import { describe, expect, test } from "bun:test";
import { rootGates } from "./root-gates.ts";

describe("rootGates", () => {
  test("finds the suites that skip when not root, in every form the suite uses", () => {
    const source = [
      "const isRoot = process.getuid?.() === 0;",
      "const skip = !canUseNetns;",
      'describe.skipIf(!isRoot)("as a user", () => {});',
      "test.skipIf(!isRoot)(",
      '  "on its own line", async () => {});',
      'describe.if(isRoot)("identity (root only)", () => {});',
      'test.skipIf(process.getuid?.() !== 0)("same PID", () => {});',
      // biome-ignore lint/suspicious/noTemplateCurlyInString: source text the scanner parses; the template literal is data, not evaluated
      "describe.skipIf(skip)(`${backend} in a namespace`, () => {});",
      "const rootTest = test.skipIf(!isRoot);",
      'rootTest("through an alias", () => {});',
    ].join("\n");
    expect(rootGates(source).map((g) => g.suite)).toEqual([
      "as a user",
      "on its own line",
      "identity (root only)",
      "same PID",
      "… in a namespace",
      "through an alias",
    ]);
  });

  test("ignores gates on anything else, and gates that run only when not root", () => {
    const source = [
      'test.skipIf(!hasDpkg || installed === undefined)("dpkg", () => {});',
      'test.skipIf(isRoot)("only as a plain user", () => {});',
      'test("plain", () => {});',
    ].join("\n");
    expect(rootGates(source)).toEqual([]);
  });
});
