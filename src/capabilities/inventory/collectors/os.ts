// The `os` key from os-release (name, version and its numeric parts, platform, platform_like), with
// Debian's point release from /etc/debian_version. Pure parser plus file reads; never spawns a process.
import { join } from "node:path";
import { detectPlatform, readOsRelease } from "../../../platform/os-release.ts";
import type { OsData } from "../types.ts";
import { readText, type CollectorEnv } from "./env.ts";

/** "12.7" → [12, 7, 0]; non-numeric parts count as 0, like the reference. */
export function versionParts(version: string): [number, number, number] {
  const parts = version.split(".").map((p) => (/^\d+$/.test(p) ? Number(p) : 0));
  return [parts[0] ?? 0, parts[1] ?? 0, parts[2] ?? 0];
}

export function osFromRelease(osRelease: Record<string, string>, debianVersion = ""): OsData {
  const platform = detectPlatform(osRelease);
  // Debian's VERSION_ID is only the major; the reference reported the point release (12.7).
  const version = platform.id === "debian" && /^\d+(\.\d+)*$/.test(debianVersion) ? debianVersion : platform.version;
  const [major, minor, patch] = versionParts(version);
  const like = platform.family !== "unknown" ? platform.family : (platform.idLike[0] ?? platform.id);
  return { name: platform.id, version, major, minor, patch, platform: platform.id, platform_like: like };
}

export function collectOs(env: CollectorEnv): OsData {
  return osFromRelease(readOsRelease(env.root), readText(join(env.root, "etc/debian_version")));
}
