// PID file guarded by an flock(2) lock: the lock, not the number in the file, says whether an agent runs,
// so a stale file or a recycled PID never gives a false "already running". Never deletes another agent's file.
// The agent runs as root, so the file is opened as an attacker could have planted it: never through a
// symlink (O_NOFOLLOW), never truncated before it is checked and locked, and only a regular file with one
// link, owned by root or by us, in a directory only its owner can write.
import {
  closeSync,
  constants,
  fstatSync,
  ftruncateSync,
  lstatSync,
  mkdirSync,
  openSync,
  readlinkSync,
  readSync,
  rmSync,
  statSync,
  writeSync,
  type Stats,
} from "node:fs";
import { dirname } from "node:path";
import { libc, LOCK_EX, LOCK_NB } from "./libc.ts";

/** Linux's O_CLOEXEC (the same on x86_64 and arm64); node:fs does not name it. */
const O_CLOEXEC = 0o2000000;
const OPEN_FLAGS = constants.O_RDWR | constants.O_CREAT | constants.O_NOFOLLOW | O_CLOEXEC;

export class AlreadyRunningError extends Error {
  constructor(
    readonly path: string,
    readonly pid: number | undefined,
  ) {
    super(`alpamon is already running${pid ? ` (pid ${pid})` : ""}: ${path} is locked`);
    this.name = "AlreadyRunningError";
  }
}

/** The PID file or its directory is not what the agent itself would have made; nothing was written. */
export class UnsafePidFileError extends Error {
  constructor(
    readonly path: string,
    readonly problem: string,
  ) {
    super(`refusing the PID file ${path}: ${problem}`);
    this.name = "UnsafePidFileError";
  }
}

function readPid(fd: number): number | undefined {
  try {
    const buffer = Buffer.alloc(32);
    const read = readSync(fd, buffer, 0, buffer.length, 0);
    const pid = Number.parseInt(buffer.subarray(0, read).toString("utf8").trim(), 10);
    return Number.isSafeInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

/** Without flock (no glibc): a live process with the same executable counts as running. */
function sameProgramRunning(pid: number | undefined): boolean {
  if (!pid || pid === process.pid) return false;
  try {
    return readlinkSync(`/proc/${pid}/exe`) === readlinkSync("/proc/self/exe");
  } catch {
    return false;
  }
}

const trustedOwner = (uid: number) => uid === 0 || uid === process.geteuid?.();

/** Whoever can write the directory can swap the file between our checks, so only its owner may. */
function checkDirectory(path: string): void {
  const dir = dirname(path);
  const stat = statSync(dir);
  if (!stat.isDirectory()) throw new UnsafePidFileError(path, `${dir} is not a directory`);
  if ((stat.mode & 0o022) !== 0) {
    throw new UnsafePidFileError(
      path,
      `its directory ${dir} is writable by group or others (mode ${(stat.mode & 0o7777).toString(8)}); use a directory only root can write, such as /run/alpamon`,
    );
  }
  if (!trustedOwner(stat.uid)) throw new UnsafePidFileError(path, `its directory ${dir} is owned by uid ${stat.uid}, not root`);
}

function fileProblem(stat: Stats): string | undefined {
  if (!stat.isFile()) return "it is not a regular file";
  if (stat.nlink !== 1) return `it has ${stat.nlink} hard links (a planted link to another file?)`;
  if (!trustedOwner(stat.uid)) return `it is owned by uid ${stat.uid}, not root`;
  return undefined;
}

function openChecked(path: string): number {
  let fd: number;
  try {
    fd = openSync(path, OPEN_FLAGS, 0o644);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ELOOP") throw new UnsafePidFileError(path, "it is a symbolic link");
    throw err;
  }
  const problem = fileProblem(fstatSync(fd));
  if (problem) {
    closeSync(fd);
    throw new UnsafePidFileError(path, problem);
  }
  return fd;
}

export class PidFile {
  private constructor(
    readonly path: string,
    private fd: number | undefined,
  ) {}

  /**
   * Takes the lock and writes our PID; throws AlreadyRunningError when another agent holds it, and
   * UnsafePidFileError (before writing anything) when the file or its directory could be an attacker's.
   */
  static acquire(path: string): PidFile {
    mkdirSync(dirname(path), { recursive: true, mode: 0o755 });
    checkDirectory(path);
    const fd = openChecked(path);
    const lib = libc();
    const locked = lib ? lib.flock(fd, LOCK_EX | LOCK_NB) === 0 : !sameProgramRunning(readPid(fd));
    if (!locked) {
      const pid = readPid(fd);
      closeSync(fd);
      throw new AlreadyRunningError(path, pid);
    }
    ftruncateSync(fd, 0);
    writeSync(fd, `${process.pid}\n`, 0);
    return new PidFile(path, fd);
  }

  /** Removes the file while still holding the lock (only if the path is still our file), then drops the lock. Idempotent. */
  release(): void {
    if (this.fd === undefined) return;
    if (this.pathIsOurs()) rmSync(this.path, { force: true });
    closeSync(this.fd);
    this.fd = undefined;
  }

  private pathIsOurs(): boolean {
    try {
      const [onDisk, held] = [lstatSync(this.path), fstatSync(this.fd!)];
      return onDisk.dev === held.dev && onDisk.ino === held.ino && readPid(this.fd!) === process.pid;
    } catch {
      return false;
    }
  }
}
