// The inventory capability: the collector and sync loop as a part, the `commit` and `sync` commands, and the
// hooks the console link calls (a settled outbox row, the 2024 console's commit query, a user change).
import type { Capability } from "../../commands/capability.ts";
import type { SettledItem } from "../../console/outbox/outbox.ts";
import type { Part } from "../../platform/lifecycle.ts";
import { inventoryCommands } from "./commands.ts";
import { Inventory, type InventoryOptions } from "./inventory.ts";

/** Upstream's info handler timeout (upstream-2026 §2.4), for `commit` and `sync`. */
const INFO_TIMEOUT_MS = 30_000;

export interface InventoryDeps extends InventoryOptions {
  /** Whether the console said this server is commissioned (known once the session part has started). */
  commissioned: () => boolean;
}

export interface InventoryCapability extends Capability {
  parts: Part[];
  commit(): Promise<unknown>;
  requestUsersAndGroupsSync(): void;
  onOutboxSettled(item: SettledItem): void;
}

export function createInventory(deps: InventoryDeps): InventoryCapability {
  const { commissioned, ...options } = deps;
  const inventory = new Inventory(options);
  return {
    name: "inventory",
    parts: [{ name: "inventory", start: () => inventory.start(commissioned()), stop: () => inventory.stop() }],
    commands: inventoryCommands(inventory).map((spec) => ({ ...spec, timeoutMs: INFO_TIMEOUT_MS })),
    commit: () => inventory.commit(),
    requestUsersAndGroupsSync: () => inventory.requestUsersAndGroupsSync(),
    onOutboxSettled: (item) => inventory.onOutboxSettled(item),
  };
}
