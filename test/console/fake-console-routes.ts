// The fake console's HTTP surface (console-dialects.md §6, §8): agent authentication and the REST routes of
// the 2024 snapshot (observed), the 2025-only shapes (inferred from the reference agent) and the 2026 additions
// (upstream-2026.md §2: exit_code in the fin, streamed chunks; inferred from the agent side). Pure routing:
// takes the request and the console state, returns the reply; never touches sockets or timers. The 2026
// hash-checked inventory routes are in fake-console-sync.ts.
import { SYNC_ROUTES, syncStoreOf } from "./fake-console-sync.ts";

export type Dialect = "2026" | "2025" | "2024";

export interface RecordedRequest {
  method: string;
  /** The path without the query string. */
  path: string;
  search: string;
  /** Lower-case header names. */
  headers: Record<string, string>;
  body: string;
  /** The body parsed as JSON, when it is JSON. */
  json?: unknown;
  /** Epoch ms when the request arrived. */
  at: number;
  /** The status the fake answered with (set once decided; undefined while a delay fault is pending). */
  status?: number;
}

export interface Fin {
  success: boolean;
  result: string;
  elapsed_time: number;
  /** As the agent sent it (any dialect); undefined when the fin had none. */
  exit_code?: number;
}

/** One streamed output chunk as the agent posted it (2026). */
export interface Chunk {
  seq: number;
  content: string;
}

export interface Reply {
  status: number;
  /** Objects are JSON-encoded; a string is sent as is; undefined sends an empty body. */
  body?: unknown;
  headers?: Record<string, string>;
}

export interface CommandRecord {
  id: string;
  success: boolean | null;
  result: string | null;
  elapsed_time: number | null;
  acked_at: string | null;
  handled_at: string | null;
  /** The fin's exit_code, when it had one (the 2024 and 2025 consoles would ignore it; recorded anyway). */
  exit_code?: number;
  /** Accepted chunks in arrival order (2026). */
  chunks: Chunk[];
  /** The reason of an accepted reject (2026, upstream-2026.md §1.5). */
  rejected?: string;
}

export interface ConsoleState {
  id: string;
  key: string;
  name: string;
  dialect: Dialect;
  commissioned: boolean;
  startedAt: string | null;
  /** Commands the console sent (the id is what the agent acks and fins). */
  commands: Map<string, CommandRecord>;
  /** The last accepted commit body. */
  lastCommit: unknown;
  isConnected: () => boolean;
}

/** A route added by a test (checked before the built-in ones). */
export interface ExtraRoute {
  method: string;
  path: string | RegExp;
  handle: (request: RecordedRequest, state: ConsoleState) => Reply;
}

export const NOT_AUTHENTICATED = { detail: "Authentication credentials were not provided." };
export const NOT_FOUND = { detail: "Not found." };

/** The console's parser: `(\w+)[:=] ?"?([A-Za-z0-9_-]+)"?`, every pair found. Other key characters cut the value. */
export function parseAuthorization(header: string | undefined): Record<string, string> {
  const pairs: Record<string, string> = {};
  for (const match of (header ?? "").matchAll(/(\w+)[:=] ?"?([A-Za-z0-9_-]+)"?/g)) pairs[match[1]!] = match[2]!;
  return pairs;
}

export function isAuthorized(header: string | undefined, state: Pick<ConsoleState, "id" | "key">): boolean {
  const pairs = parseAuthorization(header);
  return pairs.id === state.id && pairs.key === state.key;
}

export function pathMatches(pattern: string | RegExp, path: string): boolean {
  return typeof pattern === "string" ? pattern === path : pattern.test(path);
}

function isObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === "object" && !Array.isArray(value);
}

/** The name Python would give a JSON value's type, for DRF-style error messages. */
function pythonType(value: unknown): string {
  if (typeof value === "number") return Number.isInteger(value) ? "int" : "float";
  if (typeof value === "string") return "str";
  if (typeof value === "boolean") return "bool";
  if (Array.isArray(value)) return "list";
  return "NoneType";
}

function commandView(c: CommandRecord) {
  return { success: c.success, elapsed_time: c.elapsed_time, acked_at: c.acked_at, handled_at: c.handled_at };
}

function serverView(state: ConsoleState) {
  return {
    id: state.id,
    name: state.name,
    remote_ip: "127.0.0.1",
    status: state.isConnected() ? "connected" : "disconnected",
    is_connected: state.isConnected(),
    commissioned: state.commissioned,
    started_at: state.startedAt,
    version: null,
  };
}

function createEvent(req: RecordedRequest, state: ConsoleState): Reply {
  const body = req.json;
  if (!isObject(body)) return { status: 400, body: { non_field_errors: ["Invalid data. Expected a dictionary."] } };
  const errors: Record<string, string[]> = {};
  for (const field of ["record", "reporter"]) {
    const value = body[field];
    if (typeof value !== "string" || value === "") errors[field] = ["This field is required."];
    else if (value.length > 128) errors[field] = ["Ensure this field has no more than 128 characters."];
  }
  if (Object.keys(errors).length > 0) return { status: 400, body: errors };
  if (body.record === "committed") state.commissioned = true;
  if (body.record === "started") state.startedAt = new Date().toISOString();
  return {
    status: 201,
    body: { record: body.record, reporter: body.reporter, description: body.description ?? "", data: body.data ?? null },
  };
}

