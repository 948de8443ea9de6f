// What the console's signer signs (upstream-2026.md §1.2): seven string fields in ASCII order, compact JSON,
// everything but the JSON escapes written raw (`<>&`, U+2028/2029, non-ASCII). JSON.stringify with the keys
// inserted in that order gives exactly those bytes for well-formed strings; lone surrogates become U+FFFD
// first, as Go's decoder would have made them. `server_id` is this agent's own id, never the message's.
import type { CommandEnvelope } from "../../console/protocol.ts";

export type SignedFields = Pick<CommandEnvelope, "id" | "shell" | "line" | "user" | "group" | "analyzed_at">;

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

function wellFormed(value: string | null | undefined): string {
  return (value ?? "").replace(LONE_SURROGATE, "\uFFFD");
}

/** The exact bytes the signature covers. */
export function canonicalPayload(command: SignedFields, serverId: string): Buffer {
  const payload = {
    command_id: wellFormed(command.id),
    groupname: wellFormed(command.group),
    line: wellFormed(command.line),
    server_id: wellFormed(serverId),
    shell: wellFormed(command.shell),
    timestamp: wellFormed(command.analyzed_at),
    username: wellFormed(command.user),
  };
  return Buffer.from(JSON.stringify(payload), "utf8");
}
