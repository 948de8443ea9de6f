// Editor tunnels end to end (spec/upstream-2026.md §8.5, README "Tunnels"): a stand-in code-server (a small script
// that serves HTTP on the --bind-addr it is given, once the test lets it) is started lazily by the first health check,
// as the user with their groups; health checks answer 503 while it starts and 200 when it accepts; streams then reach
// it; closetunnel ends its process group. Without code-server the health check answers 500 with the install hint.
import { describe, expect, test } from "bun:test";
import { chmodSync, existsSync, mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { FakeTunnelConsole, type TunnelConnection } from "../../console/fake-tunnel.ts";
import { useConsoleAndAgents } from "../../helpers/agent.ts";
import { useTempDirs } from "../../helpers/tmp.ts";
import { useTestUser } from "../../helpers/users.ts";
import { closeTunnel, openTunnel, until } from "./tunnel-fixtures.ts";

const tempDir = useTempDirs("alpamon-editor-");
const { consoleOf, agentFor, cleanup } = useConsoleAndAgents();
const { user: USER, extraGroup: EXTRA, isRoot } = useTestUser("altun");

/** Waits for a file named "go" beside itself, then answers every GET with who it is, as JSON. */
const STAND_IN = `#!/usr/bin/python3
import http.server, json, os, sys, time
here = os.path.dirname(os.path.abspath(__file__))
bind = sys.argv[sys.argv.index("--bind-addr") + 1]
host, port = bind.rsplit(":", 1)
while not os.path.exists(os.path.join(here, "go")):
    time.sleep(0.05)
who = {"uid": os.getuid(), "gid": os.getgid(), "groups": sorted(os.getgroups()), "argv": sys.argv[1:], "cwd": os.getcwd(),
       "home": os.environ.get("HOME"), "pgid": os.getpgid(0), "pid": os.getpid()}
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = json.dumps(who).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a):
        pass
http.server.HTTPServer((host, int(port)), H).serve_forever()
`;

async function health(conn: TunnelConnection): Promise<string> {
  const stream = await conn.open({ health_check: true });
  return await stream.readAll();
}

/** The answer when it starts with `status`, else undefined (wait for the next). */
const healthWith = (answer: string, status: string) => (answer.startsWith(status) ? answer : undefined);

const id = (flag: string) => Bun.spawnSync(["id", flag, USER]).stdout.toString().trim();

describe("editor tunnels through the agent", () => {
  test.skipIf(!isRoot)(
    "lazy bring-up as the user: 503 while starting, 200 when ready, streams reach it; closetunnel ends it; 500 when absent",
    async () => {
      // The stand-in lives where the user can run it; "go" releases it.
      const bin = mkdtempSync(join(tmpdir(), "alpamon-code-server-"));
      cleanup(() => rmSync(bin, { recursive: true, force: true }));
      chmodSync(bin, 0o755);
      const program = join(bin, "code-server");
      writeFileSync(program, STAND_IN, { mode: 0o755 });

      const fake = await consoleOf();
      const tun = new FakeTunnelConsole();
      cleanup(() => tun.stop());
      const dir = tempDir();
      chmodSync(dir, 0o711);
      const agent = agentFor(fake, dir, { extraConfig: `[tunnel]\nload_limit = 100\n[editor]\ncode_server = ${program}\n` });
      cleanup(() => process.env.SHOW_LOG && console.log(agent.log));
      await fake.waitForBackhaul(30_000);

      const sid = `ed-${crypto.randomUUID().slice(0, 8)}`;
      const conn = await openTunnel(
        fake,
        tun,
        sid,
        { client_type: "editor", username: USER },
        `Editor tunnel opened for session ${sid} (user: ${USER}).`,
      );
      const starting = await health(conn);
      expect(starting).toStartWith("HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n");
      expect(starting).toEndWith('\r\n\r\n{"status":"starting"}');
      await until(() => Bun.spawnSync(["pgrep", "-u", USER, "-f", program]).exitCode === 0, "the stand-in to run");
      expect(await health(conn)).toStartWith("HTTP/1.1 503 ");

      writeFileSync(join(bin, "go"), "");
      const answer = await until(async () => healthWith(await health(conn), "HTTP/1.1 200 "), "a 200 health check", 30_000);
      expect(answer).toBe(
        'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 18\r\nConnection: close\r\n\r\n{"status":"ready"}',
      );

      const stream = await conn.open({});
      await stream.write("GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
      const reply = await stream.readAll();
      const who = JSON.parse(reply.slice(reply.indexOf("\r\n\r\n") + 4)) as Record<string, unknown>;
      const home = `/home/${USER}`;
      expect(who).toMatchObject({ uid: Number(id("-u")), gid: Number(id("-g")), cwd: home, home });
      expect(who.groups).toEqual(
        id("-G")
          .split(" ")
          .map(Number)
          .sort((a, b) => a - b),
      );
      expect((who.groups as number[]).length).toBe(2); // the user's own group and EXTRA
      expect(Bun.spawnSync(["getent", "group", EXTRA]).stdout.toString()).toContain(USER);
      const argv = who.argv as string[];
      expect(argv).toContain("--idle-timeout-seconds");
      expect(argv[argv.indexOf("--idle-timeout-seconds") + 1]).toBe("3600");
      expect(argv[argv.indexOf("--bind-addr") + 1]).toMatch(/^127\.0\.0\.1:\d+$/);
      expect(who.pgid).toBe(who.pid);
      for (const file of [".alpamon-editor/config.yaml", ".alpamon-editor/User/settings.json"]) {
        const st = statSync(join(home, file));
        expect({ file, uid: st.uid, mode: st.mode & 0o777 }).toEqual({ file, uid: Number(id("-u")), mode: 0o600 });
      }

      expect(await closeTunnel(fake, sid)).toMatchObject({ success: true, result: `Tunnel closed for session ${sid}.` });
      expect(
        Bun.spawnSync(["pgrep", "-g", String(who.pgid)])
          .stdout.toString()
          .trim(),
      ).toBe("");
      await conn.waitClosed();

      // code-server gone: the health check says how to install it.
      rmSync(program);
      const sid2 = `ed2-${crypto.randomUUID().slice(0, 8)}`;
      const conn2 = await openTunnel(
        fake,
        tun,
        sid2,
        { client_type: "editor", username: USER },
        `Editor tunnel opened for session ${sid2} (user: ${USER}).`,
      );
      const absent = await until(async () => healthWith(await health(conn2), "HTTP/1.1 500 "), "a 500 health check");
      expect(absent).toStartWith("HTTP/1.1 500 Internal Server Error\r\n");
      const body = JSON.parse(absent.slice(absent.indexOf("\r\n\r\n") + 4)) as { status: string; error: string };
      expect(body.status).toBe("error");
      expect(body.error).toStartWith("code-server is not installed: install the code-server package");
      expect(existsSync(program)).toBe(false);
      expect(await closeTunnel(fake, sid2)).toMatchObject({ success: true });
    },
    120_000,
  );
});
