// The `help` reply (upstream-2026 §10.1: a text in sections). It is built from the registry, so it lists exactly
// what this agent answers: a section below names no command on its own, and a command no section knows still
// appears, under "Other". Lines keep the reference's shape: a leading newline, then each line after two tabs.
import type { AnyCommandSpec } from "../../commands/contract.ts";

const SECTIONS: readonly { title: string; has: (name: string) => boolean }[] = [
  { title: "Agent", has: (n) => ["ping", "help", "quit", "restart", "reconnect", "upgrade", "byebye"].includes(n) },
  { title: "System", has: (n) => ["update", "reboot", "shutdown"].includes(n) },
  { title: "Users and groups", has: (n) => ["adduser", "deluser", "moduser", "addgroup", "delgroup"].includes(n) },
  { title: "Firewall", has: (n) => n === "firewall" || n.startsWith("firewall-") },
  { title: "Files", has: (n) => ["openftp", "download", "upload", "rm"].includes(n) },
  { title: "Terminal", has: (n) => ["openpty", "resizepty", "refreshpty"].includes(n) },
  { title: "Server information", has: (n) => ["commit", "sync"].includes(n) },
  { title: "Tunnels", has: (n) => ["opentunnel", "closetunnel"].includes(n) },
];

/** The help text for these specs: one `[Section]` header per non-empty section, then `name: summary` lines. */
export function helpText(specs: readonly AnyCommandSpec[]): string {
  const groups = new Map<string, AnyCommandSpec[]>();
  for (const spec of specs) {
    const title = SECTIONS.find((s) => s.has(spec.name))?.title ?? "Other";
    groups.set(title, [...(groups.get(title) ?? []), spec]);
  }
  const lines = ["", "\t\tAvailable commands:"];
  for (const title of [...SECTIONS.map((s) => s.title), "Other"]) {
    const members = groups.get(title);
    if (!members) continue;
    lines.push("", `\t\t[${title}]`);
    for (const spec of [...members].sort((a, b) => a.name.localeCompare(b.name))) lines.push(`\t\t${spec.name}: ${spec.summary}`);
  }
  return [...lines, ""].join("\n");
}
