// The websh commands: `openpty` (dial the console's PTY socket, start the user's login shell on a PTY, fin
// only once both are up) and `resizepty`. Thin adapters over TerminalSession and TerminalRegistry.
// Never dials a URL off the console's origin and never runs the shell as anyone but the named user, in any home
// but that user's own (NSS): a console-sent home_directory that differs is ignored with a warning.
import { existsSync } from "node:fs";
import { userInfo } from "node:os";
import { normalize } from "node:path";
import { fail, ok } from "../../commands/contract.ts";
import type { FamilyBodies } from "../../commands/lazy.ts";
import type { ConsoleHttp } from "../../console/http.ts";
import { lookupUser as defaultLookupUser, type PasswdEntry } from "../../exec/identity.ts";
import type { Identity } from "../../exec/types.ts";
import type { Logger } from "../../log/logger.ts";
import type { Clock } from "../../platform/clock.ts";
import { chooseShell, loginEnvironment, OpenPtyData, RefreshPtyData, ResizePtyData, resolvePtyUrl } from "./data.ts";
import type { TerminalRegistry } from "./registry.ts";
import { DEFAULT_SESSION_SETTINGS, type SessionSettings, TerminalSession } from "./session.ts";

export interface TerminalDeps {
  http: ConsoleHttp;
  registry: TerminalRegistry;
  log: Logger;
  clock: Clock;
  settings?: Partial<SessionSettings>;
  lookupUser?: (name: string) => Promise<PasswdEntry | undefined>;
  /** The agent's uid; default process.getuid(). Not root → terminals run as the agent's own user. */
  agentUid?: number;
  /** /etc/environment by default. */
  environmentFile?: string;
}

export const OPENPTY_OK = "Spawned a pty terminal.";
/** resizepty and refreshpty for a session this agent does not hold (upstream 2026 §3: lower case, no id). */
const INVALID_SESSION = "invalid session ID";

interface Who {
  identity: Identity | undefined;
  user: string;
  home: string;
  shell: string;
}

async function whoRuns(username: string, deps: TerminalDeps, log: Logger): Promise<Who | { error: string }> {
  const uid = deps.agentUid ?? process.getuid?.();
  if (uid !== 0) {
    const me = userInfo();
    if (me.username !== username)
      log.warn("the agent is not running as root; the terminal runs as the agent's own user", { requested: username, user: me.username });
    return { identity: undefined, user: me.username, home: me.homedir, shell: me.shell ?? "" };
  }
  const pw = await (deps.lookupUser ?? defaultLookupUser)(username);
  if (!pw) return { error: `there is no user ${JSON.stringify(username)} on this server` };
  // The passwd primary group; supplementary groups come from initgroups (setpriv --init-groups).
  return {
    identity: { user: pw.name, uid: pw.uid, gid: pw.gid, home: pw.home, shell: pw.shell },
    user: pw.name,
    home: pw.home,
    shell: pw.shell,
  };
}

/** Equal paths up to repeated or trailing slashes and "." parts; no filesystem lookup. */
function sameDirectory(a: string, b: string): boolean {
  const norm = (p: string) => normalize(p).replace(/(.)\/+$/, "$1");
  return norm(a) === norm(b);
}

/** The bodies of the commands terminal/index.ts declares, keyed by name; the data schemas are data.ts's. */
export function terminalCommands(deps: TerminalDeps): FamilyBodies {
  const settings: SessionSettings = { ...DEFAULT_SESSION_SETTINGS, ...deps.settings };
  const { http, registry, clock } = deps;

  const openpty = {
    data: OpenPtyData,
    async run(data: OpenPtyData) {
      const target = resolvePtyUrl(data.url, http.serverUrl, (u) => http.isConsoleOrigin(u));
      if (!target.ok) return fail(`openpty: ${target.error}`);
      const log = deps.log.child("terminal");
      const who = await whoRuns(data.username, deps, log);
      if ("error" in who) return fail(`openpty: ${who.error}`);
      const reserveError = registry.reserve(data.session_id);
      if (reserveError) return fail(`openpty: ${reserveError}`);

      const home = who.home;
      if (data.home_directory && !sameDirectory(data.home_directory, home)) {
        log.warn("openpty: ignoring the console's home_directory; the terminal starts in the user's own home", {
          session: data.session_id,
          user: who.user,
          home_directory: data.home_directory,
          home,
        });
      }
      const shell = chooseShell(who.shell);
      const session = new TerminalSession(data.session_id, { http, log, clock, settings }, (s) => registry.remove(s));
      registry.add(session);
      const error = await session.open(target.url, target.legacy, {
        shell,
        ...(who.identity ? { identity: who.identity } : {}),
        env: loginEnvironment({ user: who.user, home, shell }, deps.environmentFile),
        cwd: home && existsSync(home) ? home : "/",
        rows: data.rows,
        cols: data.cols,
      });
      if (error) {
        registry.remove(session);
        log.warn("terminal could not be opened", { session: data.session_id, error });
        return fail(`openpty: ${error}`);
      }
      log.info("terminal session opened", { session: data.session_id, user: who.user, legacy: target.legacy });
      return ok(OPENPTY_OK);
    },
  };

  const resizepty = {
    data: ResizePtyData,
    run(data: ResizePtyData) {
      const { session_id: id, rows, cols } = data;
      const session = registry.get(id);
      if (!session) return fail(INVALID_SESSION);
      try {
        session.resize(cols, rows);
      } catch (err) {
        return fail(`resizepty: ${(err as Error).message}`);
      }
      return ok(`Resized terminal for ${id} to ${cols}x${rows}.`);
    },
  };

  const refreshpty = {
    data: RefreshPtyData,
    run(data: RefreshPtyData) {
      const session = registry.get(data.session_id);
      if (!session) return fail(INVALID_SESSION);
      try {
        session.refresh();
      } catch (err) {
        const e = err as NodeJS.ErrnoException;
        return fail(e.code === "ESRCH" ? "no such process" : e.message);
      }
      return ok(`Refreshed terminal for ${data.session_id}.`);
    },
  };

  return { openpty, resizepty, refreshpty };
}
