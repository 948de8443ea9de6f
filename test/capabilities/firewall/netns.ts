// Private network namespaces for the firewall tests: every nft/iptables call of the code under test is
// wrapped in `ip netns exec <ns>`, a veth pair joins an agent and a client namespace, and the host's own
// ruleset is snapshotted so a suite can prove it never changed. Namespaces are unique and always deleted.
import { randomBytes } from "node:crypto";
import { runProcess } from "../../../src/exec/run.ts";
import type { RunOptions, RunProcess, RunResult } from "../../../src/exec/types.ts";

const ENV = { PATH: "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", LANG: "C" };
export const AGENT_IP = "10.98.0.1";
export const CLIENT_IPS = ["10.98.0.2", "10.98.0.3"] as const;
export const AGENT_IP6 = "fd98::1";
export const CLIENT_IP6 = "fd98::2";

export const canUseNetns =
  process.getuid?.() === 0 &&
  Bun.spawnSync(["ip", "netns", "list"]).exitCode === 0 &&
  Bun.spawnSync(["which", "nft", "iptables"]).exitCode === 0;

export async function sh(argv: string[], stdin?: string): Promise<RunResult> {
  return runProcess({ argv, env: ENV, timeoutMs: 20_000, ...(stdin !== undefined ? { stdin } : {}) });
}

/** The host's firewall as text: nft, iptables and ip6tables, and their legacy flavour (comment lines and counters dropped). */
export async function hostSnapshot(): Promise<string> {
  const parts: string[] = [];
  const legacy =
    Bun.spawnSync(["which", "iptables-legacy-save"]).exitCode === 0 ? [["iptables-legacy-save"], ["ip6tables-legacy-save"]] : [];
  for (const argv of [["nft", "list", "ruleset"], ["iptables-save"], ["ip6tables-save"], ...legacy]) {
    const r = await sh(argv);
    const text = r.output
      .split("\n")
      .filter((l) => !l.startsWith("#"))
      .map((l) => l.replace(/\[\d+:\d+\]/g, "[0:0]"))
      .join("\n");
    parts.push(`## ${argv.join(" ")} rc=${r.exitCode}\n${text}`);
  }
  return parts.join("\n");
}

const live = new Set<string>();
process.on("exit", () => {
  // Last resort if a test process dies before afterEach/afterAll ran.
  for (const ns of live) Bun.spawnSync(["ip", "netns", "del", ns]);
});

export class Lab {
  private servers: AbortController[] = [];

  private constructor(
    readonly agent: string,
    readonly client: string | undefined,
    readonly legacy: boolean,
  ) {}

  /**
   * One agent namespace, and with `veth` a client namespace joined to it (IPv4 and IPv6). With `legacy`,
   * every iptables tool run in the agent namespace is its -legacy flavour (as on a legacy host).
   */
  static async create(opts: { veth?: boolean; legacy?: boolean } = {}): Promise<Lab> {
    const id = `${process.pid.toString(36)}${randomBytes(3).toString("hex")}`;
    const agent = `alp-fwa-${id}`;
    const client = opts.veth ? `alp-fwc-${id}` : undefined;
    const lab = new Lab(agent, client, !!opts.legacy);
    const must = async (argv: string[]) => {
      const r = await sh(argv);
      if (r.exitCode !== 0) throw new Error(`${argv.join(" ")}: ${r.output}`);
    };
    try {
      await must(["ip", "netns", "add", agent]);
      live.add(agent);
      await must(["ip", "netns", "exec", agent, "ip", "link", "set", "lo", "up"]);
      if (client) {
        await must(["ip", "netns", "add", client]);
        live.add(client);
        const a = `fa${id}`.slice(0, 15);
        const c = `fc${id}`.slice(0, 15);
        await must(["ip", "link", "add", a, "netns", agent, "type", "veth", "peer", "name", c, "netns", client]);
        const A = (...argv: string[]) => must(["ip", "netns", "exec", agent, ...argv]);
        const C = (...argv: string[]) => must(["ip", "netns", "exec", client, ...argv]);
        await A("ip", "addr", "add", `${AGENT_IP}/24`, "dev", a);
        await A("ip", "-6", "addr", "add", `${AGENT_IP6}/64`, "dev", a, "nodad");
        await A("ip", "link", "set", a, "up");
        await C("ip", "addr", "add", `${CLIENT_IPS[0]}/24`, "dev", c);
        await C("ip", "addr", "add", `${CLIENT_IPS[1]}/24`, "dev", c);
        await C("ip", "-6", "addr", "add", `${CLIENT_IP6}/64`, "dev", c, "nodad");
        await C("ip", "link", "set", c, "up");
        await C("ip", "link", "set", "lo", "up");
      }
    } catch (err) {
      await lab.destroy();
      throw err;
    }
    return lab;
  }

