// The file manager and transfers: openftp, download, upload, and rm of a staged exec wrapper (loaded on first use).
import type { Capability } from "../../commands/capability.ts";
import { lazyFamily, type LazySpec } from "../../commands/lazy.ts";
import type { FileCommandOptions } from "./deps.ts";

/** Upstream's file handler timeout (upstream-2026 §2.4). */
const FILE_TIMEOUT_MS = 10 * 60_000;

export const FILE_SPECS: readonly LazySpec[] = [
  { name: "openftp", summary: "open a file-manager session as a user", timeoutMs: FILE_TIMEOUT_MS },
  { name: "download", summary: "write a file from the console onto this host", timeoutMs: FILE_TIMEOUT_MS },
  { name: "upload", summary: "send files from this host to the console", timeoutMs: FILE_TIMEOUT_MS },
  { name: "rm", summary: "remove a staged exec wrapper (/tmp/.alpacon-exec-<hex>.sh), nothing else", timeoutMs: FILE_TIMEOUT_MS },
];

export function createFiles(deps: FileCommandOptions): Capability {
  return { name: "files", commands: lazyFamily(FILE_SPECS, async () => (await import("./commands.ts")).fileCommands(deps)) };
}
