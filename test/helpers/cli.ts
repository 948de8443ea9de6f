// Runs the real CLI from source as a subprocess (the compiled binary is covered by test/build/).
import { join } from "node:path";

export const MAIN = join(import.meta.dir, "../../src/main.ts");

export interface CliResult {
  code: number;
  /** The signal that ended it (a `timeoutMs` kill), else null. */
  signal: Bun.Subprocess["signalCode"];
  stdout: string;
  stderr: string;
}

/** Runs `alpamon <args>` to completion with a clean environment plus `env`; `timeoutMs` kills it when exceeded. */
export async function runCli(
  args: string[],
  options: { env?: Record<string, string>; cwd?: string; timeoutMs?: number } = {},
): Promise<CliResult> {
  const proc = Bun.spawn([process.execPath, MAIN, ...args], {
    cwd: options.cwd ?? "/",
    env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: "/nonexistent-home", ...options.env },
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe",
    ...(options.timeoutMs ? { timeout: options.timeoutMs } : {}),
  });
  const [stdout, stderr, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  return { code, signal: proc.signalCode, stdout, stderr };
}

/** Starts `alpamon <args>` in the background; the caller must kill it (use try/finally). */
export function startCli(args: string[], options: { env?: Record<string, string>; cwd?: string } = {}) {
  return Bun.spawn([process.execPath, MAIN, ...args], {
    cwd: options.cwd ?? "/",
    env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: "/nonexistent-home", ...options.env },
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe",
  });
}

/** Reads a stream until `pattern` appears (or the stream ends / the deadline passes); returns all text read. */
export async function readUntil(stream: ReadableStream<Uint8Array>, pattern: RegExp, timeoutMs = 15_000): Promise<string> {
  const reader = stream.getReader();
  const decoder = new TextDecoder();
  let text = "";
  const deadline = Date.now() + timeoutMs;
  try {
    while (!pattern.test(text)) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out waiting for ${pattern}; got:\n${text}`);
      const next = await Promise.race([reader.read(), Bun.sleep(left).then(() => null)]);
      if (next === null) continue;
      if (next.done) throw new Error(`stream ended before ${pattern}; got:\n${text}`);
      text += decoder.decode(next.value, { stream: true });
    }
    return text;
  } finally {
    try {
      reader.releaseLock();
    } catch {
      // a read is still pending after a timeout; the error above says what happened
    }
  }
}
