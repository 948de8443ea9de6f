// The `commit` and `sync` commands (spec/metrics.md §10.1): thin adapters over Inventory. `sync` takes
// `data.keys` (a list of key names; empty or absent means all), its schema's messages naming the field.
import * as v from "valibot";
import { type AnyCommandSpec, command, ok } from "../../commands/contract.ts";
import type { Inventory } from "./inventory.ts";

const SyncData = v.object({
  keys: v.optional(v.nullable(v.array(v.string("keys: each key must be a string"), "keys: must be a list of key names"))),
});

export function inventoryCommands(inventory: Pick<Inventory, "commit" | "sync">): AnyCommandSpec[] {
  return [
    {
      name: "commit",
      summary: "send the full system information (inventory) to the console",
      run: async () => {
        await inventory.commit();
        return ok("Committed system information.");
      },
    },
    command({
      name: "sync",
      summary: "send what changed in the system information; data.keys limits it to some keys",
      data: SyncData,
      invalid: { prefix: "Invalid data: ", style: "first" },
      run: async (data) => {
        await inventory.sync(data.keys ?? []);
        return ok("Synchronized system information.");
      },
    }),
  ];
}
