// Keeps streaming transfers flat in memory: chunks die young, but Bun's collector may let hundreds of MB of
// them pile up before it runs, so transfer loops nudge it every few MB. A full collection runs only every 64 MB.

export const COLLECT_EVERY_BYTES = 4 * 1024 * 1024;

/** Returns a counter that asks for a quick collection each time `every` more bytes went through. */
export function collector(every = COLLECT_EVERY_BYTES): (bytes: number) => void {
  let since = 0;
  let rounds = 0;
  return (bytes) => {
    since += bytes;
    if (since < every) return;
    since = 0;
    // Mostly quick collections; every 16th a full one, which also returns freed pages (a few ms on a small heap).
    Bun.gc(++rounds % 16 === 0);
  };
}
