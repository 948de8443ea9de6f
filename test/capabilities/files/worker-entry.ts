// Test-only entry point of the file worker (the real one is `alpamon ftp-worker`, wired in src/cli.ts).
import { runFileWorker } from "../../../src/capabilities/files/worker-main.ts";

process.exitCode = await runFileWorker(process.argv.slice(2));