function commit(req: RecordedRequest, state: ConsoleState): Reply {
  const body = req.json;
  if (!isObject(body)) return { status: 400, body: { non_field_errors: ["Invalid data. Expected a dictionary."] } };
  // 2024 (observed): `load` must be {period, average}. 2025 (inferred): a number is accepted.
  if (state.dialect === "2024" && "load" in body && !isObject(body.load)) {
    const got = pythonType(body.load);
    return { status: 400, body: { load: { non_field_errors: [`Invalid data. Expected a dictionary, but got ${got}.`] } } };
  }
  state.lastCommit = body;
  if (state.dialect === "2026") syncStoreOf(state).commit(body); // rows and sync_hashes (upstream-2026.md §5.2)
  return { status: 200 };
}

/** 2024 (observed): PATCH /api/events/commands/<id>/ with {acked_at} or {success,result,elapsed_time,handled_at}. */
function patchCommand(req: RecordedRequest, command: CommandRecord): Reply {
  const body = req.json;
  if (!isObject(body)) return { status: 400, body: { non_field_errors: ["Invalid data. Expected a dictionary."] } };
  if ("acked_at" in body && command.acked_at !== null)
    return { status: 400, body: { acked_at: ["Command has been already acknowledged."] } };
  if ("handled_at" in body && command.handled_at !== null)
    return { status: 400, body: { handled_at: ["Command has been already handled."] } };
  const now = new Date().toISOString();
  if ("acked_at" in body) command.acked_at = now;
  if (typeof body.result === "string") command.result = body.result.trim(); // the console strips the result
  if ("handled_at" in body) {
    command.handled_at = now;
    command.success = typeof body.success === "boolean" ? body.success : null;
    command.elapsed_time = typeof body.elapsed_time === "number" ? body.elapsed_time : null;
    if (Number.isInteger(body.exit_code)) command.exit_code = body.exit_code as number;
  }
  return { status: 200, body: commandView(command) };
}

/**
 * 2025 (inferred): POST …/ack/ with no body; POST …/fin/ with {success, result, elapsed_time}. Repeats are accepted.
 * 2026 (inferred from upstream-2026.md §2.2): the fin must also carry an integer exit_code.
 */
function postAckOrFin(req: RecordedRequest, command: CommandRecord, action: "ack" | "fin", dialect: Dialect): Reply {
  const now = new Date().toISOString();
  if (action === "ack") {
    command.acked_at ??= now;
    return { status: 200, body: commandView(command) };
  }
  const body = req.json;
  if (!isObject(body)) return { status: 400, body: { non_field_errors: ["Invalid data. Expected a dictionary."] } };
  const errors: Record<string, string[]> = {};
  if (typeof body.success !== "boolean") errors.success = ["Must be a valid boolean."];
  if (typeof body.result !== "string") errors.result = ["Not a valid string."];
  if (typeof body.elapsed_time !== "number") errors.elapsed_time = ["A valid number is required."];
  if (dialect === "2026" && !Number.isInteger(body.exit_code)) errors.exit_code = ["A valid integer is required."];
  if (Object.keys(errors).length > 0) return { status: 400, body: errors };
  command.handled_at ??= now;
  command.success = body.success as boolean;
  command.result = body.result as string;
  command.elapsed_time = body.elapsed_time as number;
  if (Number.isInteger(body.exit_code)) command.exit_code = body.exit_code as number;
  return { status: 200, body: commandView(command) };
}

/** 2026 (upstream-2026.md §2.3): POST …/chunk/ {seq, content} → 201; chunks may come in any order, even after the fin. */
function postChunk(req: RecordedRequest, command: CommandRecord): Reply {
  const body = req.json;
  if (!isObject(body)) return { status: 400, body: { non_field_errors: ["Invalid data. Expected a dictionary."] } };
  const errors: Record<string, string[]> = {};
  if (!Number.isInteger(body.seq) || (body.seq as number) < 0) errors.seq = ["A valid integer is required."];
  if (typeof body.content !== "string") errors.content = ["Not a valid string."];
  if (Object.keys(errors).length > 0) return { status: 400, body: errors };
  command.chunks.push({ seq: body.seq as number, content: body.content as string });
  return { status: 201, body: { seq: body.seq } };
}

const REJECT_REASONS = new Set(["unsigned_command", "key_unavailable", "invalid_signature", "signature_mismatch"]);

