import { describe, expect, test } from "bun:test";
import {
  isReportedInterface,
  parseNetDev,
  readInterfaceFacts,
  readNetDev,
  trafficRates,
  type InterfaceCounters,
} from "../../../src/platform/proc/netdev.ts";
import { fixture, readFixture } from "../../capabilities/metrics/fixtures.ts";

describe("parseNetDev", () => {
  test("a captured /proc/net/dev: headers skipped, counters in place", () => {
    const interfaces = parseNetDev(readFixture("proc", "host-a", "net", "dev"));
    expect(interfaces.map((i) => i.name)).toEqual(["lo", "ifb0", "ifb1", "eth0"]);
    expect(interfaces[3]).toEqual({
      name: "eth0",
      rxBytes: 313045003,
      rxPackets: 6847,
      txBytes: 327331,
      txPackets: 4081,
    });
  });

  test("old kernels glue the first counter to the colon", () => {
    expect(parseNetDev(readFixture("proc", "variants", "net-dev-old"))[1]).toEqual({
      name: "eth0",
      rxBytes: 4294967295,
      rxPackets: 12345,
      txBytes: 98765432,
      txPackets: 54321,
    });
  });

  test("the reader throws on a missing file", () => {
    expect(readNetDev(fixture("proc", "server-a")).length).toBe(11);
    expect(() => readNetDev(fixture("proc", "does-not-exist"))).toThrow();
  });
});

describe("isReportedInterface", () => {
  const cases: [string, boolean, boolean][] = [
    ["lo", false, false],
    ["lo", true, false],
    ["eth0", true, true],
    ["eth0", false, true], // a container's veth-backed eth0
    ["enp0s3", true, true],
    ["enp0s3", false, true],
    ["enp0s31f6", true, true],
    ["docker0", false, false],
    ["veth123", false, false],
    ["br-abc", false, false],
    ["wg0", false, false],
    ["tailscale0", false, false],
    ["ifb0", false, false],
    ["bond0", false, true],
    ["br0", false, true],
    ["eth0.100", false, true],
    ["tap0", true, true], // a bus device always wins over the name
  ];
  test.each(cases)("%s (device %p) -> %p", (name, hasDevice, expected) => {
    expect(isReportedInterface({ name, hasDevice })).toBe(expected);
  });

  test("facts come from /sys/class/net/<if>/device", () => {
    const sys = fixture("sys", "server");
    expect(readInterfaceFacts("enp0s3", sys)).toEqual({ name: "enp0s3", hasDevice: true });
    expect(readInterfaceFacts("docker0", sys)).toEqual({ name: "docker0", hasDevice: false });
    expect(readInterfaceFacts("eth9", sys)).toEqual({ name: "eth9", hasDevice: false });
  });
});

describe("trafficRates", () => {
  test("captured pair over one second: bits and packets per second", () => {
    const prev = parseNetDev(readFixture("proc", "host-a", "net", "dev"));
    const cur = parseNetDev(readFixture("proc", "host-b", "net", "dev"));
    expect(trafficRates(prev, cur, 1).find((r) => r.name === "eth0")).toEqual({
      name: "eth0",
      input_bps: (313048543 - 313045003) * 8,
      output_bps: (378389 - 327331) * 8,
      input_pps: 6853 - 6847,
      output_pps: 4130 - 4081,
    });
  });

  test("server pair: wrapped counter dropped, idle interface gives zeros", () => {
    const prev = parseNetDev(readFixture("proc", "server-a", "net", "dev"));
    const cur = parseNetDev(readFixture("proc", "server-b", "net", "dev"));
    const rates = trafficRates(prev, cur, 1.25);
    expect(rates.find((r) => r.name === "eno1")).toBeUndefined();
    expect(rates.find((r) => r.name === "enp0s3")).toEqual({
      name: "enp0s3",
      input_bps: 0,
      output_bps: 0,
      input_pps: 0,
      output_pps: 0,
    });
    expect(rates.find((r) => r.name === "enp0s31f6")).toEqual({
      name: "enp0s31f6",
      input_bps: 8_000_000,
      output_bps: 4_000_000,
      input_pps: 800,
      output_pps: 400,
    });
  });

  test("any counter going backwards drops the interface; one seen once gives nothing", () => {
    const base = { rxBytes: 1000, rxPackets: 10, txBytes: 1000, txPackets: 10 };
    const prev: InterfaceCounters[] = [
      { name: "a", ...base },
      { name: "b", ...base },
      { name: "c", ...base },
    ];
    const cur: InterfaceCounters[] = [
      { name: "a", ...base, txPackets: 9 },
      { name: "b", ...base, rxBytes: 999 },
      { name: "c", ...base, rxBytes: 1125, rxPackets: 11 },
      { name: "new0", ...base },
    ];
    expect(trafficRates(prev, cur, 0.5)).toEqual([{ name: "c", input_bps: 2000, output_bps: 0, input_pps: 2, output_pps: 0 }]);
  });

  test("no elapsed time gives no sample", () => {
    const same: InterfaceCounters[] = [{ name: "eth0", rxBytes: 1, rxPackets: 1, txBytes: 1, txPackets: 1 }];
    expect(trafficRates(same, same, 0)).toEqual([]);
  });
});
