// Persisted snapshots of the agent's own firewall state, one JSON file per snapshot under
// <data_dir>/firewall (dir 0700, files 0600, written atomically), newest last, bounded in number.
// Holds only what the agent owns; never a whole-host ruleset.
import { chmodSync, mkdirSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import * as v from "valibot";
import { writeFileAtomic } from "../../platform/atomic.ts";
import type { Logger } from "../../log/logger.ts";
import { GROUP_NAME, HOOKS, PROTOCOLS, TARGETS, UUID, type FirewallState } from "./model.ts";

export const MAX_BACKUPS = 20;

const port = v.pipe(v.number(), v.integer(), v.minValue(1), v.maxValue(65535));
const StoredRule = v.object({
  chain: v.picklist(HOOKS),
  protocol: v.picklist(PROTOCOLS),
  portStart: v.optional(port),
  portEnd: v.optional(port),
  dports: v.optional(v.array(port)),
  icmpType: v.optional(v.pipe(v.number(), v.integer(), v.minValue(0), v.maxValue(255))),
  source: v.optional(v.pipe(v.string(), v.regex(/^[0-9a-f.:]+\/\d{1,3}$/))),
  destination: v.optional(v.pipe(v.string(), v.regex(/^[0-9a-f.:]+\/\d{1,3}$/))),
  target: v.picklist(TARGETS),
  ruleId: v.pipe(v.string(), v.regex(UUID)),
  ruleType: v.picklist(["user", "server"]),
});
const StoredBackup = v.object({
  version: v.literal(1),
  takenAt: v.number(),
  reason: v.string(),
  state: v.array(v.object({ name: v.pipe(v.string(), v.regex(GROUP_NAME)), rules: v.array(StoredRule) })),
});

export interface Backup {
  id: string;
  takenAt: number;
  reason: string;
  state: FirewallState;
}

export class BackupStore {
  readonly dir: string;

  constructor(
    dataDir: string,
    private readonly log: Logger,
    private readonly max = MAX_BACKUPS,
  ) {
    this.dir = join(dataDir, "firewall");
  }

  private ensureDir(): void {
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    chmodSync(this.dir, 0o700);
  }

  private ids(): string[] {
    try {
      return readdirSync(this.dir)
        .filter((f) => /^backup-\d{12}\.json$/.test(f))
        .sort();
    } catch {
      return [];
    }
  }

  push(state: FirewallState, reason: string, takenAt: number): string {
    this.ensureDir();
    const ids = this.ids();
    const last = ids.length ? Number(ids[ids.length - 1]!.slice(7, 19)) : 0;
    const id = `backup-${String(last + 1).padStart(12, "0")}.json`;
    writeFileAtomic(join(this.dir, id), `${JSON.stringify({ version: 1, takenAt, reason, state })}\n`, 0o600, 0o700);
    for (const old of this.ids().slice(0, -this.max)) rmSync(join(this.dir, old), { force: true });
    return id;
  }

  /** The newest readable snapshot; unreadable ones are reported and skipped (never deleted). */
  latest(): Backup | undefined {
    for (const id of this.ids().reverse()) {
      try {
        const parsed = v.safeParse(StoredBackup, JSON.parse(readFileSync(join(this.dir, id), "utf8")));
        if (parsed.success) return { id, takenAt: parsed.output.takenAt, reason: parsed.output.reason, state: parsed.output.state };
        this.log.warn("skipping an unreadable firewall backup", { file: id });
      } catch (err) {
        this.log.warn("skipping an unreadable firewall backup", { file: id, error: err });
      }
    }
    return undefined;
  }

  drop(id: string): void {
    rmSync(join(this.dir, id), { force: true });
  }

  count(): number {
    return this.ids().length;
  }
}
