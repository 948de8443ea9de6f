// The one libc loader: the few calls Bun does not expose (flock, execve, pipe2, madvise, ioctl, renameat2), loaded
// once through bun:ffi when first needed. Callers own the arguments and never pass console data unchecked.
import { dlopen, type FFIFunction, FFIType, read } from "bun:ffi";

const symbols = {
  flock: { args: [FFIType.i32, FFIType.i32], returns: FFIType.i32 },
  execve: { args: [FFIType.ptr, FFIType.ptr, FFIType.ptr], returns: FFIType.i32 },
  pipe2: { args: [FFIType.ptr, FFIType.i32], returns: FFIType.i32 },
  // The address as a 64-bit integer: it comes from /proc/self/maps, not from a JS buffer.
  madvise: { args: [FFIType.u64, FFIType.u64, FFIType.i32], returns: FFIType.i32 },
  // Only integer requests with an integer argument (variadic, passed like a named argument on x86-64 and arm64 Linux).
  ioctl: { args: [FFIType.i32, FFIType.u64, FFIType.u64], returns: FFIType.i32 },
} as const;

/**
 * Apart from the rest: renameat2 came with glibc 2.28, and a symbol missing from an older libc must not take
 * flock and execve down with it.
 */
const renameSymbols = {
  renameat2: { args: [FFIType.i32, FFIType.ptr, FFIType.i32, FFIType.ptr, FFIType.u32], returns: FFIType.i32 },
  __errno_location: { args: [], returns: FFIType.ptr },
} as const;

type Symbols<S extends Record<string, FFIFunction>> = ReturnType<typeof dlopen<S>>["symbols"];

function loader<S extends Record<string, FFIFunction>>(table: S): () => Symbols<S> | null {
  let loaded: Symbols<S> | null | undefined;
  return () => {
    if (loaded !== undefined) return loaded;
    try {
      loaded = dlopen("libc.so.6", table).symbols;
    } catch {
      loaded = null;
    }
    return loaded;
  };
}

/** libc's symbols, or null where libc.so.6 cannot be loaded (e.g. musl); callers then degrade. */
export const libc = loader(symbols);

/** renameat2(2) and errno, or null where this libc lacks them; the caller falls back. */
export const libcRename = loader(renameSymbols);

/** errno after a failed call through libcRename(), 0 when it cannot be read. */
export function lastErrno(): number {
  const loc = libcRename()?.__errno_location();
  return loc ? read.i32(loc, 0) : 0;
}

export const LOCK_EX = 2;
export const LOCK_NB = 4;
export const O_CLOEXEC = 0o2000000;
export const MADV_RANDOM = 1;
export const MADV_DONTNEED = 4;
export const MADV_PAGEOUT = 21;
/** tcflow(3): TCXONC with TCOOFF stops a terminal's output, TCOON restarts it. */
export const TCXONC = 0x540a;
export const TCOOFF = 0;
export const TCOON = 1;
export const AT_FDCWD = -100;
export const RENAME_NOREPLACE = 1;
