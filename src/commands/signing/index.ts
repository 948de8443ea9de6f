// Builds the signature check from `[signing]` (README, "Signed commands"): the key source (pinned keys, or
// the fetched key kept in the state DB), the gate, and the reject call through the outbox. Says at start
// which mode is on and why; an explicit `enforce` is never downgraded, not even for a console on localhost
// (upstream downgrades there because its mode is hard-coded; ours is the operator's choice).
import type { Database } from "bun:sqlite";
import type { SigningConfig } from "../../config/schema.ts";
import { PRIORITY_COMMANDS } from "../../console/outbox/item.ts";
import type { Outbox } from "../../console/outbox/outbox.ts";
import { isLoopbackHost } from "../../config/schema.ts";
import { buildTlsOptions } from "../../console/tls.ts";
import { createSigningKeyStore } from "../../db/signing-key.ts";
import type { Logger } from "../../log/logger.ts";
import type { Clock } from "../../platform/clock.ts";
import { type RejectReason, SigningGate } from "./gate.ts";
import { fetchSigningKey } from "./key-fetch.ts";
import { FetchedKeys, keyHost, type KeySource, PinnedKeys } from "./keys.ts";

export interface SigningDeps {
  signing: SigningConfig;
  serverId: string;
  serverUrl: string;
  sslVerify: boolean;
  outbox: Pick<Outbox, "enqueue">;
  sqlite?: Database;
  clock: Clock;
  log: Logger;
  userAgent: string;
}

/** The console's reject call (§1.5); a console without it (2024, 2025) answers 404, remembered, then nothing is sent. */
export function queueReject(outbox: Pick<Outbox, "enqueue">, commandId: string, reason: RejectReason): void {
  outbox.enqueue({
    method: "POST",
    path: `/api/events/commands/${commandId}/reject/`,
    body: { reason },
    priority: PRIORITY_COMMANDS,
    fallback: { dialect: "reject", drop: true },
  });
}

/** The gate, or undefined when `mode = off`. */
export function createSigningGate(deps: SigningDeps): SigningGate | undefined {
  const { signing, log } = deps;
  if (signing.mode === "off") {
    log.warn("command signatures are not checked ([signing] mode = off)");
    return undefined;
  }
  let keys: KeySource;
  if (signing.pinnedKeys.length > 0) {
    keys = new PinnedKeys(signing.pinnedKeys);
  } else {
    const tls = buildTlsOptions({ verify: deps.sslVerify, caCert: signing.caCert });
    keys = new FetchedKeys({
      url: signing.keyUrl,
      fetchKey: () => fetchSigningKey(signing.keyUrl, { tls, userAgent: deps.userAgent }),
      ...(deps.sqlite ? { store: createSigningKeyStore(deps.sqlite) } : {}),
      clock: deps.clock,
      log,
    });
  }
  const local = isLoopbackHost(new URL(deps.serverUrl).hostname);
  log.info(`command signatures are checked in ${signing.mode} mode`, {
    keys:
      signing.pinnedKeys.length > 0
        ? `pinned: ${signing.pinnedKeys.map((k) => k.keyId).join(", ")}`
        : `fetched from ${keyHost(signing.keyUrl)}`,
    ...(signing.mode === "enforce" ? { max_age_s: signing.maxAgeMs / 1000 } : {}),
    ...(signing.mode === "enforce" && local
      ? { note: "configured enforce is kept for a console on localhost (upstream would downgrade it)" }
      : {}),
  });
  return new SigningGate({
    mode: signing.mode,
    serverId: deps.serverId,
    keys,
    maxAgeMs: signing.maxAgeMs,
    clock: deps.clock,
    log,
    reject: (commandId, reason) => queueReject(deps.outbox, commandId, reason),
  });
}
