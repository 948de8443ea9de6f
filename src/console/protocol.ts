// Wire types of the backhaul and their validation: the only place that knows the envelope's field names.
// Never trusts a frame: everything is checked here, and a bad frame becomes an error value, never a throw.
import * as v from "valibot";
import { environmentProblem } from "../exec/environment.ts";
import { formatUtcRfc3339Seconds } from "../platform/time.ts";

/** Command ids are UUIDs in practice; anything path-safe and short is accepted (it goes into URLs). */
export const COMMAND_ID = /^[A-Za-z0-9_-]{1,64}$/;

/** Names environ(7) can carry, no NUL in values, and never a dynamic-loader variable (exec/environment.ts). */
const envAllowed = (env: Record<string, string>) => environmentProblem(env) === undefined;
const envRefusal = (issue: { input: unknown }) => `command.${environmentProblem(issue.input as Record<string, string>)}`;

const CommandSchema = v.object({
  id: v.pipe(v.string("command.id must be a string"), v.regex(COMMAND_ID, "command.id must be 1-64 letters, digits, '-' or '_'")),
  shell: v.string("command.shell must be a string"),
  line: v.optional(v.string("command.line must be a string"), ""),
  user: v.optional(v.nullable(v.string("command.user must be a string")), null),
  group: v.optional(v.nullable(v.string("command.group must be a string")), null),
  env: v.optional(
    v.nullable(v.pipe(v.record(v.string(), v.string("command.env values must be strings")), v.check(envAllowed, envRefusal))),
    null,
  ),
  data: v.optional(v.nullable(v.string("command.data must be a JSON-encoded string")), null),
  allow_sh: v.optional(v.nullable(v.boolean("command.allow_sh must be a boolean")), null),
  // The signer's envelope (upstream-2026.md §1.1), checked by commands/signing/ before the ack.
  signature: v.optional(v.nullable(v.string("command.signature must be a string"))),
  analyzed_at: v.optional(v.nullable(v.string("command.analyzed_at must be a string"))),
  key_id: v.optional(v.nullable(v.string("command.key_id must be a string"))),
});

export type CommandEnvelope = v.InferOutput<typeof CommandSchema>;

export type InboundMessage =
  | { query: "command"; command: CommandEnvelope }
  | { query: "quit" | "reconnect"; reason: string | undefined }
  | { query: string; reason?: string | undefined };

export type ParseResult =
  | { ok: true; message: InboundMessage }
  /** `commandId` is set when the frame named a usable id, so the console can still get a failed fin. */
  | { ok: false; error: string; commandId?: string };

export const MAX_FRAME_BYTES = 16 * 1024 * 1024;

function firstIssue(issues: readonly v.BaseIssue<unknown>[]): string {
  const issue = issues[0]!;
  if (issue.message.startsWith("command.")) return issue.message;
  const path = issue.path?.map((p) => String(p.key)).join(".");
  if (path && issue.message.startsWith("Invalid key")) return `command.${path} is required`;
  return path ? `command.${path}: ${issue.message}` : issue.message;
}

/** Parses one text frame from the backhaul. */
export function parseInbound(text: string): ParseResult {
  if (text.length > MAX_FRAME_BYTES) return { ok: false, error: `frame too large (${text.length} bytes)` };
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    return { ok: false, error: "frame is not JSON" };
  }
  if (raw === null || typeof raw !== "object" || Array.isArray(raw)) return { ok: false, error: "frame is not a JSON object" };
  const frame = raw as Record<string, unknown>;
  if (typeof frame.query !== "string") return { ok: false, error: "frame has no string 'query'" };
  const reason = typeof frame.reason === "string" ? frame.reason : undefined;
  if (frame.query !== "command") return { ok: true, message: { query: frame.query, reason } };

  const commandRaw = frame.command;
  const idRaw = commandRaw && typeof commandRaw === "object" ? (commandRaw as Record<string, unknown>).id : undefined;
  const commandId = typeof idRaw === "string" && COMMAND_ID.test(idRaw) ? idRaw : undefined;
  if (commandRaw === null || typeof commandRaw !== "object" || Array.isArray(commandRaw)) {
    return { ok: false, error: "command frame has no 'command' object" };
  }
  const parsed = v.safeParse(CommandSchema, commandRaw);
  if (!parsed.success) return { ok: false, error: firstIssue(parsed.issues), ...(commandId ? { commandId } : {}) };
  return { ok: true, message: { query: "command", command: parsed.output } };
}

export type CommandData = Record<string, unknown>;

/** Decodes the double-encoded `command.data` (a string holding a JSON object). Absent or empty → {}. */
export function decodeCommandData(raw: string | null | undefined): { ok: true; data: CommandData } | { ok: false; error: string } {
  if (raw === null || raw === undefined || raw.trim() === "") return { ok: true, data: {} };
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch {
    return { ok: false, error: "data is not valid JSON" };
  }
  if (value === null) return { ok: true, data: {} };
  if (typeof value !== "object" || Array.isArray(value)) return { ok: false, error: "data must be a JSON object" };
  return { ok: true, data: value as CommandData };
}

/**
 * The frame the agent sends after every inbound message while the console has not pinged on this connection
 * (the 2024 and 2025 consoles refresh their session record on it; README, "Console dialects").
 */
export const PING_FRAME = JSON.stringify({ query: "ping" });

/** The answer to the console's {"query":"ping"} (2026, upstream-2026.md §2.1): the UTC time, whole seconds. */
export function pongFrame(epochMs: number): string {
  return JSON.stringify({ query: "pong", timestamp: formatUtcRfc3339Seconds(epochMs) });
}
