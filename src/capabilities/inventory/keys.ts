// Where each sync key lives on the console and how its rows are matched and compared (spec/metrics.md
// §10.3). Data only; never talks to the console.
import type { SnapshotKey } from "./types.ts";

export interface KeyDef {
  key: SnapshotKey;
  multirow: boolean;
  /** The collection URL: POST here, PATCH/DELETE `<url><id>/`. */
  url: string;
  /** GET of the remote state. */
  syncPath: string;
  /** Fields compared and sent (`id` never is). */
  fields: readonly string[];
  /** Multirow: the fields that identify a row; duplicates are told apart by `tiebreak`. */
  identity?: readonly string[];
  tiebreak?: string;
}

const proc = (name: string, multirow: boolean) =>
  ({ url: `/api/proc/${name}/`, syncPath: multirow ? `/api/proc/${name}/sync/` : `/api/proc/${name}/-/sync/`, multirow }) as const;

export const KEY_DEFS: Readonly<Record<Exclude<SnapshotKey, "server">, KeyDef>> = {
  info: {
    key: "info",
    ...proc("info", false),
    fields: [
      "uuid",
      "cpu_type",
      "cpu_brand",
      "cpu_physical_cores",
      "cpu_logical_cores",
      "physical_memory",
      "hardware_vendor",
      "hardware_model",
      "hardware_serial",
      "computer_name",
      "hostname",
      "local_hostname",
    ],
  },
  os: { key: "os", ...proc("os", false), fields: ["name", "version", "major", "minor", "patch", "platform", "platform_like"] },
  time: { key: "time", ...proc("time", false), fields: ["datetime", "timezone", "uptime"] },
  groups: { key: "groups", ...proc("groups", true), fields: ["gid", "groupname"], identity: ["gid"] },
  users: { key: "users", ...proc("users", true), fields: ["uid", "gid", "username", "directory", "shell"], identity: ["username"] },
  interfaces: {
    key: "interfaces",
    ...proc("interfaces", true),
    fields: ["name", "mac", "type", "flags", "mtu", "link_speed"],
    identity: ["name"],
  },
  addresses: {
    key: "addresses",
    ...proc("addresses", true),
    fields: ["address", "broadcast", "interface_name", "mask"],
    identity: ["address"],
  },
  // Name alone collides for multi-arch dpkg and parallel rpm kernels (§12 #20).
  packages: {
    key: "packages",
    ...proc("packages", true),
    fields: ["name", "version", "source", "arch"],
    identity: ["name", "arch"],
    tiebreak: "version",
  },
  disks: { key: "disks", ...proc("disks", true), fields: ["name", "serial_number", "label"], identity: ["name"] },
  partitions: {
    key: "partitions",
    ...proc("partitions", true),
    fields: ["name", "mount_points", "disk_name", "fs_type", "is_virtual"],
    identity: ["name"],
  },
};

export const SERVER_SYNC_PATH = "/api/servers/servers/-/sync/";
export const COMMIT_PATH = "/api/servers/servers/-/commit/";
export const EVENTS_PATH = "/api/events/events/";
export const FIREWALL_SYNC_PATH = "/api/firewall/agent/sync/";
/** 2026 (upstream-2026.md §5.2): which categories differ from the hashes the console stored. */
export const SYNC_CHECK_PATH = "/api/servers/servers/-/sync-check/";
export const ACCESS_POLICY_PATH = "/api/servers/servers/-/access-policy/";

/** Every key `sync` knows, in the order they are synced. */
export const SYNC_KEYS = [
  "server",
  "info",
  "os",
  "time",
  "groups",
  "users",
  "interfaces",
  "addresses",
  "packages",
  "disks",
  "partitions",
  "firewall",
] as const;
export type SyncKey = (typeof SYNC_KEYS)[number];
