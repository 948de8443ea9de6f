// Collector parsers on captured fixtures (cpuinfo, dpkg status and journal, passwd, mountinfo with nvme,
// mmcblk and device-mapper in a fixture sysfs), plus the real host's package count against dpkg-query.
import { describe, expect, test } from "bun:test";
import { mkdirSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { runProcess } from "../../../src/exec/run.ts";
import { parseGroup, parsePasswd } from "../../../src/capabilities/inventory/collectors/accounts.ts";
import { collectPartitions, parseUdevSerial } from "../../../src/capabilities/inventory/collectors/disks.ts";
import { formatMachineId, parseCpuinfo, parseMemTotal } from "../../../src/capabilities/inventory/collectors/info.ts";
import { addressRows, broadcastOf, interfaceRow } from "../../../src/capabilities/inventory/collectors/network.ts";
import { osFromRelease, versionParts } from "../../../src/capabilities/inventory/collectors/os.ts";
import { collectPackages, parseDpkgStatus, parseRpmQuery } from "../../../src/capabilities/inventory/collectors/packages.ts";
import { hostCollectorEnv } from "../../../src/capabilities/inventory/collectors/env.ts";
import { readHostFacts } from "../../../src/capabilities/inventory/collectors/pam.ts";
import { parseLoadavg } from "../../../src/capabilities/inventory/collectors/server.ts";
import { parseUptime, timeData } from "../../../src/capabilities/inventory/collectors/time.ts";
import { parseOsRelease } from "../../../src/platform/os-release.ts";
import { useTempDirs } from "../../helpers/tmp.ts";

const fixture = (name: string) => readFileSync(join(import.meta.dir, "../../fixtures", name), "utf8");
const tmp = useTempDirs("alpamon-inventory-");

describe("server, info, time", () => {
  test("load, cpuinfo, memory, machine id, uptime", () => {
    expect(parseLoadavg("0.42 0.30 0.10 1/234 5678\n")).toBe(0.42);
    expect(parseLoadavg("garbage")).toBe(0);
    expect(parseCpuinfo(fixture("inventory/cpuinfo"))).toEqual({
      brand: "Intel(R) Xeon(R) Gold 6230 CPU @ 2.10GHz",
      logicalCores: 4,
      physicalCores: 3,
    });
    expect(parseCpuinfo("")).toEqual({ brand: "", logicalCores: 0, physicalCores: 0 });
    expect(parseMemTotal("MemTotal:       16318496 kB\nMemFree: 1 kB\n")).toBe(16318496 * 1024);
    expect(formatMachineId("3D1219C7C4C5404AAA1F6D2A48ADFDA4\n")).toBe("3d1219c7-c4c5-404a-aa1f-6d2a48adfda4");
    expect(parseUptime("3497.51 6000.00\n")).toBe(3497.51);
    const t = timeData(Date.UTC(2026, 0, 1, 0, 0, 10), 10, "UTC");
    expect(t.boot_time).toBe(Date.UTC(2026, 0, 1) / 1000);
    expect(t.uptime).toBe(10);
  });
});

describe("os", () => {
  test("from os-release fixtures; Debian takes its point release", () => {
    expect(versionParts("12.7")).toEqual([12, 7, 0]);
    expect(versionParts("rolling")).toEqual([0, 0, 0]);
    const debian = osFromRelease(parseOsRelease(fixture("os-release/debian-12")), "12.7");
    expect(debian).toEqual({ name: "debian", version: "12.7", major: 12, minor: 7, patch: 0, platform: "debian", platform_like: "debian" });
    const rocky = osFromRelease(parseOsRelease(fixture("os-release/rocky-9")));
    expect(rocky).toMatchObject({ name: "rocky", version: "9.3", major: 9, minor: 3, platform: "rocky", platform_like: "rhel" });
    const ubuntu = osFromRelease(parseOsRelease(fixture("os-release/ubuntu-24.04")), "trixie/sid");
    expect(ubuntu).toMatchObject({ name: "ubuntu", version: "24.04", major: 24, minor: 4, platform_like: "debian" });
    expect(osFromRelease(parseOsRelease(fixture("os-release/arch")))).toMatchObject({ name: "arch", platform_like: "arch" });
  });
});

describe("users and groups", () => {
  test("passwd with GECOS as description; malformed lines skipped", () => {
    expect(parsePasswd(fixture("inventory/passwd"))).toEqual([
      { uid: 0, gid: 0, username: "root", description: "root", directory: "/root", shell: "/bin/bash" },
      { uid: 1000, gid: 1000, username: "alice", description: "Alice Example,,,", directory: "/home/alice", shell: "/bin/zsh" },
    ]);
    expect(parseGroup("root:x:0:\nsudo:x:27:alice,bob\nbad:x:gid:\nshort:x:1\n")).toEqual([
      { gid: 0, groupname: "root" },
      { gid: 27, groupname: "sudo" },
    ]);
  });
});

describe("network", () => {
  test("flags, speed, broadcast, addresses only on reported interfaces", () => {
    expect(interfaceRow({ name: "eth0", address: "02:00:00:00:00:01", flags: "0x1003", mtu: "1500", speed: "1000", carrier: "1" })).toEqual(
      {
        name: "eth0",
        mac: "02:00:00:00:00:01",
        type: 0,
        flags: 1 | 64,
        mtu: 1500,
        link_speed: 1000,
      },
    );
    expect(
      interfaceRow({ name: "eth1", address: "02:00:00:00:00:02", flags: "0x1002", mtu: "1500", speed: "-1", carrier: "" }),
    ).toMatchObject({ flags: 0, link_speed: 0 });
    expect(broadcastOf("10.1.2.3", "255.255.0.0")).toBe("10.1.255.255");
    expect(broadcastOf("10.1.2.3", "ffff::")).toBe("");
    const v4 = (address: string, netmask: string) => ({ address, netmask, family: "IPv4" as const, mac: "", internal: false, cidr: null });
    const rows = addressRows(
      {
        eth0: [v4("192.0.2.2", "255.255.255.0"), { ...v4("fd00::2", "ffff::"), family: "IPv6", scopeid: 0 }],
        "eth0:1": [v4("192.0.2.9", "255.255.255.0")],
        docker0: [v4("172.17.0.1", "255.255.0.0")],
      },
      new Set(["eth0"]),
    );
    expect(rows).toEqual([
      { address: "192.0.2.2", broadcast: "192.0.2.255", interface_name: "eth0", mask: "255.255.255.0" },
      { address: "192.0.2.9", broadcast: "192.0.2.255", interface_name: "eth0", mask: "255.255.255.0" },
    ]);
  });
});

describe("host facts", () => {
  /** The host as these answers describe it: each tool a real process printing its answer (none: not installed). */
  const hostWith = (answers: Record<string, string>) => ({
    ...hostCollectorEnv("test", Date.now),
    runProcess: (options: Parameters<typeof runProcess>[0]) => {
      const tool = options.argv[0]!.split("/").pop()!;
      const answer = answers[tool];
      return runProcess({
        ...options,
        argv: answer === undefined ? ["/bin/sh", "-c", "exit 127"] : ["/bin/sh", "-c", 'printf "%s" "$0"', answer],
      });
    },
  });

  test("sshd's usepam and the alpamon-pam version, read side by side", async () => {
    expect(await readHostFacts(hostWith({ sshd: "port 22\nusepam yes\n", "dpkg-query": "1.4.0" }))).toEqual({
      pam_version: "1.4.0",
      sshd_use_pam: "yes",
    });
    expect(await readHostFacts(hostWith({ sshd: "usepam no\n", rpm: "2.0.1" }))).toEqual({ pam_version: "2.0.1", sshd_use_pam: "no" });
  });

  test("nothing installed: usepam unknown (null) and no pam_version key at all", async () => {
    const facts = await readHostFacts(hostWith({}));
    expect(facts).toEqual({ sshd_use_pam: null });
    expect(Object.hasOwn(facts, "pam_version")).toBe(false);
  });
});

describe("packages", () => {
  test("dpkg: installed only, multi-arch kept apart, the updates journal wins", () => {
    const rows = parseDpkgStatus(fixture("inventory/dpkg-status"), [fixture("inventory/dpkg-updates-0001")]);
    expect(rows.map((r) => `${r.name}:${r.arch}=${r.version}`).sort()).toEqual([
      "adduser:all=3.134",
      "halfway:amd64=2.0",
      "libc6:amd64=2.36-9+deb12u4",
      "libc6:i386=2.36-9+deb12u4",
      "upgraded:amd64=1.1",
    ]);
    expect(rows.find((r) => r.name === "libc6")!.source).toBe("glibc");
    expect(parseDpkgStatus(fixture("inventory/dpkg-status")).map((r) => r.name)).not.toContain("halfway");
  });

  test("rpm query output; gpg-pubkey skipped", () => {
    const text =
      "kernel\t5.14.0\tkernel-5.14.0-362.src.rpm\tx86_64\nkernel\t5.14.0\tkernel-5.14.0-427.src.rpm\tx86_64\ngpg-pubkey\tabc\t(none)\t(none)\n";
    expect(parseRpmQuery(text)).toEqual([
      { name: "kernel", version: "5.14.0", source: "kernel-5.14.0-362.src.rpm", arch: "x86_64" },
      { name: "kernel", version: "5.14.0", source: "kernel-5.14.0-427.src.rpm", arch: "x86_64" },
    ]);
  });

  test("on this machine the count equals dpkg-query's ii lines", async () => {
    const env = { procRoot: "/proc", sysRoot: "/sys", root: "/", runProcess, now: Date.now, version: "t" };
    const query = await runProcess({
      // biome-ignore lint/suspicious/noTemplateCurlyInString: dpkg-query's own -f format syntax, not a template literal
      argv: ["dpkg-query", "-W", "-f=${db:Status-Abbrev}\\n"],
      env: { PATH: "/usr/bin:/bin" },
      timeoutMs: 30_000,
    });
    expect(query.exitCode).toBe(0);
    const ii = query.output.split("\n").filter((l) => l.startsWith("ii")).length;
    const rows = await collectPackages(env);
    expect(ii).toBeGreaterThan(10);
    expect(rows.length).toBe(ii);
  });
});

describe("disks and partitions", () => {
  test("disk_name for nvme, mmcblk and device-mapper from a fixture sysfs; NFS and loop left out", () => {
    const root = tmp();
    const proc = join(root, "proc");
    const sys = join(root, "sys");
    mkdirSync(join(proc, "1"), { recursive: true });
    writeFileSync(join(proc, "1/mountinfo"), fixture("inventory/mountinfo"));
    const device = (path: string, partition: boolean, majMin: string) => {
      const dir = join(sys, "devices", path);
      mkdirSync(dir, { recursive: true });
      if (partition) writeFileSync(join(dir, "partition"), "1\n");
      const name = path.split("/").at(-1)!;
      writeFileSync(join(dir, "uevent"), `DEVNAME=${name}\n`);
      mkdirSync(join(sys, "class/block"), { recursive: true });
      symlinkSync(`../../devices/${path}`, join(sys, "class/block", name));
      mkdirSync(join(sys, "dev/block"), { recursive: true });
      symlinkSync(`../../devices/${path}`, join(sys, "dev/block", majMin));
    };
    device("pci/nvme/nvme0n1/nvme0n1p1", true, "259:1");
    device("pci/nvme/nvme0n1/nvme0n1p2", true, "259:2");
    device("mmc/mmcblk0/mmcblk0p1", true, "179:1");
    device("virtual/block/dm-0", false, "253:0");
    const env = { procRoot: proc, sysRoot: sys, root, runProcess, now: Date.now, version: "t" };
    expect(collectPartitions(env)).toEqual([
      { name: "/dev/dm-0", mount_points: ["/var", "/var/log2"], disk_name: "dm-0", fs_type: "xfs", is_virtual: false },
      { name: "/dev/mmcblk0p1", mount_points: ["/media/sd"], disk_name: "mmcblk0", fs_type: "ext4", is_virtual: false },
      { name: "/dev/nvme0n1p1", mount_points: ["/boot/efi"], disk_name: "nvme0n1", fs_type: "vfat", is_virtual: false },
      { name: "/dev/nvme0n1p2", mount_points: ["/"], disk_name: "nvme0n1", fs_type: "ext4", is_virtual: false },
    ]);
    expect(parseUdevSerial("S:disk/by-id/x\nE:ID_SERIAL=Samsung_SSD_970_S4EWNX0M\nE:ID_SERIAL_SHORT=S4EWNX0M\n")).toBe(
      "Samsung_SSD_970_S4EWNX0M",
    );
  });
});
