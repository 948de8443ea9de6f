// os-release parsing and family detection on fixtures written from each distro's shipped file, plus the
// reader's fallback to /usr/lib/os-release. Never reads the host's own os-release except to smoke-test it.
import { describe, expect, test } from "bun:test";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { detectPlatform, parseOsRelease, readOsRelease, readPlatform } from "../../src/platform/os-release.ts";
import { useTempDirs } from "../helpers/tmp.ts";

const tempDir = useTempDirs("alpamon-osrel-");
const fixture = (name: string) => readFileSync(join(import.meta.dir, "../fixtures/os-release", name), "utf8");

describe("parseOsRelease", () => {
  test("handles double and single quotes, escapes, comments, blank and malformed lines", () => {
    const vars = parseOsRelease(
      [
        "# a comment",
        "",
        'NAME="Some \\"Quoted\\" Linux"',
        "ID=plain",
        "VERSION='1.0 (single)'",
        '  PRETTY_NAME="cost \\$5 \\\\ back"  ',
        "not a variable line",
        "=novalue",
        "EMPTY=",
        'EMPTY_QUOTED=""',
      ].join("\n"),
    );
    expect(vars).toEqual({
      NAME: 'Some "Quoted" Linux',
      ID: "plain",
      VERSION: "1.0 (single)",
      PRETTY_NAME: "cost $5 \\ back",
      EMPTY: "",
      EMPTY_QUOTED: "",
    });
  });

  test("skips commented-out assignments (Tumbleweed's file has them)", () => {
    const vars = parseOsRelease(fixture("opensuse-tumbleweed"));
    expect(vars.VERSION).toBeUndefined();
    expect(vars.CPE_NAME).toBe("cpe:2.3:o:opensuse:tumbleweed:20240805:*:*:*:*:*:*:*");
  });

  test("accepts CRLF line ends", () => {
    expect(parseOsRelease('ID=debian\r\nVERSION_ID="12"\r\n')).toEqual({ ID: "debian", VERSION_ID: "12" });
  });
});

