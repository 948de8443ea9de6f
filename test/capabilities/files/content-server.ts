// A loopback HTTP server for file contents that must stay byte-exact or be large (the fake console keeps
// bodies as text and caps them at 128 MB): GET /blob/<n> streams n deterministic bytes; POST and PUT bodies
// are streamed to a file and hashed. Never holds a body in memory.
import { createWriteStream, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Server } from "bun";

export interface Received {
  method: string;
  path: string;
  headers: Record<string, string>;
  file: string;
  bytes: number;
  sha256: string;
}

/** The byte at offset i of every blob (a cheap pattern that does not compress to nothing). */
export function blobChunk(offset: number, length: number): Uint8Array {
  const out = new Uint8Array(length);
  for (let i = 0; i < length; i++) out[i] = ((offset + i) * 2654435761) >>> 24;
  return out;
}

export function blobSha256(size: number): string {
  const hash = new Bun.CryptoHasher("sha256");
  for (let off = 0; off < size; off += 1 << 20) hash.update(blobChunk(off, Math.min(1 << 20, size - off)));
  return hash.digest("hex");
}

export class ContentServer {
  readonly received: Received[] = [];
  readonly dir = mkdtempSync(join(tmpdir(), "alpamon-content-"));
  status = 200;
  private readonly server: Server<undefined>;

  constructor() {
    this.server = Bun.serve({
      hostname: "127.0.0.1",
      port: 0,
      maxRequestBodySize: Number.MAX_SAFE_INTEGER,
      idleTimeout: 60,
      fetch: (req) => this.handle(req),
    });
  }

  get url(): string {
    return `http://127.0.0.1:${this.server.port}`;
  }

  private async handle(req: Request): Promise<Response> {
    const url = new URL(req.url);
    const headers = Object.fromEntries(req.headers.entries());
    if (req.method === "GET") {
      const m = /^\/blob\/(\d+)$/.exec(url.pathname);
      if (!m) return new Response("not found", { status: 404 });
      const size = Number(m[1]);
      let sent = 0;
      const body = new ReadableStream<Uint8Array>(
        {
          pull(c) {
            if (sent >= size) return c.close();
            const n = Math.min(1 << 20, size - sent);
            c.enqueue(blobChunk(sent, n));
            sent += n;
          },
        },
        { highWaterMark: 0 },
      );
      this.received.push({ method: "GET", path: url.pathname, headers, file: "", bytes: 0, sha256: "" });
      return new Response(body, { headers: { "content-length": String(size) } });
    }
    const file = join(this.dir, `${this.received.length}.body`);
    const out = createWriteStream(file);
    const hash = new Bun.CryptoHasher("sha256");
    let bytes = 0;
    for await (const chunk of req.body ?? []) {
      hash.update(chunk);
      bytes += chunk.length;
      if (!out.write(chunk)) await new Promise((r) => out.once("drain", r));
    }
    await new Promise((r) => out.end(r));
    this.received.push({ method: req.method, path: url.pathname, headers, file, bytes, sha256: hash.digest("hex") });
    return new Response("{}", { status: this.status });
  }

  async stop(): Promise<void> {
    await this.server.stop(true);
    rmSync(this.dir, { recursive: true, force: true });
  }
}
