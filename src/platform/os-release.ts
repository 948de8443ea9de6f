// os-release parsing and the distro family it implies (debian, rhel, suse or unknown), which picks the
// user tools and package manager. The parser is pure; only readOsRelease touches the disk. An unknown
// distro is a value here, never a fatal error (the reference refused to start on AlmaLinux, openSUSE...).
import { readFileSync } from "node:fs";
import { join } from "node:path";

export type PlatformFamily = "debian" | "rhel" | "suse" | "unknown";

export interface Platform {
  /** ID, lower case; "linux" when os-release has none (the os-release(5) default). */
  id: string;
  /** ID_LIKE, lower case, in the file's order. */
  idLike: string[];
  family: PlatformFamily;
  /** NAME, else PRETTY_NAME, else "Linux". */
  name: string;
  /** VERSION_ID; "" when absent (Debian testing, Arch). */
  version: string;
}

const LINE = /^([A-Za-z_][A-Za-z0-9_]*)=(.*)$/;

function unquote(raw: string): string {
  const value = raw.trim();
  if (value.length >= 2 && value.startsWith("'") && value.endsWith("'")) return value.slice(1, -1);
  if (value.length >= 2 && value.startsWith('"') && value.endsWith('"')) {
    // Shell double-quote rules as os-release(5) describes them: only \" \\ \$ \` are escapes.
    return value.slice(1, -1).replace(/\\(["\\$`])/g, "$1");
  }
  // Unquoted, a shell would take a backslash as escaping the next character.
  return value.replace(/\\(.)/g, "$1");
}

/** Parses os-release text into its variables; comments, blank and malformed lines are skipped. */
export function parseOsRelease(text: string): Record<string, string> {
  const vars: Record<string, string> = {};
  for (const rawLine of text.split(/\r?\n/)) {
    const line = rawLine.trim();
    if (line === "" || line.startsWith("#")) continue;
    const match = LINE.exec(line);
    if (!match) continue;
    vars[match[1]!] = unquote(match[2]!);
  }
  return vars;
}

const DEBIAN_IDS = new Set(["debian", "ubuntu", "raspbian"]);
const RHEL_IDS = new Set(["rhel", "redhat", "centos", "fedora", "rocky", "almalinux", "amzn", "amazon", "ol", "oracle"]);

/**
 * SUSE's IDs: anything naming suse (suse, opensuse-leap, opensuse-tumbleweed, opensuse-microos, ...) and the
 * enterprise products' short names (sles, sles_sap, sled, sle-micro, sl-micro). Their own family: zypper and
 * shadow-utils, never Debian's tools.
 */
const SUSE_PRODUCT = /^(?:sle[sd]?|sl-micro)(?:[_-]|$)/;

function familyOf(id: string): PlatformFamily {
  if (DEBIAN_IDS.has(id)) return "debian";
  if (RHEL_IDS.has(id)) return "rhel";
  if (id.includes("suse") || SUSE_PRODUCT.test(id)) return "suse";
  return "unknown";
}

/** The platform an os-release describes: ID decides first, then each ID_LIKE entry in order. */
export function detectPlatform(osRelease: Record<string, string>): Platform {
  const id = (osRelease.ID ?? "").trim().toLowerCase() || "linux";
  const idLike = (osRelease.ID_LIKE ?? "").toLowerCase().split(/\s+/).filter(Boolean);
  let family: PlatformFamily = "unknown";
  for (const candidate of [id, ...idLike]) {
    family = familyOf(candidate);
    if (family !== "unknown") break;
  }
  return {
    id,
    idLike,
    family,
    name: osRelease.NAME || osRelease.PRETTY_NAME || "Linux",
    version: osRelease.VERSION_ID ?? "",
  };
}

/** Reads /etc/os-release, else /usr/lib/os-release, under `root`; {} when neither can be read. */
export function readOsRelease(root = "/"): Record<string, string> {
  for (const path of ["etc/os-release", "usr/lib/os-release"]) {
    try {
      return parseOsRelease(readFileSync(join(root, path), "utf8"));
    } catch {
      // try the next location
    }
  }
  return {};
}

/** The running system's platform (reads the disk each call; callers cache if they need to). */
export function readPlatform(root = "/"): Platform {
  return detectPlatform(readOsRelease(root));
}
