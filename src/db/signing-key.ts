// The signer's last fetched public key (commands/signing/keys.ts) in the kv table, so a restart during a
// key-server outage still verifies with a key that is fresh enough. One row; it names the URL it came from, so
// a changed `[signing] key_url` never reuses a key from another source. Never decides freshness.
import type { Database } from "bun:sqlite";
import { eq, sql } from "drizzle-orm";
import * as v from "valibot";
import { stateDrizzle } from "./open.ts";
import { lazy } from "./prepared.ts";
import { kv } from "./schema.ts";

const KEY = "signing:key";

export interface StoredSigningKey {
  url: string;
  keyId: string;
  /** Standard base64 of the 32 raw bytes. */
  publicKey: string;
  /** Epoch ms. */
  fetchedAt: number;
  /** Epoch ms after which the key is stale. */
  staleAt: number;
}

const Stored = v.object({
  url: v.string(),
  keyId: v.string(),
  publicKey: v.string(),
  fetchedAt: v.number(),
  staleAt: v.number(),
});

export interface SigningKeyStore {
  /** The stored key if it came from `url`; undefined when none, another URL's, or unreadable. */
  load(url: string): StoredSigningKey | undefined;
  save(key: StoredSigningKey): void;
}

export function createSigningKeyStore(sqlite: Database): SigningKeyStore {
  const db = stateDrizzle(sqlite);
  const p = sql.placeholder;
  const select = lazy(() =>
    db
      .select({ value: kv.value })
      .from(kv)
      .where(eq(kv.key, p("key")))
      .prepare(),
  );
  const upsert = lazy(() =>
    db
      .insert(kv)
      .values({ key: p("key"), value: p("value") })
      .onConflictDoUpdate({ target: kv.key, set: { value: sql`excluded.value` } })
      .prepare(),
  );
  return {
    load(url) {
      const row = select().get({ key: KEY });
      if (!row) return undefined;
      let value: unknown;
      try {
        value = JSON.parse(row.value);
      } catch {
        return undefined;
      }
      const parsed = v.safeParse(Stored, value);
      return parsed.success && parsed.output.url === url ? parsed.output : undefined;
    },
    save(key) {
      upsert().run({ key: KEY, value: JSON.stringify(key) });
    },
  };
}
