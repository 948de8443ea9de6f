// Entry point of the alpamon binary: hands argv to the CLI and turns any escape into exit code 1.
import { runCli } from "./cli.ts";

const code = await runCli(process.argv.slice(2));
process.exitCode = code;
