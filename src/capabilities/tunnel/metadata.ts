// The per-stream protocol (spec/upstream-2026.md §8.4.1-4): the JSON metadata line the tunnel server sends first on
// every stream, which port the stream goes to, and the editor's health-check answer. Pure, apart from reading the
// line off a stream; never reads more than 1024 bytes looking for the newline.
import { type PortRange, portAllowed } from "../../config/schema.ts";
import type { SmuxStream } from "./smux-session.ts";

export const MAX_METADATA_BYTES = 1024;

export interface StreamMetadata {
  /** `remote_port`: "" when absent. */
  remotePort: string;
  healthCheck: boolean;
}

/** Parses the line (without its newline); undefined for bad JSON or wrongly typed fields. */
export function parseMetadata(line: string): StreamMetadata | undefined {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    return undefined;
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) return undefined;
  const { remote_port: remotePort, health_check: healthCheck } = value as Record<string, unknown>;
  if (remotePort !== undefined && remotePort !== null && typeof remotePort !== "string") return undefined;
  if (healthCheck !== undefined && healthCheck !== null && typeof healthCheck !== "boolean") return undefined;
  return { remotePort: remotePort ?? "", healthCheck: healthCheck === true };
}

export type MetadataRead = { ok: true; metadata: StreamMetadata; rest: Uint8Array } | { ok: false; reason: string };

/** Reads the metadata line; the bytes after the newline in the same read come back as `rest`, for the target. */
export async function readMetadata(stream: Pick<SmuxStream, "read">): Promise<MetadataRead> {
  const parts: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const chunk = await stream.read();
    if (!chunk) return { ok: false, reason: "the stream ended before its metadata line" };
    const nl = chunk.indexOf(10);
    const upTo = nl >= 0 ? nl : chunk.length;
    if (size + upTo > MAX_METADATA_BYTES) return { ok: false, reason: `no metadata line within ${MAX_METADATA_BYTES} bytes` };
    parts.push(chunk.subarray(0, upTo));
    size += upTo;
    if (nl < 0) continue;
    const metadata = parseMetadata(Buffer.concat(parts).toString("utf8"));
    if (!metadata) return { ok: false, reason: "the metadata line is not valid JSON" };
    return { ok: true, metadata, rest: chunk.subarray(nl + 1) };
  }
}

export type TargetPort = { ok: true; port: number } | { ok: false; reason: string };

/**
 * The loopback port a stream goes to: `remote_port` when given (1-65535, decimal digits only), else the tunnel's
 * own port (0 while an editor's code-server is not up). Either way it must be in `[tunnel] allowed_ports`.
 */
export function targetPort(metadata: StreamMetadata, tunnelPort: number, allowed: readonly PortRange[]): TargetPort {
  let port = tunnelPort;
  if (metadata.remotePort !== "") {
    if (!/^\d{1,5}$/.test(metadata.remotePort)) return { ok: false, reason: "remote_port is not a port number" };
    port = Number(metadata.remotePort);
  }
  if (port < 1 || port > 65_535) return { ok: false, reason: port === 0 ? "the target is not ready" : "the port is out of range" };
  if (!portAllowed(allowed, port)) return { ok: false, reason: `port ${port} is not in [tunnel] allowed_ports` };
  return { ok: true, port };
}

export type EditorStatus = "idle" | "installing" | "starting" | "ready" | "error";

/** §8.5.3: the raw HTTP answer to a health-check stream. */
export function healthResponse(status: EditorStatus, error?: string): string {
  const body = JSON.stringify(error ? { status: "error", error } : { status });
  const [code, reason] =
    status === "ready" && !error
      ? [200, "OK"]
      : (status === "installing" || status === "starting") && !error
        ? [503, "Service Unavailable"]
        : [500, "Internal Server Error"];
  return `HTTP/1.1 ${code} ${reason}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`;
}
