// `alpamon register` with cloud tags: the registration body carries the metadata service's tags under the
// operator's --tag values, --no-cloud-probe asks nothing, and (as root) the real CLI in a private network
// namespace finds a stand-in on the real default address 169.254.169.254, ignoring proxy variables.
import { afterEach, describe, expect, test } from "bun:test";
import { randomBytes } from "node:crypto";
import { writeFileSync } from "node:fs";
import { createConnection, createServer } from "node:net";
import { join } from "node:path";
import { REGISTER_PATH, runRegister } from "../../src/config/register.ts";
import { detectPlatform } from "../../src/platform/os-release.ts";
import { FakeConsole } from "../console/fake-console.ts";
import { MAIN } from "../helpers/cli.ts";
import { useTempDirs } from "../helpers/tmp.ts";
import { AWS, AWS_TOKEN_PREFIX, type FakeImds, startFakeImds } from "./fake-imds.ts";

const tempDir = useTempDirs("alpamon-register-cloud-");
const TOKEN = "tok_CloudReg-SECRET-0123456789";
const NEW = { id: "5d1c2b3a-1111-4222-8333-944445555666", key: "CloudKey_abcdefghijklmnopqrstuvwxyz0123" };
const DEBIAN = () => detectPlatform({ ID: "debian", VERSION_ID: "12", NAME: "Debian GNU/Linux" });
const AWS_TAGS = {
  "cloud:provider": "aws",
  "cloud:instance_id": AWS.document.instanceId,
  "cloud:region": AWS.document.region,
  "cloud:availability_zone": AWS.document.availabilityZone,
  "cloud:instance_type": AWS.document.instanceType,
  "cloud:account_id": AWS.document.accountId,
  "cloud:network_id": AWS.vpc,
};
const SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function fakeConsole(tls = false): Promise<FakeConsole> {
  const fake = await FakeConsole.start({ tls });
  cleanups.push(() => fake.stop());
  fake.fault({ method: "POST", path: REGISTER_PATH }, { status: 201, body: JSON.stringify({ ...NEW, name: "web-1" }) });
  return fake;
}

function registerBodies(fake: FakeConsole) {
  return fake.requests.filter((r) => r.method === "POST" && r.path === REGISTER_PATH).map((r) => r.json as Record<string, unknown>);
}

function standIn(): FakeImds {
  const imds = startFakeImds({ providers: ["aws"] });
  cleanups.push(() => imds.stop());
  return imds;
}

async function register(fake: FakeConsole, cloud: Parameters<typeof runRegister>[1]["cloud"], tags: Record<string, string>) {
  const lines: string[] = [];
  await runRegister(
    { url: fake.url, token: TOKEN, name: "web-1", tags },
    {
      target: join(tempDir(), "alpamon.conf"),
      platform: DEBIAN,
      userAgent: "test",
      noStart: true,
      runProcess: async () => ({ exitCode: 0, output: "", omittedBytes: 0, timedOut: false }),
      print: (l) => lines.push(l),
      cloud,
    },
  );
  return lines;
}

describe("register with cloud tags", () => {
  test("cloud tags go in the registration; the operator's --tag wins on the same key", async () => {
    const fake = await fakeConsole();
    const imds = standIn();
    const lines = await register(fake, { base: imds.base, dmiDir: tempDir() }, { "cloud:region": "mine", env: "prod" });
    expect(registerBodies(fake)).toEqual([
      { name: "web-1", platform: "debian", tags: { ...AWS_TAGS, "cloud:region": "mine", env: "prod" } },
    ]);
    const detected = lines.indexOf(`Cloud detected: aws (instance=${AWS.document.instanceId})`);
    expect(detected).toBeGreaterThanOrEqual(0);
    expect(detected).toBeLessThan(lines.findIndex((l) => l.startsWith("Registering ")));
    expect(lines.join("\n")).not.toContain(AWS_TOKEN_PREFIX);
  });

  test("a failed detection never stops the registration", async () => {
    const fake = await fakeConsole();
    const closed = startFakeImds({ providers: [] });
    await closed.stop();
    const lines = await register(fake, { base: closed.base, dmiDir: tempDir() }, { env: "prod" });
    expect(lines).toContain("No cloud provider detected; registering as plain server.");
    expect(registerBodies(fake)).toEqual([{ name: "web-1", platform: "debian", tags: { env: "prod" } }]);
  });

  test("cloud: false (--no-cloud-probe) asks nothing and sends no cloud tag", async () => {
    const fake = await fakeConsole();
    const imds = standIn();
    const lines = await register(fake, false, {});
    expect(lines).toContain("Cloud detection skipped (--no-cloud-probe).");
    expect(imds.seen).toEqual([]);
    expect(registerBodies(fake)).toEqual([{ name: "web-1", platform: "debian" }]);
  });
});

const canUseNetns = process.getuid?.() === 0 && Bun.spawnSync(["ip", "netns", "list"]).exitCode === 0;
if (!canUseNetns) console.warn("register-cloud: the network-namespace test is skipped: it needs root and `ip netns`");

