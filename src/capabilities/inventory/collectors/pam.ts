// `sshd_use_pam` (upstream-2026.md §9.4) and `pam_version` (§5.2) for the server PATCH and the commit: the
// `usepam` line of `sshd -T` and the installed alpamon-pam version. Pure parsers plus the processes; the
// 3-hour cache is the caller's (collectors keep no state).
import { TOOL_ENV, type CollectorEnv } from "./env.ts";

const TIMEOUT_MS = 3_000;
const SSHD = ["/usr/sbin/sshd", "/usr/local/sbin/sshd", "sshd"];

/** `yes` or `no` from `sshd -T` output; anything else is null (unknown). */
export function parseUsePam(text: string): "yes" | "no" | null {
  for (const line of text.split("\n")) {
    const [key, value] = line.trim().split(/\s+/);
    if (key?.toLowerCase() === "usepam") return value === "yes" || value === "no" ? value : null;
  }
  return null;
}

export async function readSshdUsePam(env: CollectorEnv): Promise<"yes" | "no" | null> {
  for (const sshd of SSHD) {
    try {
      const r = await env.runProcess({ argv: [sshd, "-T"], env: TOOL_ENV, timeoutMs: TIMEOUT_MS });
      const value = parseUsePam(r.output);
      if (value !== null || r.exitCode === 0) return value;
    } catch {
      // not there: try the next one
    }
  }
  return null;
}

/** The alpamon-pam version from dpkg, then rpm; "" when it is not installed. */
export async function readPamVersion(env: CollectorEnv): Promise<string> {
  const queries = [
    // biome-ignore lint/suspicious/noTemplateCurlyInString: dpkg-query's own -f format syntax
    ["dpkg-query", "-W", "-f=${Version}", "alpamon-pam"],
    ["rpm", "-q", "--qf", "%{VERSION}", "alpamon-pam"],
  ];
  for (const argv of queries) {
    try {
      const r = await env.runProcess({ argv, env: TOOL_ENV, timeoutMs: TIMEOUT_MS });
      const version = r.output.trim();
      if (r.exitCode === 0 && version && !/\s/.test(version)) return version;
    } catch {
      // the tool is missing: try the next one
    }
  }
  return "";
}

/** The host facts a commit and the server row carry; pam_version only when alpamon-pam is installed. */
export interface HostFacts {
  pam_version?: string;
  sshd_use_pam: "yes" | "no" | null;
}

/** Both facts, read side by side (two or three short processes). */
export async function readHostFacts(env: CollectorEnv): Promise<HostFacts> {
  const [sshd_use_pam, pam_version] = await Promise.all([readSshdUsePam(env), readPamVersion(env)]);
  return { ...(pam_version ? { pam_version } : {}), sshd_use_pam };
}
