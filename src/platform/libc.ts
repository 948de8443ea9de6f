// The few libc calls Bun does not expose (flock, execve, pipe2, madvise, ioctl), loaded once through bun:ffi when first
// needed.
// Never called with console data; callers in platform/ and exec/ own the arguments.
import { dlopen, FFIType } from "bun:ffi";

const symbols = {
  flock: { args: [FFIType.i32, FFIType.i32], returns: FFIType.i32 },
  execve: { args: [FFIType.ptr, FFIType.ptr, FFIType.ptr], returns: FFIType.i32 },
  pipe2: { args: [FFIType.ptr, FFIType.i32], returns: FFIType.i32 },
  // The address as a 64-bit integer: it comes from /proc/self/maps, not from a JS buffer.
  madvise: { args: [FFIType.u64, FFIType.u64, FFIType.i32], returns: FFIType.i32 },
  // Only integer requests with an integer argument (variadic, passed like a named argument on x86-64 and arm64 Linux).
  ioctl: { args: [FFIType.i32, FFIType.u64, FFIType.u64], returns: FFIType.i32 },
} as const;

type Libc = ReturnType<typeof dlopen<typeof symbols>>["symbols"];

let loaded: Libc | null | undefined;

/** libc's symbols, or null where libc.so.6 cannot be loaded (e.g. musl); callers then degrade. */
export function libc(): Libc | null {
  if (loaded !== undefined) return loaded;
  try {
    loaded = dlopen("libc.so.6", symbols).symbols;
  } catch {
    loaded = null;
  }
  return loaded;
}

export const LOCK_EX = 2;
export const LOCK_NB = 4;
export const LOCK_UN = 8;
export const O_CLOEXEC = 0o2000000;
export const MADV_PAGEOUT = 21;
/** tcflow(3): TCXONC with TCOOFF stops a terminal's output, TCOON restarts it. */
export const TCXONC = 0x540a;
export const TCOOFF = 0;
export const TCOON = 1;
