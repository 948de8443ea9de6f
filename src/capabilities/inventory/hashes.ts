// The hashes of hash-checked sync (upstream-2026.md §5.1): "sha256:" + lower-case hex of SHA-256 over our
// canonical JSON of a category. Pure: no I/O, no clock.
//
// The canonical JSON (README, "Inventory"): the shapes of §5.1 with their fields in the listed order, compact
// (no spaces), `<`, `>`, `&`, U+2028 and U+2029 escaped as \u003c, \u003e, \u0026, \u2028, \u2029 as Go's
// json.Marshal does, no `id`:
//   info        {uuid,cpu_type,cpu_brand,cpu_physical_cores,cpu_logical_cores,physical_memory,hardware_vendor,
//                hardware_model,hardware_serial,computer_name,hostname,local_hostname}
//   os          {name,version,major,minor,patch,platform,platform_like}
//   time        {"datetime":"","boot_time":0,"timezone":<abbr>,"uptime":0}  (only the zone counts)
//   groups      [{gid,groupname}] in NSS order
//   users       [{uid,gid,username,description:"",directory,shell}] in NSS order
//   interfaces  [{name,mac,type,flags,mtu,link_speed}]
//   addresses   [{address,broadcast,interface_name,mask}]
//   disks       [{name,serial_number,label}] sorted by name
//   partitions  [{mount_points (sorted),name,disk_name,fs_type,is_virtual}] sorted by name; none is `null`
// Byte identity with the Go agent is not a goal (§5.1: the console compares opaque strings); a host that
// switches agents costs one forced sync per category.
import type { Snapshot } from "./types.ts";
import { KEY_DEFS } from "./keys.ts";

/** The nine hashed categories, in the fixed order they are synced (server foreign keys, §5.1). */
export const HASHED_KEYS = ["info", "os", "time", "groups", "users", "interfaces", "addresses", "disks", "partitions"] as const;
export type HashedKey = (typeof HASHED_KEYS)[number];

export function isHashedKey(key: string): key is HashedKey {
  return (HASHED_KEYS as readonly string[]).includes(key);
}

type Row = Record<string, unknown>;

function ordered(row: object, fields: readonly string[], fixed: Row = {}): Row {
  const out: Row = {};
  for (const f of fields) out[f] = f in fixed ? fixed[f] : (row as Row)[f];
  return out;
}

const byName = (a: { name: string }, b: { name: string }) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);

/** The value whose canonical JSON is hashed for `key`. */
export function canonicalValue<K extends HashedKey>(key: K, data: Snapshot[K]): unknown {
  switch (key) {
    case "info":
      return ordered(data as object, KEY_DEFS.info.fields);
    case "os":
      return ordered(data as object, KEY_DEFS.os.fields);
    case "time":
      return { datetime: "", boot_time: 0, timezone: (data as Snapshot["time"]).timezone, uptime: 0 };
    case "groups":
      return (data as Snapshot["groups"]).map((g) => ordered(g, ["gid", "groupname"]));
    case "users":
      return (data as Snapshot["users"]).map((u) =>
        ordered(u, ["uid", "gid", "username", "description", "directory", "shell"], { description: "" }),
      );
    case "interfaces":
      return (data as Snapshot["interfaces"]).map((i) => ordered(i, ["name", "mac", "type", "flags", "mtu", "link_speed"]));
    case "addresses":
      return (data as Snapshot["addresses"]).map((a) => ordered(a, ["address", "broadcast", "interface_name", "mask"]));
    case "disks":
      return [...(data as Snapshot["disks"])].sort(byName).map((d) => ordered(d, ["name", "serial_number", "label"]));
    default: {
      const parts = [...(data as Snapshot["partitions"])].sort(byName);
      if (parts.length === 0) return null;
      return parts.map((p) =>
        ordered(p, ["mount_points", "name", "disk_name", "fs_type", "is_virtual"], { mount_points: [...p.mount_points].sort() }),
      );
    }
  }
}

/** JSON.stringify with Go's HTML-safe escapes. */
export function canonicalJson(value: unknown): string {
  return (JSON.stringify(value) ?? "null").replace(/[<>&\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);
}

export function categoryHash<K extends HashedKey>(key: K, data: Snapshot[K]): string {
  return `sha256:${new Bun.CryptoHasher("sha256").update(canonicalJson(canonicalValue(key, data))).digest("hex")}`;
}

/** The hash of every hashed category present in `snapshot`, in the fixed order. */
export function snapshotHashes(snapshot: Partial<Snapshot>, keys: readonly HashedKey[] = HASHED_KEYS): Partial<Record<HashedKey, string>> {
  const out: Partial<Record<HashedKey, string>> = {};
  for (const key of HASHED_KEYS) {
    const data = snapshot[key];
    if (keys.includes(key) && data !== undefined) out[key] = categoryHash(key, data as Snapshot[typeof key]);
  }
  return out;
}
