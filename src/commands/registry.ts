// The registry of internal commands: a name maps to its spec (commands/contract.ts). Each capability hands in
// its own specs; the dispatcher owns validation, timeout, ack, fin, isolation, caps and de-duplication.
import type { AnyCommandSpec } from "./contract.ts";

export { fail, ok, type CommandContext, type CommandResult } from "./contract.ts";

export class CommandRegistry {
  private readonly specs = new Map<string, AnyCommandSpec>();

  register(...specs: AnyCommandSpec[]): this {
    for (const spec of specs) {
      if (this.specs.has(spec.name)) throw new Error(`command ${spec.name} registered twice`);
      this.specs.set(spec.name, spec);
    }
    return this;
  }

  get(name: string): AnyCommandSpec | undefined {
    return this.specs.get(name);
  }

  /** Registered specs, sorted by name. */
  list(): AnyCommandSpec[] {
    return [...this.specs.values()].sort((a, b) => a.name.localeCompare(b.name));
  }
}
