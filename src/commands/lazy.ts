// Command families that are loaded on first use. The agent spends its life idle; the code of user management,
// package updates, the file manager and websh is parsed and evaluated only when the console first asks for
// one of them, which keeps about half a megabyte of functions, schemas and their metadata off the idle heap.
// Each command's name and summary (and timeout) are written once, in its capability's index.ts; the family's
// body module provides what each command does (schema and run), keyed by the same names.
import { type AnyCommandSpec, type CommandBody, fail, invoke } from "./contract.ts";

/** What a lazy family's index declares for each command: everything but the body. */
export interface LazySpec<N extends string = string> {
  name: N;
  summary: string;
  timeoutMs?: number;
}

/** A lazy family's body: one entry per declared command name. */
export type FamilyBodies<N extends string = string> = Record<N, CommandBody<unknown>>;

/**
 * `load` run on the first call, its promise shared by every later call; a failed load is forgotten, so the next
 * call tries again. For code loaded on first use: a family's body, the shell runner, the firewall service.
 */
export function loadOnce<T>(load: () => Promise<T>): () => Promise<T> {
  let loaded: Promise<T> | undefined;
  return () =>
    (loaded ??= load().catch((err: unknown) => {
      loaded = undefined;
      throw err;
    }));
}

/** Stand-ins for a family's commands: the first run of any of them loads the family once, then delegates. */
export function lazyFamily<N extends string>(specs: readonly LazySpec<N>[], load: () => Promise<FamilyBodies<N>>): AnyCommandSpec[] {
  const family = loadOnce(load);
  return specs.map((spec) => ({
    ...spec,
    // The body's schema is loaded with the body, so the stand-in checks the data through the same path.
    async run(_data, ctx) {
      let bodies: FamilyBodies<N>;
      try {
        bodies = await family();
      } catch (err) {
        return fail(`${spec.name}: could not load the command: ${err instanceof Error ? err.message : String(err)}`);
      }
      const body = Object.hasOwn(bodies, spec.name) ? bodies[spec.name] : undefined;
      if (!body) return fail(`${spec.name}: not provided by its command family`);
      return invoke(spec.name, body, ctx);
    },
  }));
}
