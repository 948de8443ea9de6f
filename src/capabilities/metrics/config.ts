// The collector configuration from GET /api/metrics/config/: `[{type, interval}]`, validated item by item.
// Pure: never fetches, never throws for bad console data (a bad item is skipped and named in a warning).
import * as v from "valibot";
import { CHECK_TYPES, type CheckType } from "./checks/registry.ts";

// The known types are the registry's keys (checks/registry.ts is the one list).
export { CHECK_TYPES, type CheckType };

export interface CheckEntry {
  type: CheckType;
  /** Seconds between runs (a positive integer). */
  interval: number;
}

export interface ParsedConfig {
  entries: CheckEntry[];
  /** One line per skipped item, naming its index and field. */
  warnings: string[];
}

const KNOWN: ReadonlySet<string> = new Set(CHECK_TYPES);

// The Go struct has no JSON tags, so encoding/json matches `type`/`Type`/`TYPE` alike.
function field(item: Record<string, unknown>, name: string): unknown {
  for (const [key, value] of Object.entries(item)) if (key.toLowerCase() === name) return value;
  return undefined;
}

const TypeSchema = v.pipe(v.string("type must be a string"), v.nonEmpty("type must not be empty"));
const IntervalSchema = v.pipe(
  v.number("interval must be a number of seconds"),
  v.integer("interval must be a whole number of seconds"),
  v.minValue(1, "interval must be at least 1 second"),
  v.maxValue(366 * 86_400, "interval must be at most a year"),
);

/**
 * Parses the response body. Throws only when the body as a whole is unusable (not JSON, not an array):
 * the caller then keeps retrying. Items with an unknown type or a bad interval are skipped with a warning.
 */
export function parseCollectorConfig(text: string): ParsedConfig {
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    throw new Error("metrics config is not JSON");
  }
  if (!Array.isArray(body)) throw new Error("metrics config must be a JSON array of {type, interval}");
  const entries: CheckEntry[] = [];
  const warnings: string[] = [];
  body.forEach((item: unknown, index) => {
    if (item === null || typeof item !== "object" || Array.isArray(item)) {
      warnings.push(`item ${index}: expected an object {type, interval}`);
      return;
    }
    const record = item as Record<string, unknown>;
    const type = v.safeParse(TypeSchema, field(record, "type"));
    if (!type.success) {
      warnings.push(`item ${index}: ${type.issues[0].message}`);
      return;
    }
    if (!KNOWN.has(type.output)) {
      warnings.push(`item ${index}: unknown check type ${JSON.stringify(type.output.slice(0, 64))}`);
      return;
    }
    const interval = v.safeParse(IntervalSchema, field(record, "interval"));
    if (!interval.success) {
      warnings.push(`item ${index} (${type.output}): ${interval.issues[0].message}`);
      return;
    }
    entries.push({ type: type.output as CheckType, interval: interval.output });
  });
  return { entries, warnings };
}
