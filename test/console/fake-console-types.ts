// Options, records and small helpers of the fake console (fake-console.ts), kept apart so that file stays small.
import type { Server, ServerWebSocket } from "bun";
import type { Dialect } from "./fake-console-routes.ts";

export interface FakeConsoleOptions {
  tls?: boolean;
  dialect?: Dialect;
  id?: string;
  key?: string;
  commissioned?: boolean;
  /** Send {"query":"commit"} when a backhaul opens. Default: true in the 2024 dialect, false in 2025 and 2026. */
  commitOnConnect?: boolean;
  /** Send {"query":"ping"} when a backhaul opens (upstream-2026.md §2.1). Default: true in 2026 only. */
  pingOnConnect?: boolean;
  /** Then again every this many ms on each open backhaul; 0 (the default) pings only on connect. */
  pingIntervalMs?: number;
}

export interface RecordedHandshake {
  path: string;
  headers: Record<string, string>;
  accepted: boolean;
  /** 101 when accepted; 0 when the connection was dropped by a fault. */
  status: number;
  /** Why it was refused. */
  refused?: "origin" | "auth" | "fault" | "not-websocket";
  at: number;
}

export interface FaultMatch {
  method?: string;
  path: string | RegExp;
}

export interface FaultBehaviour {
  status?: number;
  body?: string;
  /** Wait this long first; alone, the request is then answered normally. */
  delayMs?: number;
  /** Close the connection without answering. */
  drop?: boolean;
  /** Apply to this many matching requests only. */
  times?: number;
  /** Apply for this long after fault() was called. */
  forMs?: number;
}

export interface CommandToSend {
  id?: string;
  shell?: string;
  line: string;
  user?: string;
  group?: string;
  env?: Record<string, unknown>;
  /** An object is JSON-encoded into a string (the console double-encodes `data`); a string is sent as is. */
  data?: object | string | null;
  /** The console's flag that lets the line run through /bin/sh. */
  allow_sh?: boolean;
  /** The signer's envelope (upstream-2026.md §1.1), sent as given. */
  signature?: string;
  analyzed_at?: string;
  key_id?: string;
  /** Signs the command with this signer (over this console's server id) unless `signature` is given. */
  signer?: {
    keyId: string;
    sign(command: { id: string; shell: string; line: string; user: string; group: string; analyzed_at: string }, serverId: string): string;
  };
  /** With `signer`: send the key_id too (default true). */
  withKeyId?: boolean;
}

export interface Fault extends FaultMatch {
  behaviour: FaultBehaviour;
  remaining: number;
  until: number;
}

export function randomKey(): string {
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-";
  const bytes = crypto.getRandomValues(new Uint8Array(32));
  return Array.from(bytes, (b) => alphabet[b % alphabet.length]).join("");
}

export function removeFrom<T>(list: T[], item: T): void {
  const index = list.indexOf(item);
  if (index >= 0) list.splice(index, 1);
}

/** Closes the connection with no status line at all (an errored body stream; `undefined` keeps Bun quiet). */
export function droppedResponse(): Response {
  return new Response(new ReadableStream({ start: (controller) => controller.error(undefined) }));
}

/**
 * Another WebSocket endpoint served on the console's own origin (the websh PTY socket, test/console/fake-pty.ts).
 * `handle` sees every request first and returns null for those it does not serve; sockets it upgrades carry
 * `{ mount: this }` in their data, so the console hands their events back to it.
 */
export interface SocketMount {
  handle(req: Request, server: Server<MountedSocketData>): Promise<Response | undefined | null> | Response | undefined | null;
  open(ws: ServerWebSocket<MountedSocketData>): void;
  message(ws: ServerWebSocket<MountedSocketData>, message: string | Buffer): void;
  close(ws: ServerWebSocket<MountedSocketData>, code: number): void;
}

export type MountedSocketData = { mount?: SocketMount; channel: string };
