// The `packages` key: dpkg's status file (installed packages only, spec/metrics.md §12 #21) or `rpm -qa`.
// Pure parsers plus one file read or one process; never a shell.
import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";
import type { PackageRow } from "../types.ts";
import { TOOL_ENV, readText, type CollectorEnv } from "./env.ts";

/**
 * Paragraphs of /var/lib/dpkg/status whose Status is `install ok installed` (what dpkg-query shows as ii).
 * `journal` holds the texts of /var/lib/dpkg/updates/* in order: entries dpkg wrote there since its last
 * checkpoint replace the status file's entry of the same package and architecture, as dpkg-query does.
 */
export function parseDpkgStatus(text: string, journal: readonly string[] = []): PackageRow[] {
  const entries = new Map<string, Map<string, string>>();
  for (const source of [text, ...journal]) {
    for (const paragraph of source.split(/\n\s*\n/)) {
      const fields = paragraphFields(paragraph);
      const name = fields.get("Package");
      if (name) entries.set(`${name}:${fields.get("Architecture") ?? ""}`, fields);
    }
  }
  const rows: PackageRow[] = [];
  for (const fields of entries.values()) {
    const name = fields.get("Package");
    const version = fields.get("Version");
    if (!name || !version || fields.get("Status") !== "install ok installed") continue;
    // Source may carry its own version: "glibc (2.36-9)".
    const source = (fields.get("Source") ?? "").split(" ")[0] ?? "";
    rows.push({ name, version, source, arch: fields.get("Architecture") ?? "" });
  }
  return rows;
}

function paragraphFields(paragraph: string): Map<string, string> {
  const fields = new Map<string, string>();
  for (const line of paragraph.split("\n")) {
    if (line.startsWith(" ") || line.startsWith("\t")) continue; // continuation lines (Description, Conffiles)
    const i = line.indexOf(":");
    if (i > 0) fields.set(line.slice(0, i), line.slice(i + 1).trim());
  }
  return fields;
}

/** The journal files of /var/lib/dpkg/updates (all-digit names), in order. */
function readDpkgJournal(dir: string): string[] {
  try {
    return readdirSync(dir)
      .filter((n) => /^\d+$/.test(n))
      .sort()
      .map((n) => readText(join(dir, n)));
  } catch {
    return [];
  }
}

const RPM_FORMAT = "%{NAME}\\t%{VERSION}\\t%{SOURCERPM}\\t%{ARCH}\\n";

/** `rpm -qa --qf RPM_FORMAT` output; gpg-pubkey pseudo-packages are skipped. */
export function parseRpmQuery(text: string): PackageRow[] {
  const rows: PackageRow[] = [];
  for (const line of text.split("\n")) {
    const [name, version, source, arch] = line.split("\t");
    if (!name || !version || name === "gpg-pubkey") continue;
    rows.push({ name, version, source: source === "(none)" ? "" : (source ?? ""), arch: arch === "(none)" ? "" : (arch ?? "") });
  }
  return rows;
}

export function sortPackages(rows: PackageRow[]): PackageRow[] {
  return rows.sort((a, b) => a.name.localeCompare(b.name) || a.arch.localeCompare(b.arch) || a.version.localeCompare(b.version));
}

export async function collectPackages(env: CollectorEnv): Promise<PackageRow[]> {
  const dpkgStatus = join(env.root, "var/lib/dpkg/status");
  if (existsSync(dpkgStatus)) {
    return sortPackages(parseDpkgStatus(readText(dpkgStatus), readDpkgJournal(join(env.root, "var/lib/dpkg/updates"))));
  }
  const result = await env.runProcess({
    argv: ["rpm", "-qa", "--qf", RPM_FORMAT],
    env: TOOL_ENV,
    timeoutMs: 60_000,
    maxOutputBytes: 64 << 20,
  });
  return result.exitCode === 0 ? sortPackages(parseRpmQuery(result.output)) : [];
}