/** Collects a child's stdout as it arrives; waitFor() polls it with a deadline. */
function collect(stream: ReadableStream<Uint8Array>) {
  let text = "";
  void (async () => {
    const decoder = new TextDecoder();
    for await (const chunk of stream) text += decoder.decode(chunk, { stream: true });
  })();
  return {
    get text() {
      return text;
    },
    async waitFor(pattern: RegExp, timeoutMs = 10_000): Promise<void> {
      const deadline = Date.now() + timeoutMs;
      while (!pattern.test(text)) {
        if (Date.now() > deadline) throw new Error(`timed out waiting for ${pattern}; got:\n${text}`);
        await Bun.sleep(20);
      }
    },
  };
}

function sh(argv: string[]): void {
  const r = Bun.spawnSync(argv, { env: { PATH: SYSTEM_PATH } });
  if (r.exitCode !== 0) throw new Error(`${argv.join(" ")}: ${r.stderr.toString()}`);
}

describe.skipIf(!canUseNetns)("the real CLI in a private network namespace (root, ip netns)", () => {
  test("finds the stand-in on 169.254.169.254, ignores proxy variables, and --no-cloud-probe asks nothing", async () => {
    const ns = `alp-imds-${process.pid.toString(36)}${randomBytes(3).toString("hex")}`;
    const dir = tempDir();
    const fake = await fakeConsole(true);
    const port = new URL(fake.url).port;
    // Unix sockets cross network namespaces: the namespace's 127.0.0.1:<port> reaches the fake console through one.
    const socketPath = join(dir, "console.sock");
    const bridge = createServer((inner) => {
      const outer = createConnection(Number(port), "127.0.0.1");
      inner.pipe(outer).pipe(inner);
      inner.on("error", () => outer.destroy());
      outer.on("error", () => inner.destroy());
    });
    await new Promise<void>((resolve) => bridge.listen(socketPath, resolve));
    let helper: ReturnType<typeof Bun.spawn> | undefined;
    try {
      sh(["ip", "netns", "add", ns]);
      sh(["ip", "-n", ns, "link", "set", "lo", "up"]);
      sh(["ip", "-n", ns, "addr", "add", "169.254.169.254/32", "dev", "lo"]);
      helper = Bun.spawn(["ip", "netns", "exec", ns, process.execPath, join(import.meta.dir, "fake-imds.ts"), "aws", port, socketPath], {
        env: { PATH: SYSTEM_PATH },
        stdout: "pipe",
        stderr: "inherit",
      });
      const seen = collect(helper.stdout as ReadableStream<Uint8Array>);
      await seen.waitFor(/^ready$/m);

      const tokenFile = join(dir, "token");
      writeFileSync(tokenFile, TOKEN, { mode: 0o600 });
      const cli = async (args: string[]) => {
        const proc = Bun.spawn(["ip", "netns", "exec", ns, process.execPath, MAIN, "register", ...args], {
          cwd: "/",
          env: {
            PATH: SYSTEM_PATH,
            HOME: "/nonexistent-home",
            // Nothing listens on port 9: a metadata request sent through a proxy would fail.
            HTTP_PROXY: "http://127.0.0.1:9",
            http_proxy: "http://127.0.0.1:9",
            ALL_PROXY: "http://127.0.0.1:9",
            NO_PROXY: "127.0.0.1",
          },
          stdin: "ignore",
          stdout: "pipe",
          stderr: "pipe",
        });
        const [stdout, stderr, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
        return { stdout, stderr, code };
      };
      const common = ["--url", fake.url, "--token-file", tokenFile, "--ca-cert", fake.caCertPath!, "--name", "web-1", "--no-start"];

      const probed = await cli([...common, "--config", join(dir, "a.conf"), "--tag", "cloud:region=mine", "--tag", "env=prod"]);
      expect(probed.stderr).toBe("");
      expect(probed.code).toBe(0);
      expect(probed.stdout).toContain(`Cloud detected: aws (instance=${AWS.document.instanceId})`);
      expect(probed.stdout + probed.stderr).not.toContain(AWS_TOKEN_PREFIX);
      expect(seen.text).toContain('"method":"PUT","path":"/latest/api/token"');
      expect(registerBodies(fake)[0]!.tags).toEqual({ ...AWS_TAGS, "cloud:region": "mine", env: "prod" });

      const before = seen.text.length;
      const skipped = await cli([...common, "--config", join(dir, "b.conf"), "--no-cloud-probe"]);
      expect(skipped.code).toBe(0);
      expect(skipped.stdout).toContain("Cloud detection skipped (--no-cloud-probe).");
      expect(registerBodies(fake)[1]).toEqual({ name: "web-1", platform: expect.any(String) });
      // A request of our own marks the end: anything the second run had asked would be logged before it.
      sh(["ip", "netns", "exec", ns, process.execPath, "-e", "await fetch('http://169.254.169.254/end-marker')"]);
      await seen.waitFor(/end-marker/);
      expect(seen.text.slice(before)).not.toContain("/latest/");
      expect(seen.text.slice(before).trim().split("\n")).toHaveLength(1);
    } finally {
      helper?.kill();
      await helper?.exited;
      Bun.spawnSync(["ip", "netns", "del", ns], { env: { PATH: SYSTEM_PATH } });
      await new Promise<void>((resolve) => bridge.close(() => resolve()));
    }
  });
});
