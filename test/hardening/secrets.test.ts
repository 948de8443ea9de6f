// Secrets: the key never appears in the agent's logs (debug on, wrong-key phase, commands, restart), in the
// command lines or environments of the agent and its children, or in anything sent to the console except
// the Authorization header; config and state files are 0600 in 0700 directories; an upload to another
// origin carries no Authorization.
import { describe, expect, test } from "bun:test";
import { readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { runCli } from "../helpers/cli.ts";
import { useConsoleAndAgents } from "../helpers/agent.ts";
import { useTempDirs } from "../helpers/tmp.ts";

const tempDir = useTempDirs("alpamon-secrets-");
const { consoleOf, agentFor, cleanup } = useConsoleAndAgents();

/** Another origin: serves a download slowly (so a file worker stays alive) and records upload headers. */
function foreignServer() {
  const uploads: Record<string, string>[] = [];
  const server = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    async fetch(req) {
      const path = new URL(req.url).pathname;
      if (path === "/slow-content/") {
        return new Response(
          new ReadableStream({
            async start(c) {
              c.enqueue(new TextEncoder().encode("slow "));
              await Bun.sleep(5_000);
              c.enqueue(new TextEncoder().encode("content\n"));
              c.close();
            },
          }),
        );
      }
      if (path === "/upload/" && req.method === "POST") {
        uploads.push(Object.fromEntries(req.headers));
        await req.arrayBuffer();
        return Response.json({}, { status: 201 });
      }
      return new Response("not found", { status: 404 });
    },
  });
  cleanup(async () => server.stop(true));
  return { url: `http://127.0.0.1:${server.port}`, uploads };
}

function readProc(pid: number, file: string): string {
  try {
    return readFileSync(`/proc/${pid}/${file}`, "latin1");
  } catch {
    return "";
  }
}

/** The pid and every live descendant of it. */
function family(root: number): number[] {
  const parent = new Map<number, number>();
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    const stat = readProc(Number(name), "stat");
    const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
    if (ppid) parent.set(Number(name), ppid);
  }
  const out = [root];
  for (let grew = true; grew; ) {
    grew = false;
    for (const [pid, ppid] of parent)
      if (out.includes(ppid) && !out.includes(pid)) {
        out.push(pid);
        grew = true;
      }
  }
  return out;
}

