// The size of a command's result as it travels: JSON-escaped inside the fin's body, where a NUL byte is six
// bytes. Capping that size (not the UTF-8 length) is what lets the outbox always take the fin.
import { jsonPrefixEnd, jsonStringSize } from "../exec/json-size.ts";

/** Above the runners' 8 MiB output cap (escaped size too), so their own truncation markers survive. */
export const DEFAULT_MAX_RESULT_BYTES = 8 * 1024 * 1024 + 4096;

function marker(omitted: number, total: number): string {
  return `\n[alpamon: output truncated, ${omitted} of ${total} bytes omitted]`;
}

/**
 * Cuts a result so that, JSON-escaped, it is at most `maxBytes` including the marker that says how many
 * UTF-8 bytes were cut (never inside a character). A budget smaller than the marker leaves only the marker.
 */
export function capResult(result: string, maxBytes: number): string {
  if (jsonStringSize(result) <= maxBytes) return result;
  const total = Buffer.byteLength(result);
  const reserve = jsonStringSize(marker(total, total));
  const kept = result.slice(0, jsonPrefixEnd(result, Math.max(0, maxBytes - reserve)));
  return kept + marker(total - Buffer.byteLength(kept), total);
}
