// The full commit (spec/metrics.md §10.2): one PUT of everything, then the `committed` event after it.
// `load` goes as a number (2025); a 400 switches to {period, average} (the 2024 console) through the
// outbox's fallback, remembered as the `commit-load` dialect (console-dialects.md §9). Pure: builds requests.
import type { OutboxItem } from "../../console/outbox/item.ts";
import { PRIORITY_INVENTORY } from "../../console/outbox/item.ts";
import { COMMIT_PATH, EVENTS_PATH } from "./keys.ts";
import type { HashedKey } from "./hashes.ts";
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

export function commitItem(body: Record<string, unknown>): OutboxItem {
  return {
    method: "PUT",
    path: COMMIT_PATH,
    priority: PRIORITY_INVENTORY,
    timeoutMs: 30_000,
    body,
    fallback: {
      dialect: COMMIT_LOAD_DIALECT,
      method: "PUT",
      path: COMMIT_PATH,
      body: { ...body, load: legacyLoad(Number(body.load) || 0) },
    },
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