  /** runProcess for the code under test: the same call, inside the agent namespace. */
  readonly runProcess: RunProcess = (o: RunOptions) =>
    runProcess({ ...o, argv: ["ip", "netns", "exec", this.agent, ...this.flavour(o.argv)] });

  exec(argv: string[], stdin?: string): Promise<RunResult> {
    return sh(["ip", "netns", "exec", this.agent, ...this.flavour(argv)], stdin);
  }

  private flavour(argv: string[]): string[] {
    if (!this.legacy || !/^ip6?tables(-save|-restore)?$/.test(argv[0] ?? "")) return argv;
    return [argv[0]!.replace(/^(ip6?tables)/, "$1-legacy"), ...argv.slice(1)];
  }

  /** TCP listeners on the given ports in the agent namespace (IPv4 and IPv6); stopped by destroy(). */
  async listen(ports: number[]): Promise<void> {
    const ctl = new AbortController();
    this.servers.push(ctl);
    const code = `
import socket,threading
def serve(fam,addr,p):
    s=socket.socket(fam); s.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1)
    s.bind((addr,p)); s.listen(64)
    while True:
        c,_=s.accept(); c.close()
for p in ${JSON.stringify(ports)}:
    threading.Thread(target=serve,args=(socket.AF_INET,"${AGENT_IP}",p),daemon=True).start()
    threading.Thread(target=serve,args=(socket.AF_INET6,"${AGENT_IP6}",p),daemon=True).start()
print("ready",flush=True)
threading.Event().wait()
`;
    void runProcess({ argv: ["ip", "netns", "exec", this.agent, "python3", "-c", code], env: ENV, signal: ctl.signal });
    for (let i = 0; i < 50; i++) {
      if ((await this.connect(CLIENT_IPS[0], ports[0]!)) === "open") return;
      await Bun.sleep(100);
    }
    throw new Error("listener did not start");
  }

  /** "open", "refused" (REJECT) or "blocked" (DROP: no answer within 0.7 s), from the client namespace. */
  async connect(source: string, port: number): Promise<"open" | "refused" | "blocked"> {
    const dest = source.includes(":") ? AGENT_IP6 : AGENT_IP;
    const code = `
import socket,sys
fam=socket.AF_INET6 if ":" in sys.argv[1] else socket.AF_INET
s=socket.socket(fam); s.settimeout(0.7)
try:
    s.bind((sys.argv[1],0)); s.connect((sys.argv[2],int(sys.argv[3]))); print("open")
except ConnectionRefusedError: print("refused")
except Exception: print("blocked")
`;
    const r = await sh(["ip", "netns", "exec", this.client!, "python3", "-c", code, source, dest, String(port)]);
    return r.output.trim() as "open" | "refused" | "blocked";
  }

  async destroy(): Promise<void> {
    for (const s of this.servers) s.abort();
    for (const ns of [this.agent, this.client]) {
      if (!ns) continue;
      await sh(["ip", "netns", "del", ns]);
      live.delete(ns);
    }
  }
}
