// The `info` key: host id, CPU, memory, hostname and the real DMI vendor/model/serial (the reference sent
// CPU fields there, spec/metrics.md §12 #22). Reads /proc and /sys only: no dmidecode, lscpu or other process.
import { hostname } from "node:os";
import { join } from "node:path";
import { arch } from "node:process";
import type { InfoData } from "../types.ts";
import { readText, type CollectorEnv } from "./env.ts";

export interface CpuSummary {
  brand: string;
  physicalCores: number;
  logicalCores: number;
}

/** Logical CPUs are `processor` stanzas; physical cores are distinct (physical id, core id) pairs. */
export function parseCpuinfo(text: string): CpuSummary {
  let brand = "";
  let logical = 0;
  const cores = new Set<string>();
  for (const stanza of text.split(/\n\s*\n/)) {
    const fields = new Map<string, string>();
    for (const line of stanza.split("\n")) {
      const i = line.indexOf(":");
      if (i > 0) fields.set(line.slice(0, i).trim(), line.slice(i + 1).trim());
    }
    if (!fields.has("processor")) continue;
    logical++;
    brand ||= fields.get("model name") ?? fields.get("Model") ?? fields.get("cpu model") ?? "";
    if (fields.has("core id")) cores.add(`${fields.get("physical id") ?? "0"}:${fields.get("core id")}`);
  }
  return { brand, logicalCores: logical, physicalCores: cores.size || logical };
}

/** MemTotal in bytes. */
export function parseMemTotal(meminfo: string): number {
  const kb = /^MemTotal:\s+(\d+)\s*kB/m.exec(meminfo)?.[1];
  return kb ? Number(kb) * 1024 : 0;
}

/** 32 hex digits as 8-4-4-4-12, as gopsutil formats /etc/machine-id. */
export function formatMachineId(id: string): string {
  const hex = id.trim().toLowerCase();
  if (!/^[0-9a-f]{32}$/.test(hex)) return hex;
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/** Same cascade as the Go agent, so an existing server keeps its id: DMI uuid, machine-id, boot id. */
export function readHostId(env: Pick<CollectorEnv, "sysRoot" | "root" | "procRoot">): string {
  const dmi = readText(`${env.sysRoot}/class/dmi/id/product_uuid`).toLowerCase();
  if (dmi) return dmi;
  const machineId = readText(join(env.root, "etc/machine-id"));
  if (machineId) return formatMachineId(machineId);
  return readText(`${env.procRoot}/sys/kernel/random/boot_id`);
}

/** DMI strings vendors leave as placeholders. */
const PLACEHOLDER = /^(to be filled by o\.e\.m\.|default string|not specified|none|system serial number|0+|)$/i;

function dmi(sysRoot: string, field: string): string {
  const value = readText(`${sysRoot}/class/dmi/id/${field}`);
  return PLACEHOLDER.test(value) ? "" : value;
}

const KERNEL_ARCH: Record<string, string> = {
  x64: "x86_64",
  arm64: "aarch64",
  arm: "armv7l",
  ia32: "i686",
  ppc64: "ppc64le",
  s390x: "s390x",
};

export function collectInfo(env: CollectorEnv): InfoData {
  const cpu = parseCpuinfo(readText(`${env.procRoot}/cpuinfo`));
  const host = hostname();
  return {
    uuid: readHostId(env),
    cpu_type: KERNEL_ARCH[arch] ?? arch,
    cpu_brand: cpu.brand,
    cpu_physical_cores: cpu.physicalCores,
    cpu_logical_cores: cpu.logicalCores,
    physical_memory: parseMemTotal(readText(`${env.procRoot}/meminfo`)),
    hardware_vendor: dmi(env.sysRoot, "sys_vendor") || dmi(env.sysRoot, "board_vendor"),
    hardware_model: dmi(env.sysRoot, "product_name") || dmi(env.sysRoot, "board_name"),
    hardware_serial: dmi(env.sysRoot, "product_serial") || dmi(env.sysRoot, "board_serial"),
    computer_name: host,
    hostname: host,
    local_hostname: host,
  };
}
