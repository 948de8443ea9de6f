// The wire side of tunnels (spec/upstream-2026.md §8.1): the opentunnel and closetunnel data schemas. The session
// id ends up in a socket path, so it is letters, digits, '_' and '-' only; the URL is dialled as given (any host,
// as upstream), but the server key goes only to the console's origin (console/http.ts).
import * as v from "valibot";

export const SESSION_ID = /^[A-Za-z0-9_-]+$/;

const sessionId = v.pipe(
  v.string("must be a string"),
  v.nonEmpty("is required"),
  v.maxLength(128, "must be at most 128 characters"),
  v.regex(SESSION_ID, "must hold only letters, digits, '_' or '-'"),
);

const wsUrl = v.pipe(
  v.string("must be a string"),
  v.nonEmpty("is required"),
  v.maxLength(4096, "must be at most 4096 characters"),
  v.check((raw) => {
    try {
      const url = new URL(raw);
      return (url.protocol === "ws:" || url.protocol === "wss:") && url.host !== "";
    } catch {
      return false;
    }
  }, "must be an absolute ws:// or wss:// URL"),
);

const CLIENT_TYPES = ["cli", "web", "editor"] as const;

const name = v.pipe(v.string("must be a string"), v.maxLength(256, "must be at most 256 characters"));

export const OpenTunnelData = v.pipe(
  v.object({
    session_id: sessionId,
    url: wsUrl,
    // Empty means cli, as upstream.
    client_type: v.optional(
      v.pipe(
        v.nullable(v.string("must be a string")),
        v.transform((t) => (t ? t : "cli")),
        v.picklist(CLIENT_TYPES, "must be cli, web or editor"),
      ),
      "cli",
    ),
    target_port: v.optional(v.nullable(v.pipe(v.number("must be a whole number"), v.integer("must be a whole number")))),
    username: v.optional(v.nullable(name)),
    groupname: v.optional(v.nullable(name)),
  }),
  v.forward(
    v.check(
      (d) => d.client_type === "editor" || (typeof d.target_port === "number" && d.target_port >= 1 && d.target_port <= 65_535),
      "must be from 1 to 65535",
    ),
    ["target_port"],
  ),
  v.forward(
    v.check((d) => d.client_type !== "editor" || !!d.username, "is required for an editor tunnel"),
    ["username"],
  ),
);
export type OpenTunnelData = v.InferOutput<typeof OpenTunnelData>;

export const CloseTunnelData = v.object({ session_id: sessionId });
export type CloseTunnelData = v.InferOutput<typeof CloseTunnelData>;
