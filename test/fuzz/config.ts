// Fuzz of INI config files: random bytes and mutations of a good file go through the real parser and
// validator. Each input must give a valid config or a ConfigError with a message; any other exception fails.
import { ConfigError } from "../../src/config/errors.ts";
import { parseIni } from "../../src/config/ini.ts";
import { configFromSections } from "../../src/config/schema.ts";
import { mutate, nastyString, Rand, randomText } from "./rand.ts";

export const GOOD = `[server]
url = https://console.example.com
id = 0b3c6e3f-62c4-4b4c-8a7b-1c1a2e6f9d10
key = "k3y_Value-123"

[ssl]
verify = true
; ca_cert = /etc/ssl/certs/ca.pem

[logging]
debug = false

[agent]
data_dir = /var/lib/alpamon
log_file = /var/log/alpamon/alpamon.log
pid_file = /run/alpamon/alpamon.pid
outbox_max_rows = 50000
`;

const KEYS = [
  "url",
  "id",
  "key",
  "verify",
  "ca_cert",
  "debug",
  "data_dir",
  "log_file",
  "pid_file",
  "outbox_max_rows",
  "outbox_max_bytes",
  "__proto__",
  "constructor",
];
const SECTIONS = ["server", "ssl", "logging", "agent", "__proto__", "", "server.sub", "SERVER"];

function input(r: Rand): string {
  switch (r.int(0, 4)) {
    case 0:
      return mutate(r, GOOD);
    case 1:
      return new TextDecoder().decode(Uint8Array.from({ length: r.int(0, 600) }, () => r.int(0, 255)));
    case 2:
      return randomText(r, r.int(0, 400));
    default: {
      const lines: string[] = [];
      for (let i = r.int(0, 12); i > 0; i--) {
        if (r.chance(0.2)) lines.push(`[${r.chance(0.8) ? r.pick(SECTIONS) : nastyString(r, 2)}]`);
        else
          lines.push(
            `${r.chance(0.8) ? r.pick(KEYS) : nastyString(r, 1)}${r.pick([" = ", "=", ": ", " "])}${r.chance(0.3) ? JSON.stringify(nastyString(r)) : nastyString(r)}`,
          );
      }
      return r.chance(0.5) ? GOOD + lines.join("\n") : lines.join(r.pick(["\n", "\r\n", "\r"]));
    }
  }
}

export interface ConfigFuzzStats {
  cases: number;
  valid: number;
  rejected: number;
}

export function fuzzConfig(seed: number, cases: number): ConfigFuzzStats {
  const r = new Rand(seed);
  const stats: ConfigFuzzStats = { cases: 0, valid: 0, rejected: 0 };
  for (let i = 0; i < cases; i++) {
    const text = input(r);
    try {
      const config = configFromSections(parseIni(text), "/etc/alpamon/alpamon.conf");
      if (typeof config.serverUrl !== "string" || !/^https?:\/\//.test(config.serverUrl) || typeof config.ssl.verify !== "boolean") {
        throw new Error(`seed ${seed} case ${i}: accepted an odd config ${JSON.stringify(config)}`);
      }
      if (/["\n\r]/.test(config.id + config.key)) throw new Error(`seed ${seed} case ${i}: id or key can break the Authorization header`);
      stats.valid++;
    } catch (err) {
      if (!(err instanceof ConfigError)) {
        throw new Error(`seed ${seed} case ${i}: ${String(err)} (not a ConfigError) for ${JSON.stringify(text.slice(0, 400))}`);
      }
      if (!err.message.startsWith("/etc/alpamon/alpamon.conf") || err.problem.trim() === "")
        throw new Error(`seed ${seed} case ${i}: unclear message ${JSON.stringify(err.message)}`);
      stats.rejected++;
    }
    stats.cases++;
  }
  return stats;
}