describe("detectPlatform", () => {
  const cases: [string, string, string[], string, string, string][] = [
    ["debian-12", "debian", [], "debian", "Debian GNU/Linux", "12"],
    ["ubuntu-24.04", "ubuntu", ["debian"], "debian", "Ubuntu", "24.04"],
    ["raspbian-11", "raspbian", ["debian"], "debian", "Raspbian GNU/Linux", "11"],
    ["linuxmint-21", "linuxmint", ["ubuntu", "debian"], "debian", "Linux Mint", "21.3"],
    ["rhel-9", "rhel", ["fedora"], "rhel", "Red Hat Enterprise Linux", "9.4"],
    ["centos-7", "centos", ["rhel", "fedora"], "rhel", "CentOS Linux", "7"],
    ["rocky-9", "rocky", ["rhel", "centos", "fedora"], "rhel", "Rocky Linux", "9.3"],
    ["almalinux-9", "almalinux", ["rhel", "centos", "fedora"], "rhel", "AlmaLinux", "9.4"],
    ["amzn-2023", "amzn", ["fedora"], "rhel", "Amazon Linux", "2023"],
    ["fedora-40", "fedora", [], "rhel", "Fedora Linux", "40"],
    ["ol-8", "ol", ["fedora"], "rhel", "Oracle Linux Server", "8.9"],
    ["opensuse-leap-15.5", "opensuse-leap", ["suse", "opensuse"], "suse", "openSUSE Leap", "15.5"],
    ["opensuse-tumbleweed", "opensuse-tumbleweed", ["opensuse", "suse"], "suse", "openSUSE Tumbleweed", "20240805"],
    ["sles-15", "sles", ["suse"], "suse", "SLES", "15.5"],
    ["sles-12", "sles", [], "suse", "SLES", "12.5"],
    ["sle-micro-5.5", "sle-micro", ["suse"], "suse", "SLE Micro", "5.5"],
    [
      "opensuse-microos",
      "opensuse-microos",
      ["suse", "opensuse", "opensuse-tumbleweed", "microos"],
      "suse",
      "openSUSE MicroOS",
      "20240806",
    ],
    ["arch", "arch", [], "unknown", "Arch Linux", ""],
    ["alpine-3.20", "alpine", [], "unknown", "Alpine Linux", "3.20.2"],
  ];
  for (const [file, id, idLike, family, name, version] of cases) {
    test(`${file} → ${family}`, () => {
      expect(detectPlatform(parseOsRelease(fixture(file)))).toEqual({ id, idLike, family: family as never, name, version });
    });
  }

  test("an unknown ID with a known ID_LIKE takes that family", () => {
    expect(detectPlatform({ ID: "pop", ID_LIKE: "ubuntu debian" }).family).toBe("debian");
    expect(detectPlatform({ ID: "eurolinux", ID_LIKE: "rhel fedora centos" }).family).toBe("rhel");
    expect(detectPlatform({ ID: "opensuse-microos", ID_LIKE: "suse opensuse opensuse-tumbleweed" }).family).toBe("suse");
  });

  test("SUSE is its own family by ID alone: any ID naming suse, and the enterprise products' short names", () => {
    for (const id of [
      "suse",
      "opensuse",
      "opensuse-slowroll",
      "suse-microos",
      "sles",
      "sles_sap",
      "sled",
      "sle-micro",
      "sl-micro",
      "SLES",
    ]) {
      expect([id, detectPlatform({ ID: id }).family]).toEqual([id, "suse"]);
    }
    // Look-alikes that are not SUSE keep their previous family.
    for (const [id, like, family] of [
      ["slackware", "", "unknown"],
      ["sledge", "", "unknown"],
      ["slimbook", "ubuntu debian", "debian"],
    ] as const) {
      expect([id, detectPlatform({ ID: id, ID_LIKE: like }).family]).toEqual([id, family]);
    }
  });

  test("ID_LIKE is taken in its order: a SUSE derivative naming suse before debian is suse, and the reverse is debian", () => {
    expect(detectPlatform({ ID: "x", ID_LIKE: "suse debian" }).family).toBe("suse");
    expect(detectPlatform({ ID: "x", ID_LIKE: "debian suse" }).family).toBe("debian");
  });

  test("ID and ID_LIKE are compared case-insensitively", () => {
    expect(detectPlatform({ ID: "Debian" })).toMatchObject({ id: "debian", family: "debian" });
  });

  test("an empty os-release falls back to the os-release(5) defaults", () => {
    expect(detectPlatform({})).toEqual({ id: "linux", idLike: [], family: "unknown", name: "Linux", version: "" });
  });

  test("NAME falls back to PRETTY_NAME", () => {
    expect(detectPlatform({ ID: "x", PRETTY_NAME: "X OS 1" }).name).toBe("X OS 1");
  });
});

describe("readOsRelease", () => {
  test("prefers /etc/os-release", () => {
    const root = tempDir();
    mkdirSync(join(root, "etc"));
    mkdirSync(join(root, "usr/lib"), { recursive: true });
    writeFileSync(join(root, "etc/os-release"), fixture("rocky-9"));
    writeFileSync(join(root, "usr/lib/os-release"), fixture("debian-12"));
    expect(readOsRelease(root).ID).toBe("rocky");
    expect(readPlatform(root).family).toBe("rhel");
  });

  test("falls back to /usr/lib/os-release", () => {
    const root = tempDir();
    mkdirSync(join(root, "usr/lib"), { recursive: true });
    writeFileSync(join(root, "usr/lib/os-release"), fixture("sles-15"));
    expect(readPlatform(root).family).toBe("suse");
  });

  test("returns {} when neither file exists", () => {
    expect(readOsRelease(tempDir())).toEqual({});
  });

  test("reads this host's file", () => {
    expect(readPlatform().id.length).toBeGreaterThan(0);
  });
});
