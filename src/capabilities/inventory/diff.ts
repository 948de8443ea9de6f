// The sync diff: current rows against the console's rows, by the key's identity fields, into the minimal
// list of POST/PATCH/DELETE requests (spec/metrics.md §10.3). Pure: no I/O, no clock.
import * as v from "valibot";
import type { HttpMethod } from "../../console/http.ts";
import type { KeyDef } from "./keys.ts";

export interface Write {
  method: HttpMethod;
  path: string;
  body?: unknown;
}

type Row = Record<string, unknown>;
const RemoteId = v.union([v.string(), v.number()]);
const RemoteRow = v.looseObject({ id: RemoteId });
const RemoteRows = v.array(RemoteRow);

export type RemoteParse<T> = { ok: true; value: T } | { ok: false; error: string };

function parse<T>(schema: v.GenericSchema<unknown, T>, text: string, what: string): RemoteParse<T> {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return { ok: false, error: `${what} is not JSON` };
  }
  const result = v.safeParse(schema, json);
  if (result.success) return { ok: true, value: result.output };
  const issue = result.issues[0];
  const path = issue.path?.map((p) => String(p.key)).join(".");
  return { ok: false, error: `${what}${path ? ` field ${path}` : ""}: ${issue.message}` };
}

/** A single-row answer: one object with an `id`. */
export function parseRemoteRow(text: string): RemoteParse<Row> {
  return parse(RemoteRow, text, "the console's row");
}

/** A multirow answer: a plain array of objects with an `id`. */
export function parseRemoteRows(text: string): RemoteParse<Row[]> {
  return parse(RemoteRows, text, "the console's rows");
}

/** Deep equality of JSON values (arrays in order). */
export function sameValue(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (Array.isArray(a) && Array.isArray(b)) return a.length === b.length && a.every((x, i) => sameValue(x, b[i]));
  if (a && b && typeof a === "object" && typeof b === "object" && !Array.isArray(a) && !Array.isArray(b)) {
    const ka = Object.keys(a);
    return ka.length === Object.keys(b).length && ka.every((k) => sameValue((a as Row)[k], (b as Row)[k]));
  }
  return false;
}

export function sameFields(current: Row, remote: Row, fields: readonly string[]): boolean {
  return fields.every((f) => sameValue(current[f], remote[f]));
}

/** The fields a key sends, in the definition's order (stable JSON for hashing too). */
export function pick(row: object, fields: readonly string[]): Row {
  const out: Row = {};
  for (const f of fields) out[f] = (row as Row)[f];
  return out;
}

/** Single row: PATCH the whole current object when any compared field (default: the key's fields) differs. */
export function diffSingle(def: KeyDef, current: object, remote: Row, compare: readonly string[] = def.fields): Write[] {
  if (sameFields(current as Row, remote, compare)) return [];
  return [{ method: "PATCH", path: `${def.url}${remote.id}/`, body: current }];
}

/** Identity of each row; rows sharing one get the tiebreak field appended, so neither is lost. */
function identities(rows: readonly Row[], def: KeyDef): string[] {
  const base = rows.map((r) => JSON.stringify((def.identity ?? []).map((f) => r[f])));
  const counts = new Map<string, number>();
  for (const k of base) counts.set(k, (counts.get(k) ?? 0) + 1);
  return base.map((k, i) => (counts.get(k)! > 1 && def.tiebreak ? `${k}#${JSON.stringify(rows[i]![def.tiebreak])}` : k));
}

/**
 * Multirow: PATCH rows whose fields differ, DELETE remote rows with no current match (and remote
 * duplicates), one POST of an array with the rows the console lacks.
 */
export function diffRows(
  def: KeyDef,
  current: readonly object[],
  remote: readonly Row[],
  compare: readonly string[] = def.fields,
): Write[] {
  const cur = current as readonly Row[];
  const wanted = new Map<string, Row>();
  identities(cur, def).forEach((k, i) => {
    wanted.set(k, cur[i]!);
  });
  const writes: Write[] = [];
  const remoteKeys = identities(remote, def);
  remote.forEach((row, i) => {
    const k = remoteKeys[i]!;
    const mine = wanted.get(k);
    if (!mine) {
      writes.push({ method: "DELETE", path: `${def.url}${row.id}/` });
      return;
    }
    wanted.delete(k);
    if (!sameFields(mine, row, compare)) writes.push({ method: "PATCH", path: `${def.url}${row.id}/`, body: mine });
  });
  if (wanted.size > 0) writes.push({ method: "POST", path: def.url, body: [...wanted.values()] });
  return writes;
}
