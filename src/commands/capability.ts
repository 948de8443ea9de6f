// What a capability hands the composition root: its name, the parts it starts and stops, and the internal
// commands it answers. A capability never imports another; what one needs of another comes in through its
// factory's deps, wired by agent.ts.
import type { Part } from "../platform/lifecycle.ts";
import type { AnyCommandSpec } from "./contract.ts";
import type { SystemRunner } from "./dispatcher.ts";

export interface Capability {
  name: string;
  parts?: Part[];
  commands?: AnyCommandSpec[];
  /** Runs `shell: "system"` commands (the shell capability only). */
  systemRunner?: SystemRunner;
}
