// The `interfaces` and `addresses` keys: interfaces from /sys/class/net (same filter as the traffic metric),
// IPv4 addresses from getifaddrs (os.networkInterfaces), only on reported interfaces so every address's
// interface_name is in `interfaces` (the 2024 console answers 500 otherwise). Never spawns a process.
import { readdirSync } from "node:fs";
import { networkInterfaces, type NetworkInterfaceInfo } from "node:os";
import { isReportedInterface, readInterfaceFacts } from "../../../platform/proc/netdev.ts";
import type { AddressRow, InterfaceRow } from "../types.ts";
import { readText, type CollectorEnv } from "./env.ts";

/** The kernel IFF_ bits the reference reports: UP 1, LOOPBACK 8, POINTOPOINT 16, RUNNING 64. */
const IFF_UP = 0x1;
const IFF_LOOPBACK = 0x8;
const IFF_POINTOPOINT = 0x10;
const IFF_RUNNING = 0x40;

export interface SysInterface {
  name: string;
  /** /sys/class/net/<if>/address */
  address: string;
  /** /sys/class/net/<if>/flags (hex text) */
  flags: string;
  mtu: string;
  /** Mb/s; -1 or "" when unknown */
  speed: string;
  /** "1" when the link has carrier */
  carrier: string;
}

export function interfaceRow(s: SysInterface): InterfaceRow {
  const raw = Number.parseInt(s.flags, 16) || 0;
  let flags = raw & (IFF_UP | IFF_LOOPBACK | IFF_POINTOPOINT);
  if (raw & IFF_UP && s.carrier === "1") flags |= IFF_RUNNING;
  const speed = Number(s.speed);
  return {
    name: s.name,
    mac: s.address,
    type: 0,
    flags,
    mtu: Number(s.mtu) || 0,
    link_speed: Number.isInteger(speed) && speed > 0 ? speed : 0,
  };
}

/** a.b.c.d | ~mask, "" when either is not IPv4. */
export function broadcastOf(address: string, mask: string): string {
  const a = address.split(".").map(Number);
  const m = mask.split(".").map(Number);
  if (a.length !== 4 || m.length !== 4 || [...a, ...m].some((n) => !Number.isInteger(n) || n < 0 || n > 255)) return "";
  return a.map((octet, i) => (octet | (~m[i]! & 255)) & 255).join(".");
}

/** IPv4 addresses of the given interfaces; an alias label (eth0:1) counts as its interface. */
export function addressRows(ifaces: Record<string, NetworkInterfaceInfo[] | undefined>, reported: ReadonlySet<string>): AddressRow[] {
  const rows: AddressRow[] = [];
  for (const [label, infos] of Object.entries(ifaces)) {
    const name = label.split(":")[0]!;
    if (!reported.has(name)) continue;
    for (const info of infos ?? []) {
      if (info.family !== "IPv4") continue;
      rows.push({ address: info.address, broadcast: broadcastOf(info.address, info.netmask), interface_name: name, mask: info.netmask });
    }
  }
  return rows.sort((x, y) => x.interface_name.localeCompare(y.interface_name) || x.address.localeCompare(y.address));
}

export function collectInterfaces(env: CollectorEnv): InterfaceRow[] {
  let names: string[];
  try {
    names = readdirSync(`${env.sysRoot}/class/net`);
  } catch {
    return [];
  }
  const rows: InterfaceRow[] = [];
  for (const name of names.sort()) {
    if (!isReportedInterface(readInterfaceFacts(name, env.sysRoot))) continue;
    const dir = `${env.sysRoot}/class/net/${name}`;
    const address = readText(`${dir}/address`);
    if (!address) continue; // the reference skipped interfaces without a MAC (tun, wireguard)
    rows.push(
      interfaceRow({
        name,
        address,
        flags: readText(`${dir}/flags`),
        mtu: readText(`${dir}/mtu`),
        speed: readText(`${dir}/speed`),
        carrier: readText(`${dir}/carrier`),
      }),
    );
  }
  return rows;
}

export function collectAddresses(interfaces: readonly InterfaceRow[]): AddressRow[] {
  return addressRows(networkInterfaces(), new Set(interfaces.map((i) => i.name)));
}
