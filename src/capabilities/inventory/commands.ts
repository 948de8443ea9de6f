// The `commit` and `sync` commands (spec/metrics.md §10.1): thin adapters over Inventory. `sync` takes
// `data.keys` (a list of key names; empty or absent means all), validated here with messages naming the field.
import * as v from "valibot";
import { fail, ok, type CommandHandler } from "../../commands/registry.ts";
import type { Inventory } from "./inventory.ts";

const SyncData = v.object({ keys: v.optional(v.nullable(v.array(v.string("keys: each key must be a string"), "keys: must be a list of key names"))) });

export function inventoryCommands(inventory: Pick<Inventory, "commit" | "sync">): CommandHandler[] {
  return [
    {
      name: "commit",
      summary: "send the full system information (inventory) to the console",
      run: async () => {
        await inventory.commit();
        return ok("Committed system information.");
      },
    },
    {
      name: "sync",
      summary: "send what changed in the system information; data.keys limits it to some keys",
      run: async (ctx) => {
        const parsed = v.safeParse(SyncData, ctx.data);
        if (!parsed.success) return fail(`Invalid data: ${parsed.issues[0].message}`);
        await inventory.sync(parsed.output.keys ?? []);
        return ok("Synchronized system information.");
      },
    },
  ];
}
