// Command families that are loaded on first use. The agent spends its life idle; the code of user management,
// package updates, the file manager and websh is parsed and evaluated only when the console first asks for
// one of them, which keeps about half a megabyte of functions, schemas and their metadata off the idle heap.
// Each family's names and summaries are written in its capability's index.ts, for `help` and routing.
import { fail, type CommandHandler } from "./registry.ts";

export interface HandlerSpec {
  name: string;
  summary: string;
}

/** Stand-ins for a family's handlers: the first run of any of them loads the family once, then delegates. */
export function lazyFamily(specs: readonly HandlerSpec[], load: () => Promise<CommandHandler[]>): CommandHandler[] {
  let loaded: Promise<Map<string, CommandHandler>> | undefined;
  const family = () =>
    (loaded ??= load().then(
      (handlers) => new Map(handlers.map((h) => [h.name, h])),
      (err: unknown) => {
        loaded = undefined; // a failed load is tried again by the next command
        throw err;
      },
    ));
  return specs.map((spec) => ({
    ...spec,
    async run(ctx) {
      let handlers: Map<string, CommandHandler>;
      try {
        handlers = await family();
      } catch (err) {
        return fail(`${spec.name}: could not load the command: ${err instanceof Error ? err.message : String(err)}`);
      }
      const handler = handlers.get(spec.name);
      if (!handler) return fail(`${spec.name}: not provided by its command family`);
      return handler.run(ctx);
    },
  }));
}