describe("secrets", () => {
  test("the key is in no log line, process title, child argv or environment, nor any request body", async () => {
    const fake = await consoleOf();
    const dir = tempDir();
    const wrongKey = "Wr0ngKeyForTheSecretsTest_xyz";
    const first = agentFor(fake, dir, { key: wrongKey, debug: true });
    await first.waitForLog(/rejected this server's credentials/, 30_000);
    await first.stop("SIGTERM");

    const second = agentFor(fake, dir, { debug: true });
    await fake.waitForBackhaul(30_000);
    expect((await fake.waitForFin(fake.sendCommand({ shell: "internal", line: "ping" }))).success).toBe(true);
    expect((await fake.waitForFin(fake.sendCommand({ shell: "system", line: "echo hello", user: "root" }))).result).toBe("hello\n");
    const sleeper = fake.sendCommand({ shell: "system", line: "sleep 30", user: "root" });
    // A download whose content streams slowly keeps a file worker alive while we look.
    const foreign = foreignServer();
    const target = join(dir, "slow.txt");
    const download = fake.sendCommand({
      shell: "internal",
      line: `download ${target}`,
      data: { type: "url", content: `${foreign.url}/slow-content/`, path: target, username: "root", groupname: "root" },
    });
    let seen: number[] = [];
    for (const deadline = Date.now() + 15_000; seen.length === 0; await Bun.sleep(50)) {
      if (Date.now() > deadline) throw new Error("the sleep and the file worker never showed up under the agent");
      const pids = family(second.pid);
      const cmdlines = pids.map((p) => readProc(p, "cmdline").split("\0").join(" "));
      if (cmdlines.some((c) => /^sleep 30/.test(c)) && cmdlines.some((c) => c.includes("ftp-worker"))) seen = pids;
    }
    expect(seen.length).toBeGreaterThanOrEqual(3);
    for (const pid of seen) {
      for (const file of ["cmdline", "environ", "comm"]) {
        const text = readProc(pid, file);
        expect(text.includes(fake.key), `/proc/${pid}/${file}: ${text.replaceAll("\0", " ").slice(0, 300)}`).toBe(false);
      }
    }
    expect((await fake.waitForFin(download, 30_000)).success).toBe(true);
    expect(readFileSync(target, "utf8")).toBe("slow content\n");
    await second.stop("SIGTERM");
    const sleepPid = seen.find((p) => readProc(p, "cmdline").startsWith("sleep"));
    cleanup(async () => sleepPid && process.kill(sleepPid, "SIGKILL"));
    const third = agentFor(fake, dir, { debug: true });
    await fake.waitForBackhaul(30_000);
    expect((await fake.waitForFin(fake.sendCommand({ shell: "internal", line: "ping" }))).success).toBe(true);
    await third.stop("SIGTERM");

    const logs = first.log + second.log + third.log;
    expect(logs).toContain("[DEBUG]");
    for (const secret of [fake.key, wrongKey]) {
      expect(logs.includes(secret), "a key in the log").toBe(false);
      const leaking = fake.requests.filter((r) => r.body.includes(secret) || r.path.includes(secret));
      expect(leaking.map((r) => `${r.method} ${r.path}`)).toEqual([]);
    }
    expect(fake.requests.some((r) => r.path === `/api/events/commands/${sleeper}/ack/`)).toBe(true);
  }, 150_000);

  test("state and config files are 0600 in 0700 directories", async () => {
    const fake = await consoleOf();
    const dir = tempDir();
    const agent = agentFor(fake, dir);
    await fake.waitForBackhaul(30_000);
    expect((await fake.waitForFin(fake.sendCommand({ shell: "internal", line: "ping" }))).success).toBe(true);
    const state = join(dir, "state");
    expect(statSync(state).mode & 0o777).toBe(0o700);
    const files = readdirSync(state).filter((f) => statSync(join(state, f)).isFile());
    expect(files.length).toBeGreaterThan(0);
    for (const f of files) expect(`${f} ${(statSync(join(state, f)).mode & 0o777).toString(8)}`).toBe(`${f} 600`);
    await agent.stop("SIGTERM");

    const target = join(dir, "etc", "alpamon", "alpamon.conf");
    const setup = await runCli(["setup", "--config", target], {
      env: { ALPACON_URL: "https://c.example", PLUGIN_ID: "id-1", PLUGIN_KEY: "setup-secret-key" },
    });
    expect(setup.code).toBe(0);
    expect(setup.stdout + setup.stderr).not.toContain("setup-secret-key");
    expect(statSync(target).mode & 0o777).toBe(0o600);
    expect(statSync(join(dir, "etc", "alpamon")).mode & 0o777).toBe(0o700);
  }, 60_000);

  test("an upload whose content URL is another origin gets no Authorization; the console's own origin does", async () => {
    const fake = await consoleOf();
    const other = foreignServer();
    fake.route("POST", "/upload/", () => ({ status: 201, body: {} }));
    const dir = tempDir();
    const file = join(dir, "report.txt");
    writeFileSync(file, "report\n");
    agentFor(fake, dir);
    await fake.waitForBackhaul(30_000);
    for (const target of [other, fake]) {
      const id = fake.sendCommand({
        shell: "internal",
        line: `upload ${file}`,
        data: { content: `${target.url}/upload/`, paths: [file], username: "root", groupname: "root" },
      });
      const fin = await fake.waitForFin(id, 30_000);
      expect(fin.success, fin.result).toBe(true);
    }
    const own = fake.requests.filter((r) => r.path === "/upload/");
    expect(other.uploads).toHaveLength(1);
    expect(other.uploads[0]!.authorization).toBeUndefined();
    expect(own).toHaveLength(1);
    expect(own[0]!.headers.authorization).toBe(`id="${fake.id}", key="${fake.key}"`);
  }, 60_000);
});
