// Restart in place: execve(2) the running binary with the same arguments and environment, keeping the PID
// (so systemd keeps tracking it). Only called after a graceful shutdown closed every file and socket.
import { ptr } from "bun:ffi";
import { libc } from "../platform/libc.ts";
import { selfArgv } from "../platform/self.ts";

function cString(text: string): Buffer {
  return Buffer.from(`${text}\0`);
}

/** argv for re-running this process with the arguments it was given. */
export function currentCommandLine(): string[] {
  return selfArgv(process.argv.slice(2));
}

/** Replaces the process image. Returns only on failure, with the reason. */
export function reexec(argv: string[] = currentCommandLine(), env: Record<string, string | undefined> = process.env): string {
  const lib = libc();
  if (!lib) return "execve is unavailable (libc.so.6 could not be loaded)";
  const keep: Buffer[] = [];
  const pointerArray = (items: string[]): Buffer => {
    const table = Buffer.alloc((items.length + 1) * 8);
    items.forEach((item, i) => {
      const str = cString(item);
      keep.push(str);
      table.writeBigUInt64LE(BigInt(ptr(str)), i * 8);
    });
    keep.push(table);
    return table;
  };
  const path = cString(argv[0]!);
  keep.push(path);
  const envList = Object.entries(env)
    .filter((entry): entry is [string, string] => entry[1] !== undefined)
    .map(([k, v]) => `${k}=${v}`);
  lib.execve(ptr(path), ptr(pointerArray(argv)), ptr(pointerArray(envList)));
  return `execve ${argv[0]} failed`;
}
