// The worker's `read` job (the `upload` command): one file is sent as it is; a directory or several paths
// become a zip made on the fly. Writes a JSON header line first ({ok,name,size,zip}), then the bytes.
// Runs as the user, so it reads only what the user may read; checks everything before the first byte.
import { accessSync, closeSync, constants as fsc, lstatSync, openSync, readSync, readdirSync, statSync, type Stats } from "node:fs";
import { basename, join } from "node:path";
import { FileError, toFileError } from "./errors.ts";
import { resolvePath } from "./paths.ts";
import { zipStream, type ZipSource } from "./zip-write.ts";

const CHUNK = 256 * 1024;

export interface ReadJob {
  paths: string[];
  home: string;
}

export type ReadPlan =
  | { ok: true; name: string; zip: false; size: number; path: string }
  | { ok: true; name: string; zip: true; size: null; sources: ZipSource[] }
  | { ok: false; message: string };

/** Entries of a zip for `path` under the name `prefix` (following links, skipping directory loops). */
function collect(path: string, prefix: string, out: ZipSource[], seen: Set<string>): void {
  let st: Stats;
  try {
    st = statSync(path);
  } catch (err) {
    const dangling = (() => {
      try {
        return lstatSync(path).isSymbolicLink();
      } catch {
        return false;
      }
    })();
    if (dangling) return; // a dangling link has nothing to send
    throw toFileError(err, "stat", path);
  }
  if (st.isDirectory()) {
    const key = `${st.dev}:${st.ino}`;
    if (seen.has(key)) return;
    seen.add(key);
    try {
      accessSync(path, fsc.R_OK | fsc.X_OK);
    } catch (err) {
      throw toFileError(err, "open", path);
    }
    out.push({ name: `${prefix}/`, mode: st.mode, mtime: st.mtime, size: 0 });
    for (const name of readdirSync(path).sort()) collect(join(path, name), `${prefix}/${name}`, out, seen);
    seen.delete(key);
    return;
  }
  if (!st.isFile()) return; // sockets, fifos and devices are not archived
  try {
    accessSync(path, fsc.R_OK);
  } catch (err) {
    throw toFileError(err, "open", path);
  }
  out.push({ name: prefix, path, mode: st.mode, mtime: st.mtime, size: st.size });
}

export function planRead(job: ReadJob): ReadPlan {
  try {
    if (job.paths.length === 0) throw new FileError("EINVAL", "No paths provided");
    const paths = job.paths.map((p) => {
      if (!p) throw new FileError("EINVAL", "an empty path was given");
      return resolvePath(p, { home: job.home || "/", wd: job.home || "/" }, "open");
    });
    if (paths.length === 1) {
      const path = paths[0]!;
      let st: Stats;
      try {
        st = statSync(path);
      } catch (err) {
        throw toFileError(err, "stat", path);
      }
      if (st.isFile()) {
        try {
          accessSync(path, fsc.R_OK);
        } catch (err) {
          throw toFileError(err, "open", path);
        }
        return { ok: true, name: basename(path), zip: false, size: st.size, path };
      }
      if (!st.isDirectory()) throw new FileError("EINVAL", `${path}: not a regular file or directory`);
    }
    const sources: ZipSource[] = [];
    const used = new Set<string>();
    for (const path of paths) {
      let top = basename(path) || "root";
      for (let i = 1; used.has(top); i++) top = `${basename(path)} (${i})`;
      used.add(top);
      collect(path, top, sources, new Set());
    }
    const name = paths.length === 1 ? `${basename(paths[0]!) || "root"}.zip` : `${crypto.randomUUID()}.zip`;
    return { ok: true, name, zip: true, size: null, sources };
  } catch (err) {
    return { ok: false, message: toFileError(err, "open", job.paths.join(" ")).message };
  }
}

/** The bytes of a planned read. A yielded chunk may be reused once the next one is asked for. */
export async function* readBytes(plan: Extract<ReadPlan, { ok: true }>): AsyncGenerator<Uint8Array> {
  if (plan.zip) {
    yield* zipStream(plan.sources);
    return;
  }
  const fd = openSync(plan.path, "r");
  try {
    let sent = 0;
    const chunk = Buffer.allocUnsafe(CHUNK);
    for (;;) {
      const n = readSync(fd, chunk, 0, CHUNK, null);
      if (n === 0) break;
      sent += n;
      if (sent > plan.size) throw new Error(`${plan.path} grew while it was being sent`);
      yield chunk.subarray(0, n);
    }
    if (sent !== plan.size) throw new Error(`${plan.path} shrank while it was being sent`);
  } finally {
    closeSync(fd);
  }
}
