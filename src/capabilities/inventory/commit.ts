// The full commit (spec/metrics.md §10.2): one PUT of everything, then the `committed` event after it.
// `load` goes as a number (2025); a 400 switches to {period, average} (the 2024 console) through the
// outbox's fallback, remembered as the `commit-load` dialect (console-dialects.md §9). Pure: builds requests.
// The agent's full commit is built as text in the inventory helper (collect-main.ts), so the snapshot's objects
// and the body's construction never enter the long-lived agent; it only stores and sends the text.
import type { OutboxItem } from "../../console/outbox/item.ts";
import { PRIORITY_INVENTORY } from "../../console/outbox/item.ts";
import { COMMIT_PATH, EVENTS_PATH } from "./keys.ts";
import { snapshotHashes, type HashedKey } from "./hashes.ts";
import type { Snapshot } from "./types.ts";

export const COMMIT_LOAD_DIALECT = "commit-load";

/**
 * The commit body: every collected key; addresses only on interfaces that are in the body. With `hashes` it is
 * the 2026 form (upstream-2026.md §5.2): pam_version and sshd_use_pam, sync_hashes, no packages, and every
 * empty list left out; without, the 2024/2025 form with packages (those consoles store them).
 */
export function commitBody(s: Partial<Snapshot>, version: string, hashes?: Partial<Record<HashedKey, string>>): Record<string, unknown> {
  const body: Record<string, unknown> = { version, load: s.server?.load ?? 0 };
  if (hashes) {
    if (s.server?.pam_version) body.pam_version = s.server.pam_version;
    body.sshd_use_pam = s.server?.sshd_use_pam ?? null;
  }
  for (const key of ["info", "os", "time", "users", "groups", "interfaces", "packages", "disks", "partitions"] as const) {
    const value = s[key];
    if (value === undefined) continue;
    if (hashes && (key === "packages" || (Array.isArray(value) && value.length === 0))) continue;
    body[key] = value;
  }
  if (s.interfaces && s.addresses) {
    const names = new Set(s.interfaces.map((i) => i.name));
    const addresses = s.addresses.filter((a) => names.has(a.interface_name));
    if (!hashes || addresses.length > 0) body.addresses = addresses;
  }
  if (hashes && Object.keys(hashes).length > 0) body.sync_hashes = hashes;
  return body;
}

/** The 2024 form of `load`. */
export function legacyLoad(load: number): { period: string; average: number } {
  return { period: "1m", average: load };
}

/**
 * The form of the commit: "2026" for a console that checks sync hashes (no packages, `sync_hashes`), "older" for
 * a 2024/2025 one (with packages, followed by the firewall sync).
 */
export type CommitForm = "2026" | "older";
export const COMMIT_FORMS: readonly CommitForm[] = ["2026", "older"];

/** A full commit as the outbox stores it: JSON text, never parsed again in the agent. */
export interface CommitText {
  /** The body with `load` as a number. */
  body: string;
  /** The same body with the 2024 `load` ({period, average}). */
  legacyBody: string;
  /** How many top-level keys the body has, and how many packages (for the agent's log line). */
  keys: number;
  packages: number;
  /** The firewall sync's body (`{"chains":[...]}`; the older form, when there are chains). */
  firewall?: string;
}

/** A commit body as text, in both `load` forms. */
export function encodeCommit(body: Record<string, unknown>): Pick<CommitText, "body" | "legacyBody" | "keys"> {
  return {
    body: JSON.stringify(body),
    legacyBody: JSON.stringify({ ...body, load: legacyLoad(Number(body.load) || 0) }),
    keys: Object.keys(body).length,
  };
}

/**
 * The full commit of a collected snapshot (its `server` already carrying the agent's version and host facts):
 * the 2026 form with every category's hash, or the older form with packages and, given chains, the firewall sync.
 */
export function buildCommit(snapshot: Partial<Snapshot>, version: string, form: CommitForm, firewallChains?: unknown[]): CommitText {
  const hashes = form === "2026" ? snapshotHashes(snapshot) : undefined;
  const commit: CommitText = {
    ...encodeCommit(commitBody(snapshot, version, hashes)),
    packages: hashes ? 0 : (snapshot.packages?.length ?? 0),
  };
  if (form === "older" && firewallChains && firewallChains.length > 0) commit.firewall = JSON.stringify({ chains: firewallChains });
  return commit;
}

export function commitItem(commit: Pick<CommitText, "body" | "legacyBody">): OutboxItem {
  return {
    method: "PUT",
    path: COMMIT_PATH,
    priority: PRIORITY_INVENTORY,
    timeoutMs: 30_000,
    body: commit.body,
    fallback: { dialect: COMMIT_LOAD_DIALECT, method: "PUT", path: COMMIT_PATH, body: commit.legacyBody },
    fallbackOn: [400],
  };
}

export function committedEvent(version: string, after: number): OutboxItem {
  return {
    method: "POST",
    path: EVENTS_PATH,
    priority: PRIORITY_INVENTORY,
    ...(after > 0 ? { after } : {}),
    body: { reporter: "alpamon", record: "committed", description: `Committed system information. version: ${version}` },
  };
}
