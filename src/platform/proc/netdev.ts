// /proc/net/dev probe: per-interface byte/packet counters, which interfaces count, and rates between two snapshots.
// Pure parsing and arithmetic apart from the tiny readers; never spawns a process (no ip), never emits a rate from a reset counter.
import { existsSync, readFileSync } from "node:fs";

export interface InterfaceCounters {
  name: string;
  rxBytes: number;
  rxPackets: number;
  txBytes: number;
  txPackets: number;
}

/** One entry per interface line, in file order; the two header lines are skipped. */
export function parseNetDev(text: string): InterfaceCounters[] {
  const interfaces: InterfaceCounters[] = [];
  for (const line of text.split("\n")) {
    // Interface names cannot contain ":", and old kernels glue the first counter to it ("eth0:1234").
    const colon = line.indexOf(":");
    if (colon < 0) continue;
    const name = line.slice(0, colon).trim();
    const fields = line
      .slice(colon + 1)
      .trim()
      .split(/\s+/)
      .map(Number);
    if (!name || fields.length < 10 || fields.some((n) => !Number.isFinite(n))) continue;
    interfaces.push({
      name,
      rxBytes: fields[0]!,
      rxPackets: fields[1]!,
      txBytes: fields[8]!,
      txPackets: fields[9]!,
    });
  }
  return interfaces;
}

export function readNetDev(procRoot = "/proc"): InterfaceCounters[] {
  return parseNetDev(readFileSync(`${procRoot}/net/dev`, "utf8"));
}

/** What the filter needs to know about an interface, gathered by `readInterfaceFacts`. */
export interface InterfaceFacts {
  name: string;
  /** `/sys/class/net/<name>/device` exists: the interface is backed by a bus device (PCI, virtio, USB...). */
  hasDevice: boolean;
}

export function readInterfaceFacts(name: string, sysRoot = "/sys"): InterfaceFacts {
  return { name, hasDevice: existsSync(`${sysRoot}/class/net/${name}/device`) };
}

/**
 * Software interfaces whose traffic is either local or already counted on a real NIC. The reference's
 * `enp0s` entry is gone on purpose: it dropped real NICs (enp0s3, enp0s31f6). ifb and dummy are added:
 * they are kernel helpers (traffic shaping, placeholders) that never carry the server's own traffic.
 */
const VIRTUAL_INTERFACE = /^(lo$|docker|veth|br-|virbr|vmnet|tap|tun|wg|zt|tailscale|cni|flannel|cali|ifb|dummy)/;

/**
 * An interface is reported unless it is loopback, or its name is a known virtual prefix and no bus device
 * backs it. A bus device always wins (a real NIC is never dropped for its name); a name outside the list
 * is kept even without a device, so a container's veth-backed eth0, bonds, bridges such as br0 and VLANs
 * still show up.
 */
export function isReportedInterface(facts: InterfaceFacts): boolean {
  if (facts.name === "lo") return false;
  return facts.hasDevice || !VIRTUAL_INTERFACE.test(facts.name);
}

export interface TrafficRate {
  name: string;
  /** bits per second, as the wire expects. */
  input_bps: number;
  output_bps: number;
  /** packets per second. */
  input_pps: number;
  output_pps: number;
}

/**
 * Rates per interface present in both snapshots, in `cur` order. An interface seen only once, or with any
 * counter gone backwards (reset, 32-bit wrap, re-created interface), yields no sample rather than a bogus one.
 */
export function trafficRates(prev: readonly InterfaceCounters[], cur: readonly InterfaceCounters[], elapsedSeconds: number): TrafficRate[] {
  if (!(elapsedSeconds > 0)) return [];
  const before = new Map(prev.map((iface) => [iface.name, iface]));
  const rates: TrafficRate[] = [];
  for (const iface of cur) {
    const old = before.get(iface.name);
    if (!old) continue;
    const rxBytes = iface.rxBytes - old.rxBytes;
    const txBytes = iface.txBytes - old.txBytes;
    const rxPackets = iface.rxPackets - old.rxPackets;
    const txPackets = iface.txPackets - old.txPackets;
    if (rxBytes < 0 || txBytes < 0 || rxPackets < 0 || txPackets < 0) continue;
    rates.push({
      name: iface.name,
      input_bps: (rxBytes * 8) / elapsedSeconds,
      output_bps: (txBytes * 8) / elapsedSeconds,
      input_pps: rxPackets / elapsedSeconds,
      output_pps: txPackets / elapsedSeconds,
    });
  }
  return rates;
}
