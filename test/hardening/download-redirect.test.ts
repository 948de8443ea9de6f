// A content server that redirects a download to `file:` must not make the agent (root) read a local file
// into the user's path: every hop is http(s) only, the redirect chain is bounded, and the refusal names the
// scheme and host but never the URL (it may carry a token). Through the real agent, as a throwaway user.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chmodSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { FakeConsole } from "../console/fake-console.ts";
import { useConsoleAndAgents } from "../helpers/agent.ts";
import { useTempDirs } from "../helpers/tmp.ts";
import { useTestUser } from "../helpers/users.ts";

const tempDir = useTempDirs("alpamon-redirect-");
const { consoleOf, agentFor, cleanup } = useConsoleAndAgents();
const { user: USER, isRoot } = useTestUser("alprd");
const HOME = `/home/${USER}`;
const MARKER = `SECRET-${crypto.randomUUID()}`;
const TOKEN = `tok${crypto.randomUUID().replace(/-/g, "")}`;

let secretDir: string;
let secret: string;

beforeAll(() => {
  secretDir = mkdtempSync(join(tmpdir(), "alpamon-secret-"));
  secret = join(secretDir, "shadow");
  writeFileSync(secret, `${MARKER}\n`, { mode: 0o600 });
  chmodSync(secret, 0o600);
});

afterAll(() => rmSync(secretDir, { recursive: true, force: true }));

/** Loopback server: file: redirects in four forms, an endless chain, and an honest http→http hop. */
function redirectServer(): string {
  const server = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    fetch(req) {
      const path = new URL(req.url).pathname;
      const to = (status: number, location: string) => new Response(null, { status, headers: { location } });
      if (path === "/302-absolute") return to(302, `file://${secret}`);
      if (path === "/307-absolute") return to(307, `file://${secret}`);
      if (path === "/302-bare") return to(302, `file:${secret}`);
      if (path === "/307-bare") return to(307, `file:${secret}`);
      const loop = /^\/loop\/(\d+)$/.exec(path);
      if (loop) return to(302, `/loop/${Number(loop[1]) + 1}`);
      if (path === "/moved") return to(301, "/final");
      if (path === "/final") return new Response("redirected content\n");
      return new Response("not found", { status: 404 });
    },
  });
  cleanup(() => server.stop(true));
  return `http://127.0.0.1:${server.port}`;
}

async function setup(): Promise<{ fake: FakeConsole; base: string }> {
  const fake = await consoleOf();
  agentFor(fake, tempDir());
  await fake.waitForBackhaul(30_000);
  return { fake, base: redirectServer() };
}

function download(fake: FakeConsole, url: string, name: string) {
  const path = join(HOME, name);
  const id = fake.sendCommand({
    shell: "internal",
    line: `download ${path}`,
    data: { type: "url", content: url, path, username: USER, groupname: USER },
  });
  return { path, fin: fake.waitForFin(id, 30_000) };
}

const homeHoldsMarker = () =>
  readdirSync(HOME).some((f) => existsSync(join(HOME, f)) && readFileSync(join(HOME, f), "latin1").includes(MARKER));

describe("download redirects through the agent", () => {
  for (const form of ["302-absolute", "307-absolute", "302-bare", "307-bare"]) {
    test.skipIf(!isRoot)(`a ${form} redirect to file: is refused, naming the scheme and host, writing nothing`, async () => {
      const { fake, base } = await setup();
      const { path, fin } = download(fake, `${base}/${form}?token=${TOKEN}`, `got-${form}.txt`);
      const answer = await fin;
      expect(answer.success).toBe(false);
      expect(answer.result).toBe(
        `downloading content failed: refused a redirect from ${base} to a file: URL; only http and https are allowed`,
      );
      expect(answer.result).not.toContain(TOKEN);
      expect(answer.result).not.toContain(secret);
      expect(existsSync(path)).toBe(false);
      expect(homeHoldsMarker()).toBe(false);
    });
  }

  test.skipIf(!isRoot)("an endless redirect chain fails clearly after 5 hops; an http→http redirect still works", async () => {
    const { fake, base } = await setup();
    const loop = download(fake, `${base}/loop/0`, "loop.txt");
    const answer = await loop.fin;
    expect(answer.success).toBe(false);
    expect(answer.result).toContain("too many redirects");
    expect(existsSync(loop.path)).toBe(false);

    const moved = download(fake, `${base}/moved`, "moved.txt");
    expect((await moved.fin).success).toBe(true);
    expect(readFileSync(moved.path, "utf8")).toBe("redirected content\n");
  });
});
