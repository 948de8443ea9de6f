// Wire shapes of every commit/sync key (spec/metrics.md §10.3-10.4): what the collectors produce and what
// commit and sync send. Types only; never reads the system and never talks to the console.

export interface ServerData {
  version: string;
  /** The 1-minute load average; the 2024 console wants {period, average} (see commit.ts). */
  load: number;
  /** The installed alpamon-pam version; left out when none (upstream-2026.md §5.2). */
  pam_version?: string;
  /** `usepam` of `sshd -T`; always sent, null when unknown (§9.4). Absent only before the facts are read. */
  sshd_use_pam?: "yes" | "no" | null;
}

export interface InfoData {
  uuid: string;
  cpu_type: string;
  cpu_brand: string;
  cpu_physical_cores: number;
  cpu_logical_cores: number;
  physical_memory: number;
  hardware_vendor: string;
  hardware_model: string;
  hardware_serial: string;
  computer_name: string;
  hostname: string;
  local_hostname: string;
}

export interface OsData {
  name: string;
  version: string;
  major: number;
  minor: number;
  patch: number;
  platform: string;
  platform_like: string;
}

export interface TimeData {
  /** RFC 3339, whole seconds, local offset. */
  datetime: string;
  /** Zone abbreviation (KST, UTC), as the reference sends it. */
  timezone: string;
  /** Seconds since boot. */
  uptime: number;
  /** Epoch seconds of the boot (the reference always sent 0). */
  boot_time: number;
}

export interface UserRow {
  uid: number;
  gid: number;
  username: string;
  description: string;
  directory: string;
  shell: string;
}

export interface GroupRow {
  gid: number;
  groupname: string;
}

export interface InterfaceRow {
  name: string;
  mac: string;
  type: number;
  flags: number;
  mtu: number;
  link_speed: number;
}

export interface AddressRow {
  address: string;
  broadcast: string;
  interface_name: string;
  mask: string;
}

export interface PackageRow {
  name: string;
  version: string;
  source: string;
  arch: string;
}

export interface DiskRow {
  name: string;
  serial_number: string;
  label: string;
}

export interface PartitionRow {
  name: string;
  mount_points: string[];
  disk_name: string;
  fs_type: string;
  is_virtual: boolean;
}

export interface Snapshot {
  server: ServerData;
  info: InfoData;
  os: OsData;
  time: TimeData;
  users: UserRow[];
  groups: GroupRow[];
  interfaces: InterfaceRow[];
  addresses: AddressRow[];
  packages: PackageRow[];
  disks: DiskRow[];
  partitions: PartitionRow[];
}

export type SnapshotKey = keyof Snapshot;
export const SNAPSHOT_KEYS: readonly SnapshotKey[] = [
  "server",
  "info",
  "os",
  "time",
  "users",
  "groups",
  "interfaces",
  "addresses",
  "packages",
  "disks",
  "partitions",
];
