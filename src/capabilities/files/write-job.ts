// The worker's `write` job (the `download` command): streams stdin into a new file next to the target,
// then puts it in place atomically (no overwrite unless allowed: the kernel refuses an existing name), or
// extracts it as a zip archive into the target's directory, all or nothing, within the unzip limits the agent's
// config sets. Runs as the user; removes its partial file on failure.
import { closeSync, constants as fsc, lstatSync, openSync, renameSync, rmSync, statSync, writeSync, chmodSync } from "node:fs";
import { basename, dirname, extname, join } from "node:path";
import { FileError, toFileError } from "./errors.ts";
import { InputError } from "./frames.ts";
import { resolvePath } from "./paths.ts";
import { renameNoReplace } from "./rename.ts";
import type { UnzipLimits } from "./unzip-limits.ts";
import { extractZip, readCentralDirectory } from "./zip-read.ts";

/** Zip-based formats that are never unpacked (sessions.md §3.2). */
export const NOT_UNZIPPED = new Set([
  ".jar",
  ".war",
  ".ear",
  ".apk",
  ".xpi",
  ".vsix",
  ".crx",
  ".egg",
  ".whl",
  ".appx",
  ".msix",
  ".ipk",
  ".nupkg",
  ".kmz",
]);

export interface WriteJob {
  path: string;
  home: string;
  overwrite: boolean;
  unzip: boolean;
  limits: UnzipLimits;
}

export interface WriteOutcome {
  ok: boolean;
  message: string;
  path?: string;
  /** Why the input failed (cut short, silent), when it was the input and not the disk. */
  input?: string;
}

function existingKind(path: string): "none" | "dir" | "other" {
  try {
    return lstatSync(path).isDirectory() ? "dir" : "other";
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return "none";
    throw toFileError(err, "stat", path);
  }
}

export async function runWriteJob(job: WriteJob, input: AsyncIterable<Uint8Array>): Promise<WriteOutcome> {
  let path: string;
  try {
    if (!job.path) throw new FileError("EINVAL", "no file name was given");
    path = resolvePath(job.path, { home: job.home || "/", wd: job.home || "/" }, "open");
    if (path === "/" || job.path.endsWith("/")) throw new FileError("EISDIR", `open ${path}: is a directory`);
    if (existingKind(path) === "dir") throw new FileError("EISDIR", `open ${path}: is a directory`);
  } catch (err) {
    return { ok: false, message: toFileError(err, "open", job.path).message };
  }
  const temp = join(dirname(path), `.${basename(path)}.alpamon-${crypto.randomUUID().slice(0, 8)}`);
  let fd: number;
  try {
    fd = openSync(temp, fsc.O_WRONLY | fsc.O_CREAT | fsc.O_EXCL | fsc.O_NOFOLLOW, 0o666);
  } catch (err) {
    return { ok: false, message: toFileError(err, "open", path).message };
  }
  try {
    try {
      // The input is views of the worker's one read buffer (worker-io.ts): nothing to collect per chunk.
      for await (const chunk of input) for (let off = 0; off < chunk.length; ) off += writeSync(fd, chunk, off);
    } finally {
      closeSync(fd);
    }
    if (job.unzip && !NOT_UNZIPPED.has(extname(path))) {
      const zfd = openSync(temp, "r");
      try {
        const entries = readCentralDirectory(zfd, job.limits.maxEntries);
        if (entries) {
          const files = await extractZip(zfd, entries, dirname(path), job.overwrite, job.limits);
          rmSync(temp, { force: true });
          return { ok: true, path, message: `Successfully downloaded ${path} (${files} files extracted).` };
        }
      } finally {
        closeSync(zfd);
      }
    }
    if (job.overwrite) {
      try {
        const old = statSync(path);
        if (old.isFile()) chmodSync(temp, old.mode & 0o7777); // an overwritten file keeps its permissions
      } catch {
        // nothing there yet
      }
      renameSync(temp, path);
    } else {
      try {
        renameNoReplace(temp, path);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === "EEXIST") throw new FileError("EEXIST", `${path} already exists.`);
        throw err;
      }
    }
    return { ok: true, path, message: `Successfully downloaded ${path}.` };
  } catch (err) {
    rmSync(temp, { force: true });
    return { ok: false, message: toFileError(err, "write", path).message, ...(err instanceof InputError ? { input: err.message } : {}) };
  }
}
