// Entry point of the alpamon binary: hands argv to the CLI and turns any escape into exit code 1. No top-level
// await: the binary is bundled as CommonJS with bytecode (build.ts), which holds less memory than an ES module.
import { runCli } from "./cli.ts";

void runCli(process.argv.slice(2)).then((code) => {
  process.exitCode = code;
});