/** 2026 (upstream-2026.md §1.5): POST …/reject/ {reason} with one of the four tokens → 200. */
function postReject(req: RecordedRequest, command: CommandRecord): Reply {
  const body = req.json;
  if (!isObject(body) || typeof body.reason !== "string" || !REJECT_REASONS.has(body.reason)) {
    return { status: 400, body: { reason: [`"${String(isObject(body) ? body.reason : "")}" is not a valid choice.`] } };
  }
  command.rejected = body.reason;
  return { status: 200, body: { reason: body.reason } };
}

interface Route {
  method: string;
  path: RegExp;
  dialects: readonly Dialect[];
  handle: (req: RecordedRequest, state: ConsoleState, params: string[]) => Reply;
}

const ALL: readonly Dialect[] = ["2024", "2025", "2026"];
/** The 2025 surface, which the 2026 console keeps. */
const SINCE_2025: readonly Dialect[] = ["2025", "2026"];
const SINCE_2026: readonly Dialect[] = ["2026"];

function withCommand(handle: (req: RecordedRequest, command: CommandRecord, state: ConsoleState) => Reply) {
  return (req: RecordedRequest, state: ConsoleState, params: string[]): Reply => {
    const command = state.commands.get(params[0]!);
    return command ? handle(req, command, state) : { status: 404, body: NOT_FOUND };
  };
}

const ROUTES: Route[] = [
  { method: "GET", path: /^\/api\/servers\/servers\/-\/$/, dialects: ALL, handle: (_r, s) => ({ status: 200, body: serverView(s) }) },
  { method: "PUT", path: /^\/api\/servers\/servers\/-\/commit\/$/, dialects: ALL, handle: commit },
  { method: "POST", path: /^\/api\/events\/events\/$/, dialects: ALL, handle: createEvent },
  { method: "PATCH", path: /^\/api\/events\/commands\/([^/]+)\/$/, dialects: ALL, handle: withCommand(patchCommand) },
  {
    method: "POST",
    path: /^\/api\/events\/commands\/([^/]+)\/ack\/$/,
    dialects: SINCE_2025,
    handle: withCommand((r, c, s) => postAckOrFin(r, c, "ack", s.dialect)),
  },
  {
    method: "POST",
    path: /^\/api\/events\/commands\/([^/]+)\/fin\/$/,
    dialects: SINCE_2025,
    handle: withCommand((r, c, s) => postAckOrFin(r, c, "fin", s.dialect)),
  },
  { method: "POST", path: /^\/api\/events\/commands\/([^/]+)\/chunk\/$/, dialects: SINCE_2026, handle: withCommand(postChunk) },
  { method: "POST", path: /^\/api\/events\/commands\/([^/]+)\/reject\/$/, dialects: SINCE_2026, handle: withCommand(postReject) },
  // 2025 (inferred): the 2024 snapshot has no history app, so this is a 404 there.
  { method: "POST", path: /^\/api\/history\/logs\/$/, dialects: SINCE_2025, handle: () => ({ status: 201, body: {} }) },
  ...SYNC_ROUTES.map((r) => ({ ...r, dialects: SINCE_2026 })),
];

/**
 * Answers one /api/ request. URL resolution comes first (unknown path → 404, as Django does), then
 * authentication (403), then the method (405), as in DRF.
 */
export function route(req: RecordedRequest, state: ConsoleState, extra: readonly ExtraRoute[]): Reply {
  const added = extra.find((r) => r.method.toUpperCase() === req.method && pathMatches(r.path, req.path));
  if (added) return isAuthorized(req.headers.authorization, state) ? added.handle(req, state) : { status: 403, body: NOT_AUTHENTICATED };
  const candidates = ROUTES.filter((r) => r.dialects.includes(state.dialect) && r.path.test(req.path));
  if (candidates.length === 0) return { status: 404, body: NOT_FOUND };
  if (!isAuthorized(req.headers.authorization, state)) return { status: 403, body: NOT_AUTHENTICATED };
  const chosen = candidates.find((r) => r.method === req.method);
  if (!chosen) return { status: 405, body: { detail: `Method "${req.method}" not allowed.` } };
  const params = chosen.path.exec(req.path)!.slice(1);
  return chosen.handle(req, state, params);
}

/** The agent's ack as the console accepts it: POST …/ack/ (2025) or PATCH …/ with acked_at (2024), answered 2xx. */
export function isAck(r: RecordedRequest, id: string): boolean {
  const ok = r.status !== undefined && r.status >= 200 && r.status < 300;
  if (!ok) return false;
  if (r.method === "POST" && r.path === `/api/events/commands/${id}/ack/`) return true;
  return r.method === "PATCH" && r.path === `/api/events/commands/${id}/` && hasField(r.json, "acked_at");
}

export function isFin(r: RecordedRequest, id: string): boolean {
  const ok = r.status !== undefined && r.status >= 200 && r.status < 300;
  if (!ok) return false;
  if (r.method === "POST" && r.path === `/api/events/commands/${id}/fin/`) return true;
  return r.method === "PATCH" && r.path === `/api/events/commands/${id}/` && hasField(r.json, "handled_at");
}

function hasField(json: unknown, field: string): boolean {
  return json !== null && typeof json === "object" && field in json;
}
