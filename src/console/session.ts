// The session check: GET /api/servers/servers/-/ until the console answers with a boolean `commissioned`.
// Retries forever with capped, jittered backoff (the reference gave up after 3 days); a stop request ends
// the wait at once. Credentials problems are logged at error level once per failure streak, with a hint.
import type { Logger } from "../log/logger.ts";
import type { Clock } from "../platform/clock.ts";
import { fullJitterDelay } from "./backoff.ts";
import type { ConsoleHttp } from "./http.ts";

export const SESSION_PATH = "/api/servers/servers/-/";

export interface SessionCheckOptions {
  http: Pick<ConsoleHttp, "request">;
  log: Logger;
  clock: Clock;
  signal: AbortSignal;
  random?: () => number;
  baseMs?: number;
  capMs?: number;
  /** Names the config file in the credentials hint. */
  configSource?: string;
}

type Attempt = { commissioned: boolean } | { problem: string; auth: boolean };

function interpret(status: number, text: string, error: string | undefined): Attempt {
  if (status === 0) return { problem: `no answer (${error ?? "network error"})`, auth: false };
  if (status === 401 || status === 403) return { problem: `HTTP ${status}`, auth: true };
  if (status !== 200) return { problem: `HTTP ${status}`, auth: false };
  try {
    const body = JSON.parse(text) as { commissioned?: unknown };
    if (typeof body?.commissioned === "boolean") return { commissioned: body.commissioned };
  } catch {
    // fall through
  }
  return { problem: "answer without a boolean 'commissioned'", auth: false };
}

/** Resolves with `commissioned` once the console answers; rejects only when `signal` aborts. */
export async function waitForSession(options: SessionCheckOptions): Promise<boolean> {
  const { http, log, clock, signal } = options;
  const random = options.random ?? Math.random;
  const base = options.baseMs ?? 5_000;
  const cap = options.capMs ?? 300_000;
  let failures = 0;
  let lastProblem = "";
  for (;;) {
    signal.throwIfAborted();
    const response = await http.request("GET", SESSION_PATH, { timeoutMs: 10_000, signal });
    signal.throwIfAborted();
    const attempt = interpret(response.status, response.text, response.error);
    if ("commissioned" in attempt) {
      if (failures > 0) log.info("console reachable again", { after_failures: failures });
      return attempt.commissioned;
    }
    const delay = Math.max(1_000, fullJitterDelay(failures, base, cap, random));
    if (attempt.problem !== lastProblem) {
      // One line per kind of failure, not one per retry.
      if (attempt.auth) {
        log.error("the console rejected this server's credentials", {
          status: attempt.problem,
          hint: `check [server] id and key${options.configSource ? ` in ${options.configSource}` : ""}`,
        });
      } else {
        log.warn("console session check failed; retrying", { problem: attempt.problem });
      }
      lastProblem = attempt.problem;
    } else {
      log.debug("console session check failed again", { problem: attempt.problem, retry_in_ms: Math.round(delay) });
    }
    failures++;
    await clock.sleep(delay, signal);
  }
}
