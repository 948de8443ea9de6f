// Local log intake: the reference listened on 0.0.0.0:9020 with no authentication and no size limit. Here
// it is a Unix socket (root-only, 0600) taking 4-byte big-endian length-prefixed JSON records of at most
// 64 KiB, validated and rate-limited, then forwarded to /api/history/logs/ through the outbox.
import { rmSync } from "node:fs";
import type { Socket, UnixSocketListener } from "bun";
import * as v from "valibot";
import type { Logger } from "./logger.ts";
import { type LogPost, logPost } from "./forward.ts";
import { TokenBucket } from "./token-bucket.ts";

export const MAX_FRAME_BYTES = 64 * 1024;

const RecordSchema = v.object({
  date: v.pipe(v.string(), v.maxLength(64)),
  level: v.pipe(v.number(), v.integer(), v.minValue(0), v.maxValue(100)),
  program: v.pipe(v.string(), v.maxLength(128)),
  path: v.optional(v.pipe(v.string(), v.maxLength(1024)), ""),
  lineno: v.optional(v.pipe(v.number(), v.integer()), 0),
  pid: v.optional(v.pipe(v.number(), v.integer()), 0),
  msg: v.pipe(v.string(), v.maxLength(MAX_FRAME_BYTES)),
});

export interface LogIntakeOptions {
  path: string;
  enqueue: (item: LogPost) => unknown;
  /** True while the console is known to have no log history: records are not queued. */
  lacksLogs?: () => boolean;
  log: Logger;
  now: () => number;
  /** Records per minute across all clients (burst = the same number). */
  perMinute?: number;
}

interface ClientState {
  buffer: Buffer;
}

export class LogIntake {
  private listener: UnixSocketListener<ClientState> | undefined;
  private readonly bucket: TokenBucket;
  private dropped = 0;

  constructor(private readonly options: LogIntakeOptions) {
    const perMinute = options.perMinute ?? 120;
    this.bucket = new TokenBucket({ burst: perMinute, perMinute, now: options.now });
  }

  get path(): string {
    return this.options.path;
  }

  start(): void {
    rmSync(this.options.path, { force: true }); // a socket left by a killed agent
    // bind(2) creates the file with 0777 & ~umask, so under 0177 it is born 0600: never world-connectable,
    // and no chmod by path afterwards that a path swapped in between could redirect.
    const previous = process.umask(0o177);
    try {
      this.listener = Bun.listen<ClientState>({
        unix: this.options.path,
        socket: {
          open: (socket) => {
            socket.data = { buffer: Buffer.alloc(0) };
          },
          data: (socket, chunk) => this.receive(socket, chunk),
          error: () => {},
        },
      });
    } finally {
      process.umask(previous);
    }
  }

  stop(): void {
    this.listener?.stop(true);
    this.listener = undefined;
    rmSync(this.options.path, { force: true });
  }

  private receive(socket: Socket<ClientState>, chunk: Uint8Array): void {
    let buffer = Buffer.concat([socket.data.buffer, chunk]);
    while (buffer.length >= 4) {
      const length = buffer.readUInt32BE(0);
      if (length === 0 || length > MAX_FRAME_BYTES) {
        this.options.log.warn("log intake: frame size out of bounds; closing the connection", { length });
        socket.end();
        socket.data.buffer = Buffer.alloc(0);
        return;
      }
      if (buffer.length < 4 + length) break;
      this.accept(buffer.subarray(4, 4 + length).toString("utf8"));
      buffer = buffer.subarray(4 + length);
    }
    socket.data.buffer = Buffer.from(buffer);
  }

  private accept(text: string): void {
    let raw: unknown;
    try {
      raw = JSON.parse(text);
    } catch {
      this.options.log.debug("log intake: a frame that is not JSON was skipped");
      return;
    }
    const parsed = v.safeParse(RecordSchema, raw);
    if (!parsed.success) {
      this.options.log.debug("log intake: a record with bad fields was skipped", {
        field: parsed.issues[0]?.path?.map((p) => String(p.key)).join("."),
      });
      return;
    }
    if (!this.bucket.take()) {
      this.dropped++;
      return;
    }
    const note = this.dropped > 0 ? ` (${this.dropped} earlier local records dropped: rate limit)` : "";
    this.dropped = 0;
    if (this.options.lacksLogs?.()) return;
    this.options.enqueue(logPost({ ...parsed.output, msg: parsed.output.msg + note }));
  }
}
