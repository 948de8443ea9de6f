// Runs commands in tests the way the dispatcher does: the data checked against the command's schema (worded
// by the one formatter), then its run. For a lazy family's bodies (keyed by name) or a capability's specs.
import { type AnyCommandSpec, type CommandContext, type CommandResult, invoke } from "../../src/commands/contract.ts";
import type { FamilyBodies } from "../../src/commands/lazy.ts";

export interface Runnable {
  run(ctx: CommandContext): Promise<CommandResult>;
}

/** Each body (or spec), by name, as something to run with a context. */
export function runnable(commands: FamilyBodies | AnyCommandSpec[]): Record<string, Runnable> {
  const entries = Array.isArray(commands) ? commands.map((spec) => [spec.name, spec] as const) : Object.entries(commands);
  return Object.fromEntries(entries.map(([name, body]) => [name, { run: (ctx: CommandContext) => invoke(name, body, ctx) }]));
}
