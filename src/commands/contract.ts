// The command contract: what a capability hands the registry for each internal command it answers. A command's
// name and summary are written once, in its spec; its data schema (valibot) is checked before `run`, and a
// failure is worded by the one formatter below; its optional timeout is enforced by the dispatcher.
import * as v from "valibot";
import type { CommandData } from "../console/protocol.ts";
import type { Logger } from "../log/logger.ts";

export interface CommandResult {
  exitCode: number;
  result: string;
}

export interface CommandContext {
  /** The console's command id. */
  id: string;
  /** The command line's words after the command name (Go-style quoted words are unquoted). */
  args: string[];
  line: string;
  /** The command's data as received (the spec's `data` schema checks it; `run` gets the checked copy). */
  data: CommandData;
  user: string | null;
  group: string | null;
  env: Record<string, string> | null;
  /** Aborted when the agent stops, or when the command's timeout passes; long-running commands honour it. */
  signal: AbortSignal;
  log: Logger;
}

/**
 * How a data failure is worded (today's replies, kept byte for byte):
 * - `fields` (the default): one line per failing field, `<prefix><field> <problem>`, where an absent or null
 *   value's problem is "is required" (users, terminal);
 * - `first`: `<prefix><the first issue's message>`, a schema's generic "Invalid ..." message becoming
 *   `<field> is invalid` (files, inventory).
 */
export interface InvalidWording {
  /** Put before every line; default `<command name>: `. */
  prefix?: string;
  style?: "fields" | "first";
}

/** What a command does, apart from its name and summary: a lazy family's body module provides these. */
export interface CommandBody<D = CommandData> {
  /** The schema of `ctx.data`; `run` is called only with data that passed it. */
  data?: v.GenericSchema<unknown, D>;
  invalid?: InvalidWording;
  run(data: D, ctx: CommandContext): Promise<CommandResult> | CommandResult;
}

export interface CommandSpec<D = CommandData> extends CommandBody<D> {
  name: string;
  /** One line for `help`. */
  summary: string;
  /** The dispatcher aborts the command's signal and fins with a timeout failure once this has passed. */
  timeoutMs?: number;
}

/** Any spec, whatever its data type (what the registry and capabilities hold). */
export type AnyCommandSpec = CommandSpec<unknown>;

/** A spec whose `run` gets its data typed from its schema. */
export function command<D>(spec: CommandSpec<D>): CommandSpec<D> {
  return spec;
}

/** A successful result. */
export function ok(result: string): CommandResult {
  return { exitCode: 0, result };
}

/** A failed result with exit code 1. */
export function fail(result: string): CommandResult {
  return { exitCode: 1, result };
}

/** An issue's field as `a.b[2].c`, under `prefix`; "" for the data itself. */
export function fieldPath(issue: v.BaseIssue<unknown>, prefix = ""): string {
  let out = prefix;
  for (const item of issue.path ?? []) {
    const key = (item as { key: unknown }).key;
    out += typeof key === "number" ? `[${key}]` : `${out ? "." : ""}${String(key)}`;
  }
  return out;
}

/** THE formatter: a failed schema check as the reply the console shows. */
function describeInvalid(issues: readonly v.BaseIssue<unknown>[], wording: Required<InvalidWording>): string {
  const { prefix } = wording;
  if (wording.style === "first") {
    const issue = issues[0]!;
    const path = issue.path?.map((p) => String(p.key)).join(".");
    return prefix + (issue.message.startsWith("Invalid") && path ? `${path} is invalid` : issue.message);
  }
  const lines: string[] = [];
  const seen = new Set<string>();
  for (const issue of issues) {
    const field = fieldPath(issue) || "data";
    if (seen.has(field)) continue;
    seen.add(field);
    const problem = issue.input === undefined || issue.input === null ? "is required" : issue.message;
    lines.push(`${prefix}${field} ${problem}`);
  }
  return lines.join("\n");
}

/** Checks `data` against `schema`; the error is ready to be the command's result. */
export function parseData<S extends v.GenericSchema>(
  schema: S,
  data: unknown,
  wording: Required<InvalidWording>,
): { ok: true; data: v.InferOutput<S> } | { ok: false; error: string } {
  const parsed = v.safeParse(schema, data ?? {}, { abortPipeEarly: true });
  if (parsed.success) return { ok: true, data: parsed.output };
  return { ok: false, error: describeInvalid(parsed.issues, wording) };
}

/** Validates the context's data against the body's schema, then runs it; what the dispatcher does, minus timeout. */
export async function invoke<D>(name: string, body: CommandBody<D>, ctx: CommandContext): Promise<CommandResult> {
  if (!body.data) return await body.run(ctx.data as D, ctx);
  const wording = { prefix: body.invalid?.prefix ?? `${name}: `, style: body.invalid?.style ?? "fields" } as const;
  const parsed = parseData(body.data, ctx.data, wording);
  if (!parsed.ok) return fail(parsed.error);
  return await body.run(parsed.data as D, ctx);
}
