// The seen_commands table (migrations/0001_outbox.sql) through drizzle prepared statements: when a command id
// was last seen, remember one, forget old ones. Never decides what counts as a duplicate (commands/seen.ts does).
import type { Database } from "bun:sqlite";
import { eq, lte, sql } from "drizzle-orm";
import { stateDrizzle } from "./open.ts";
import { lazy } from "./prepared.ts";
import { seenCommands } from "./schema.ts";

export interface SeenCommandsStore {
  /** When `id` was last seen (epoch ms), or undefined. */
  seenAt(id: string): number | undefined;
  remember(id: string, seenAt: number): void;
  /** Deletes ids seen at or before `cutoff`. */
  forgetUpTo(cutoff: number): void;
}

export function createSeenCommandsStore(sqlite: Database): SeenCommandsStore {
  const db = stateDrizzle(sqlite);
  const p = sql.placeholder;
  const select = lazy(() =>
    db
      .select({ seenAt: seenCommands.seenAt })
      .from(seenCommands)
      .where(eq(seenCommands.id, p("id")))
      .prepare(),
  );
  const upsert = lazy(() =>
    db
      .insert(seenCommands)
      .values({ id: p("id"), seenAt: p("seenAt") })
      .onConflictDoUpdate({ target: seenCommands.id, set: { seenAt: sql`excluded.seen_at` } })
      .prepare(),
  );
  const prune = lazy(() =>
    db
      .delete(seenCommands)
      .where(lte(seenCommands.seenAt, p("cutoff")))
      .prepare(),
  );
  return {
    seenAt: (id) => select().get({ id })?.seenAt,
    remember: (id, seenAt) => void upsert().run({ id, seenAt }),
    forgetUpTo: (cutoff) => void prune().run({ cutoff }),
  };
}
