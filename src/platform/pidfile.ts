// PID file guarded by an flock(2) lock: the lock, not the number in the file, says whether an agent runs,
// so a stale file or a recycled PID never gives a false "already running". Never deletes another agent's file.
import { closeSync, ftruncateSync, mkdirSync, openSync, readFileSync, readlinkSync, rmSync, writeSync } from "node:fs";
import { dirname } from "node:path";
import { libc, LOCK_EX, LOCK_NB } from "./libc.ts";

export class AlreadyRunningError extends Error {
  constructor(
    readonly path: string,
    readonly pid: number | undefined,
  ) {
    super(`alpamon is already running${pid ? ` (pid ${pid})` : ""}: ${path} is locked`);
    this.name = "AlreadyRunningError";
  }
}

function readPid(path: string): number | undefined {
  try {
    const pid = Number.parseInt(readFileSync(path, "utf8").trim(), 10);
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

export class PidFile {
  private constructor(
    readonly path: string,
    private fd: number | undefined,
  ) {}

  /** Takes the lock and writes our PID; throws AlreadyRunningError when another agent holds it. */
  static acquire(path: string): PidFile {
    mkdirSync(dirname(path), { recursive: true, mode: 0o755 });
    const fd = openSync(path, "a+", 0o644);
    const lib = libc();
    const locked = lib ? lib.flock(fd, LOCK_EX | LOCK_NB) === 0 : !sameProgramRunning(readPid(path));
    if (!locked) {
      closeSync(fd);
      throw new AlreadyRunningError(path, readPid(path));
    }
    ftruncateSync(fd, 0);
    writeSync(fd, `${process.pid}\n`, 0);
    return new PidFile(path, fd);
  }

  /** Removes the file while still holding the lock, then drops the lock. Idempotent. */
  release(): void {
    if (this.fd === undefined) return;
    if (readPid(this.path) === process.pid) rmSync(this.path, { force: true });
    closeSync(this.fd);
    this.fd = undefined;
  }
}
