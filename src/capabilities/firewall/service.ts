// The firewall service: detects the backend, serialises every mutation behind one queue, snapshots the
// agent's state before each change and applies the new state as one kernel transaction. It never changes
// anything outside the agent's own table or chains, and never runs a tool except through runProcess.
import { existsSync } from "node:fs";
import type { RunProcess } from "../../exec/types.ts";
import type { Logger } from "../../log/logger.ts";
import type { Clock } from "../../platform/clock.ts";
import { BackendError, iptablesBackend, nftBackend, type Backend } from "./backends.ts";
import { BackupStore } from "./backups.ts";
import { detectFirewall, type Detection, type Run } from "./detect.ts";
import { normalizeState, sameState, type FirewallState } from "./model.ts";
import type { RuleRef } from "./nft.ts";

const TOOL_ENV = { PATH: "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", LANG: "C" };
const TOOL_TIMEOUT_MS = 30_000;
const DETECT_TIMEOUT_MS = 5_000;
const DETECTION_TTL_MS = 60_000;

export interface FirewallDeps {
  runProcess: RunProcess;
  dataDir: string;
  clock: Clock;
  log: Logger;
  /** Forces a backend instead of detection (tests, or an operator's choice); it must be installed. */
  backend?: "nftables" | "iptables";
  hasSystemd?: () => boolean;
  maxBackups?: number;
}

export type Mutation<T> = (state: FirewallState) => { ok: true; state: FirewallState; info: T } | { ok: false; error: string; info: T };

export type MutationOutcome<T> =
  | { kind: "unavailable"; message: string }
  | { kind: "rejected"; error: string; info: T }
  | { kind: "failed"; error: string; rule?: RuleRef; partial?: true; backend: Backend["name"]; info: T }
  | { kind: "applied"; changed: boolean; backend: Backend["name"]; info: T };

export class FirewallService {
  private queue: Promise<unknown> = Promise.resolve();
  private detection?: { at: number; value: Detection };
  readonly backups: BackupStore;

  constructor(private readonly deps: FirewallDeps) {
    this.backups = new BackupStore(deps.dataDir, deps.log, deps.maxBackups);
  }

  private runWith =
    (timeoutMs: number): Run =>
    (argv, stdin) =>
      this.deps.runProcess({ argv, env: TOOL_ENV, timeoutMs, maxOutputBytes: 16 * 1024 * 1024, ...(stdin !== undefined ? { stdin } : {}) });
  private run = this.runWith(TOOL_TIMEOUT_MS);

  /** Runs `fn` after every earlier firewall operation has finished, so changes never interleave. */
  serial<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.queue.then(fn, fn);
    this.queue = next.catch(() => {});
    return next;
  }

  async detect(): Promise<Detection> {
    const now = this.deps.clock.monotonic();
    if (this.detection && now - this.detection.at < DETECTION_TTL_MS) return this.detection.value;
    const hasSystemd = this.deps.hasSystemd?.() ?? existsSync("/run/systemd/system");
    const value = await detectFirewall({
      run: this.runWith(DETECT_TIMEOUT_MS),
      hasSystemd,
      ...(this.deps.backend ? { prefer: this.deps.backend } : {}),
    });
    this.detection = { at: now, value };
    return value;
  }

  /** The backend, or the exact message that explains why there is none. */
  async backend(): Promise<Backend | string> {
    const d = await this.detect();
    if (d.kind === "blocked")
      return `Alpacon firewall management is disabled because ${d.tool} is active. Please use ${d.tool} to manage firewall rules.`;
    if (d.kind === "none") return "Firewall functionality is not available - no backend detected";
    if (d.kind === "nftables") return nftBackend(this.run, d.version, this.deps.log);
    return iptablesBackend(this.run, `${d.version}`, d.ipv6, this.deps.log);
  }

  /** The agent's current state as the kernel holds it (not serialised with mutations: read-only). */
  async read(): Promise<FirewallState | string> {
    const b = await this.backend();
    if (typeof b === "string") return b;
    return normalizeState(await b.read());
  }

  /** Reads, changes, snapshots and applies, all under the queue. A rejected change runs nothing. */
  mutate<T>(reason: string, change: Mutation<T>): Promise<MutationOutcome<T>> {
    return this.serial(async () => {
      const b = await this.backend();
      if (typeof b === "string") return { kind: "unavailable", message: b };
      let prev: FirewallState;
      try {
        prev = normalizeState(await b.read());
      } catch (err) {
        return { kind: "unavailable", message: err instanceof BackendError ? err.message : String(err) };
      }
      const r = change(prev);
      if (!r.ok) return { kind: "rejected", error: r.error, info: r.info };
      const next = normalizeState(r.state);
      if (sameState(prev, next)) return { kind: "applied", changed: false, backend: b.name, info: r.info };
      let backupId: string;
      try {
        backupId = this.backups.push(prev, reason, this.deps.clock.now());
      } catch (err) {
        // No change without a way back.
        return {
          kind: "failed",
          backend: b.name,
          error: `cannot save the firewall backup: ${err instanceof Error ? err.message : String(err)}`,
          info: r.info,
        };
      }
      const applied = await b.apply(prev, next).catch((err: unknown) => ({ ok: false as const, error: String(err) }));
      if (!applied.ok) {
        const partial = "partial" in applied && applied.partial === true;
        // A partial change keeps its backup: it is the way back to the state before.
        if (partial) this.deps.log.error("firewall change failed and was not fully undone", { operation: reason, error: applied.error });
        else {
          this.backups.drop(backupId);
          this.deps.log.warn("firewall change refused by the kernel; nothing changed", { operation: reason, error: applied.error });
        }
        return {
          kind: "failed",
          backend: b.name,
          error: applied.error,
          ...("rule" in applied && applied.rule ? { rule: applied.rule } : {}),
          ...(partial ? { partial: true as const } : {}),
          info: r.info,
        };
      }
      this.deps.log.info("firewall changed", { operation: reason, backend: b.name, groups: next.length });
      return { kind: "applied", changed: true, backend: b.name, info: r.info };
    });
  }

  /** Puts back the newest snapshot (persisted, so this works after a restart) and consumes it. */
  rollback(): Promise<{ ok: true } | { ok: false; message: string; noBackup?: boolean }> {
    return this.serial(async () => {
      const b = await this.backend();
      if (typeof b === "string") return { ok: false, message: b };
      const backup = this.backups.latest();
      if (!backup) return { ok: false, message: "No backup available for rollback", noBackup: true };
      try {
        const current = normalizeState(await b.read());
        const target = normalizeState(backup.state);
        if (!sameState(current, target)) {
          const r = await b.apply(current, target);
          if (!r.ok) return { ok: false, message: `Failed to rollback firewall: ${r.error}` };
        }
      } catch (err) {
        return { ok: false, message: `Failed to rollback firewall: ${err instanceof Error ? err.message : String(err)}` };
      }
      this.backups.drop(backup.id);
      this.deps.log.info("firewall rolled back", { to: backup.reason, takenAt: new Date(backup.takenAt).toISOString() });
      return { ok: true };
    });
  }
}
