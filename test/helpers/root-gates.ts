// Which suites of a test file run only as root, read from their gates: `describe.skipIf(!isRoot)`,
// `test.if(isRoot)`, `skipIf(process.getuid?.() !== 0)`, `skipIf(!canUseNetns)`, and `skipIf(skip)` where the file
// says `const skip = !canUseNetns`. Used by the run's summary when not root (test/helpers/setup.ts).

/** Names of gates that only hold as root. */
const ROOT_GATE = /\b(isRoot|asRoot|canUseNetns)\b|getuid\?\.\(\)\s*[!=]==?\s*0/;

export interface Gate {
  suite: string;
  condition: string;
}

/** Suites in `source` gated on root: skipIf(<not root>) or if(<root>), with `const x = <expr>` aliases resolved. */
export function rootGates(source: string): Gate[] {
  const aliases = new Map<string, string>();
  for (const m of source.matchAll(/^\s*const (\w+) = ([^;\n]+);?$/gm)) aliases.set(m[1]!, m[2]!);
  const gates: Gate[] = [];
  // `const rootTest = test.skipIf(!isRoot);` then `rootTest("name", ...)`: read as the gate it stands for.
  for (const [name, expr] of aliases) {
    if (!/^(?:describe|test|it)\.(?:skipIf|if)\(/.test(expr)) continue;
    source = source.replace(new RegExp(`\\b${name}\\(`, "g"), `${expr}(`);
  }
  const call = /\b(?:describe|test|it)\.(skipIf|if)\(((?:[^()]|\([^()]*\))*)\)\(\s*(["'`])((?:\\.|(?!\3)[^\\])*)\3/g;
  for (const m of source.matchAll(call)) {
    const [, kind, rawCondition, , suite] = m;
    const condition = rawCondition!.trim();
    const resolved = /^!?\w+$/.test(condition) ? condition.replace(/\w+/, (name) => `(${aliases.get(name) ?? name})`) : condition;
    if (!ROOT_GATE.test(resolved)) continue;
    const negated = /^!|!\s*\(?\s*(isRoot|asRoot|canUseNetns)\b|!==?\s*0/.test(resolved);
    // skipIf(!isRoot) and if(isRoot) skip when not root; skipIf(isRoot) is a test for non-root runs.
    if ((kind === "skipIf") === negated) gates.push({ suite: suite!.replace(/\$\{[^}]*\}/g, "…"), condition: `${kind}(${condition})` });
  }
  return gates;
}
