// The file manager and transfers: openftp, download, upload (loaded on first use).
import type { Capability } from "../../commands/capability.ts";
import { lazyFamily, type LazySpec } from "../../commands/lazy.ts";
import type { FileCommandOptions } from "./deps.ts";

export const FILE_SPECS: readonly LazySpec[] = [
  { name: "openftp", summary: "open a file-manager session as a user" },
  { name: "download", summary: "write a file from the console onto this host" },
  { name: "upload", summary: "send files from this host to the console" },
];

export function createFiles(deps: FileCommandOptions): Capability {
  return { name: "files", commands: lazyFamily(FILE_SPECS, async () => (await import("./commands.ts")).fileCommands(deps)) };
}
