// Command families that are loaded on first use. The agent spends its life idle; the code of user management,
// package updates, the file manager and websh is parsed and evaluated only when the console first asks for
// one of them, which keeps about half a megabyte of functions, schemas and their metadata off the idle heap.
// The names and summaries are listed here for `help` and routing; a test checks they match the family's own.
import { fail, type CommandHandler } from "./registry.ts";

export interface HandlerSpec {
  name: string;
  summary: string;
}

/** Stand-ins for a family's handlers: the first run of any of them loads the family once, then delegates. */
export function lazyFamily(specs: readonly HandlerSpec[], load: () => Promise<CommandHandler[]>): CommandHandler[] {
  let loaded: Promise<Map<string, CommandHandler>> | undefined;
  const family = () =>
    (loaded ??= load().then(
      (handlers) => new Map(handlers.map((h) => [h.name, h])),
      (err: unknown) => {
        loaded = undefined; // a failed load is tried again by the next command
        throw err;
      },
    ));
  return specs.map((spec) => ({
    ...spec,
    async run(ctx) {
      let handlers: Map<string, CommandHandler>;
      try {
        handlers = await family();
      } catch (err) {
        return fail(`${spec.name}: could not load the command: ${err instanceof Error ? err.message : String(err)}`);
      }
      const handler = handlers.get(spec.name);
      if (!handler) return fail(`${spec.name}: not provided by its command family`);
      return handler.run(ctx);
    },
  }));
}

export const USER_SPECS: readonly HandlerSpec[] = [
  { name: "adduser", summary: "add a user (uid, gid, comment, home, shell, extra groups)" },
  { name: "addgroup", summary: "add a group with a given gid" },
  { name: "deluser", summary: "delete a user, keeping the home under /home/deleted_users unless purge_home" },
  { name: "delgroup", summary: "delete a group" },
  { name: "moduser", summary: "set a user's comment and replace its supplementary groups" },
];

export const PACKAGE_SPECS: readonly HandlerSpec[] = [
  { name: "update", summary: "upgrade the system's packages (apt-get, dnf, yum or zypper)" },
  { name: "upgrade", summary: "upgrade alpamon through the package manager, then restart it" },
];

export const FILE_SPECS: readonly HandlerSpec[] = [
  { name: "openftp", summary: "open a file-manager session as a user" },
  { name: "download", summary: "write a file from the console onto this host" },
  { name: "upload", summary: "send files from this host to the console" },
];

export const TERMINAL_SPECS: readonly HandlerSpec[] = [
  { name: "openpty", summary: "Open a websh terminal: the user's login shell on a PTY, bridged to the console" },
  { name: "resizepty", summary: "Resize an open websh terminal" },
];
