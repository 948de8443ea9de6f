// The open websh sessions by session id, with a ceiling on how many may run at once. A session id is
// reserved before its socket is dialled, so two openpty for one id can never both run. Never kills a
// session it does not hold; closeAll() is the agent's shutdown path.
import type { TerminalSession } from "./session.ts";

export const DEFAULT_MAX_TERMINALS = 32;

export class TerminalRegistry {
  private readonly sessions = new Map<string, TerminalSession | "opening">();

  constructor(private readonly max = DEFAULT_MAX_TERMINALS) {}

  get size(): number {
    return this.sessions.size;
  }

  /** Holds `id` for a session being opened; the error says why it cannot be. */
  reserve(id: string): string | undefined {
    if (this.sessions.has(id)) return `a terminal session ${JSON.stringify(id)} is already open`;
    if (this.sessions.size >= this.max) return `too many terminal sessions (at most ${this.max})`;
    this.sessions.set(id, "opening");
    return undefined;
  }

  /** Gives back a reservation whose session never opened. */
  release(id: string): void {
    if (this.sessions.get(id) === "opening") this.sessions.delete(id);
  }

  add(session: TerminalSession): void {
    this.sessions.set(session.id, session);
  }

  remove(session: TerminalSession): void {
    if (this.sessions.get(session.id) === session) this.sessions.delete(session.id);
  }

  get(id: string): TerminalSession | undefined {
    const entry = this.sessions.get(id);
    return entry === "opening" ? undefined : entry;
  }

  ids(): string[] {
    return [...this.sessions.keys()];
  }

  /** Ends every open session (socket closed, processes gone) and resolves when all are over. */
  async closeAll(reason = "the agent is stopping"): Promise<void> {
    const open = [...this.sessions.values()].filter((s): s is TerminalSession => s !== "opening");
    await Promise.all(open.map((s) => s.end(reason)));
  }
}
