// One TLS option builder for every connection to the console (HTTP, backhaul, PTY and file sockets), so
// `verify` and `ca_cert` mean the same everywhere (the reference ignored ca_cert on its WebSockets).
import { readFileSync } from "node:fs";

export interface TlsSettings {
  verify: boolean;
  caCert: string | undefined;
}

/** The `tls` option for Bun's fetch and WebSocket. The CA file is read once, here. */
export interface TlsOptions {
  rejectUnauthorized: boolean;
  ca?: string;
}

export function buildTlsOptions(settings: TlsSettings): TlsOptions {
  const options: TlsOptions = { rejectUnauthorized: settings.verify };
  if (settings.caCert) options.ca = readFileSync(settings.caCert, "utf8");
  return options;
}
