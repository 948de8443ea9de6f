// The soak's websh load: a terminal opened every 10 s through openpty (as a throwaway user, created here and
// always removed) and closed by the console 5 s later, on a PTY socket mounted on the fake console's origin.
// Counts what opened, what closed and whether any of the user's processes outlived their session.
import type { FakeConsole } from "../test/console/fake-console.ts";
import { isFin } from "../test/console/fake-console-routes.ts";
import { FakePtyConsole } from "../test/console/fake-pty.ts";

const sh = (cmd: string[]) => Bun.spawnSync(cmd, { stdout: "pipe", stderr: "pipe" });

export interface TerminalCounts {
  opened: number;
  closed: number;
  /** openpty fins that said success=false. */
  refused: number;
  /** Processes of the terminal user still alive at the end (every session was closed before). */
  leftover: number;
}

export class SoakTerminals {
  readonly user: string;
  private readonly pty: FakePtyConsole;
  private readonly created: boolean;
  private readonly ids: string[] = [];
  private open: string[] = [];
  private closed = 0;

  constructor(private readonly fake: FakeConsole) {
    this.pty = new FakePtyConsole({ id: fake.id, key: fake.key }, undefined, fake);
    this.created = process.getuid?.() === 0;
    this.user = this.created ? `alps${Math.random().toString(36).slice(2, 8)}` : (process.env.USER ?? "root");
    if (this.created && sh(["useradd", "-m", "-U", "-s", "/bin/bash", this.user]).exitCode !== 0)
      throw new Error(`useradd ${this.user} failed`);
  }

  /** Sends openpty for a new channel; returns the command id (its fin counts like any other). */
  openOne(): string {
    const channel = crypto.randomUUID().replace(/-/g, "");
    const data = {
      session_id: `soak-${channel.slice(0, 12)}`,
      url: this.pty.ptyUrl(channel),
      username: this.user,
      groupname: this.user,
      rows: 24,
      cols: 80,
    };
    const id = this.fake.sendCommand({ shell: "internal", line: "openpty", data });
    this.ids.push(id);
    this.open.push(channel);
    return id;
  }

  /** The console closes every PTY socket it holds, as a browser tab closing would. */
  closeAll(): void {
    for (const channel of this.open.splice(0)) {
      const ch = this.pty.channel(channel);
      if (!ch || ch.closeCode !== undefined) continue;
      ch.ws.close(1000, "soak");
      this.closed++;
    }
  }

  async finish(): Promise<TerminalCounts> {
    this.closeAll();
    const deadline = Date.now() + 15_000;
    while (Date.now() < deadline && this.processes() > 0) await Bun.sleep(250);
    const refused = this.ids.filter((id) => {
      const fin = this.fake.requests.find((r) => isFin(r, id));
      return (fin?.json as { success?: boolean } | undefined)?.success === false;
    }).length;
    return { opened: this.pty.channels.length, closed: this.closed, refused, leftover: this.processes() };
  }

  /** Removes the user (killing anything left first) and the PTY mount. Safe to call more than once. */
  dispose(): void {
    this.pty.stop();
    if (!this.created) return;
    sh(["pkill", "-KILL", "-u", this.user]);
    sh(["userdel", "-r", this.user]);
    sh(["groupdel", this.user]);
  }

  private processes(): number {
    if (!this.created) return 0; // our own user runs this very benchmark
    const out = sh(["pgrep", "-u", this.user]).stdout.toString().trim();
    return out === "" ? 0 : out.split("\n").length;
  }
}
