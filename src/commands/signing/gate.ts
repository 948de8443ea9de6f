// The signature check of every non-internal command, before its ack (upstream-2026.md §1.4-§1.6).
// `monitor` (upstream's mode and our default): a failure is one warning per reason, and the command runs.
// `enforce`: a failure is refused: POST …/reject/ {reason} through the outbox, no ack, no fin, nothing runs,
// and one warning with the details. Enforce also refuses a replay: a signed command whose analyzed_at is
// missing, older than `[signing] max_age` or more than a tenth of it ahead of our clock (a resent command id
// is already never run twice: commands/seen.ts). Internal commands are never checked, as upstream: SECURITY.md
// says what that leaves open. Commands keep their order: while one waits for a key fetch, the next wait behind it.
import type { CommandEnvelope } from "../../console/protocol.ts";
import type { Logger } from "../../log/logger.ts";
import type { Clock } from "../../platform/clock.ts";
import { parseRfc3339 } from "../../platform/time.ts";
import type { KeyCandidate, KeySource } from "./keys.ts";
import { canonicalPayload } from "./payload.ts";
import { decodeBase64Exact, verifyEd25519 } from "./verify.ts";

/** The console-visible reasons (§1.5); details stay in the local log. */
export type RejectReason = "unsigned_command" | "key_unavailable" | "invalid_signature" | "signature_mismatch";

export type Verdict = { ok: true } | { ok: false; reason: RejectReason; detail: string };

/** Checks waiting for their turn (a key fetch in progress), at most; beyond it a command counts as key_unavailable. */
export const MAX_PENDING_CHECKS = 256;

export interface SigningGateOptions {
  mode: "monitor" | "enforce";
  serverId: string;
  keys: KeySource;
  maxAgeMs: number;
  clock: Clock;
  log: Logger;
  /** Sends the reject call (enforce). */
  reject: (commandId: string, reason: RejectReason) => void;
}

const ok: Verdict = { ok: true };
const fail = (reason: RejectReason, detail: string): Verdict => ({ ok: false, reason, detail });

export class SigningGate {
  private tail: Promise<void> | undefined;
  private pending = 0;

  constructor(private readonly options: SigningGateOptions) {}

  /** Hands `command` to `accept` when it may run; refuses it (enforce) otherwise. Never throws. */
  admit(command: CommandEnvelope, accept: (command: CommandEnvelope) => void): void {
    if (command.shell === "internal") {
      accept(command);
      return;
    }
    if (this.pending >= MAX_PENDING_CHECKS) {
      this.apply(command, fail("key_unavailable", `more than ${MAX_PENDING_CHECKS} commands are waiting for the signing key`), accept);
      return;
    }
    if (!this.tail) {
      const verdict = this.check(command);
      if (!(verdict instanceof Promise)) {
        this.apply(command, verdict, accept);
        return;
      }
      this.wait(verdict, command, accept);
      return;
    }
    this.wait(
      this.tail.then(() => this.check(command)),
      command,
      accept,
    );
  }

  private wait(verdict: Promise<Verdict>, command: CommandEnvelope, accept: (command: CommandEnvelope) => void): void {
    this.pending++;
    const done = verdict
      .catch((err): Verdict => fail("key_unavailable", `the check failed: ${(err as Error).message ?? String(err)}`))
      .then((v) => this.apply(command, v, accept))
      .catch((err) => this.options.log.error("could not hand over a checked command", { command: command.id, error: err }))
      .finally(() => {
        this.pending--;
        if (this.tail === done) this.tail = undefined;
      });
    this.tail = done;
  }

  /** The verdict on one command; a promise only while a key is being fetched. */
  check(command: CommandEnvelope): Verdict | Promise<Verdict> {
    const signature = command.signature ?? "";
    if (signature === "") return fail("unsigned_command", "the command carries no signature");
    const bytes = decodeBase64Exact(signature, 64);
    if (!bytes) return fail("invalid_signature", "the signature is not standard base64 of 64 bytes");
    const keyId = command.key_id ? command.key_id : undefined;
    const payload = canonicalPayload(command, this.options.serverId);
    const found = this.options.keys.lookup(keyId);
    const decide = (lookup: Awaited<typeof found>): Verdict | Promise<Verdict> => {
      if (!lookup.ok) return fail("key_unavailable", lookup.error);
      if (verifiedBy(lookup.keys, payload, bytes)) return this.fresh(command);
      // Retry once with a re-fetched key, only for a command without key_id (§1.3).
      if (keyId !== undefined) return fail("signature_mismatch", `the signature does not verify with key ${JSON.stringify(keyId)}`);
      return this.options.keys
        .refetch()
        .then((retry) =>
          retry && verifiedBy([retry], payload, bytes)
            ? this.fresh(command)
            : fail("signature_mismatch", "the signature does not verify with the active key"),
        );
    };
    return found instanceof Promise ? found.then(decide) : decide(found);
  }

  /** A valid signature, but is it recent? (enforce refuses; monitor only warns about a stale one). */
  private fresh(command: CommandEnvelope): Verdict {
    const { clock, maxAgeMs } = this.options;
    const at = command.analyzed_at ? parseRfc3339(command.analyzed_at) : undefined;
    if (at === undefined) {
      return this.options.mode === "enforce" ? fail("invalid_signature", "no usable analyzed_at: the command's age cannot be checked") : ok;
    }
    const age = clock.now() - at;
    if (age > maxAgeMs)
      return fail("invalid_signature", `analyzed_at is ${Math.round(age / 1000)} s old (limit ${maxAgeMs / 1000} s): a replay`);
    if (-age > maxAgeMs / 10) return fail("invalid_signature", `analyzed_at is ${Math.round(-age / 1000)} s in the future`);
    return ok;
  }

  private apply(command: CommandEnvelope, verdict: Verdict, accept: (command: CommandEnvelope) => void): void {
    if (verdict.ok) {
      accept(command);
      return;
    }
    // The line, env and data are never logged here: they may carry secrets, and warnings reach the console.
    const fields = {
      command: command.id,
      reason: verdict.reason,
      detail: verdict.detail,
      shell: command.shell,
      user: command.user ?? "",
      ...(command.key_id ? { key_id: command.key_id } : {}),
    };
    if (this.options.mode === "monitor") {
      this.options.log.warn("command signature check failed; running it anyway (signing mode monitor)", fields);
      accept(command);
      return;
    }
    this.options.log.warn("refused a command: signature check failed (signing mode enforce)", fields);
    try {
      this.options.reject(command.id, verdict.reason);
    } catch (err) {
      this.options.log.error("could not queue the reject of a refused command", { command: command.id, error: err });
    }
  }
}

function verifiedBy(keys: KeyCandidate[], payload: Uint8Array, signature: Uint8Array): boolean {
  return keys.some((k) => verifyEd25519(k.key, payload, signature));
}
