// CLI wiring (commander) only: parses flags and calls into the modules. Being replaced by the full CLI.
import { VERSION } from "./version.ts";

export async function runCli(argv: string[]): Promise<number> {
  if (argv[0] === "version" || argv[0] === "--version") {
    console.log(`alpamon ${VERSION}`);
    return 0;
  }
  return 1;
}
