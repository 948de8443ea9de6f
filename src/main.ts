// Entry point of the alpamon binary: hands argv to the CLI and sets the exit code it returns. The CLI reaches
// each path's modules by dynamic import, and the build splits the bundle there (build.ts), so a process loads
// only the code of the path it runs.
import { runCli } from "./cli.ts";

void runCli(process.argv.slice(2)).then((code) => {
  process.exitCode = code;
});
