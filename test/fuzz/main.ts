// `bun run fuzz`: the long forms of the fuzz and crash-consistency tests (100,000 cases per fuzz target,
// 100 SIGKILLs). Runs the same test files as the normal suite with ALPAMON_FUZZ_LONG=1; a seed may be given
// as the first argument (default: the suite's fixed seed) to replay or widen a run.
const seed = process.argv[2];
const proc = Bun.spawn([process.execPath, "test", "--timeout", "3600000", "test/fuzz", "test/hardening/crash.test.ts"], {
  cwd: `${import.meta.dir}/../..`,
  env: { ...process.env, ALPAMON_FUZZ_LONG: "1", ...(seed ? { ALPAMON_FUZZ_SEED: seed } : {}) },
  stdio: ["inherit", "inherit", "inherit"],
});
process.exit(await proc.exited);
