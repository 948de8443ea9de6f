// The real `alpamon register` CLI, as root, in a private network namespace this file creates: a stand-in metadata
// server (fake-imds.ts) listens on the real default address 169.254.169.254:80 there, and the console is reached
// through a Unix-socket relay. One namespace and one stand-in serve every scenario; each scenario reconfigures the
// stand-in, runs the CLI once, and checks what the console received (the registration body's tags), the §6 line
// the operator saw, and which metadata requests were made. Proxy variables point at a dead port in every run: a
// metadata request sent through a proxy would fail.
//
// Provider selection: the CLI reads the host's DMI files (no override from the command line), so each scenario
// serves only the providers it is about; the others answer 404 at once, so a DMI hint can only change the order of
// quick refusals, never the outcome.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createConnection, createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { REGISTER_PATH } from "../../src/config/register.ts";
import { FakeConsole } from "../console/fake-console.ts";
import { MAIN } from "../helpers/cli.ts";
import { AWS, AWS_TOKEN_PREFIX, AZURE, GCP, type Scenario, type SeenRequest } from "./fake-imds.ts";

const TOKEN = "tok_CloudReg-SECRET-0123456789";
const NEW = { id: "5d1c2b3a-1111-4222-8333-944445555666", key: "CloudKey_abcdefghijklmnopqrstuvwxyz0123" };
const SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
/** The budgets of §6, written out rather than imported: a raised budget in the code must fail here. */
const BUDGETS = { probeMs: 800, fetchMs: 2_000, totalMs: 5_000 };
/** Over the whole detection budget: bun's start, the registration and a loaded machine. */
const SLACK_MS = 2_000;
/** A run that takes longer is killed (and fails): a budget that is not kept must not hang the file. */
const RUN_DEADLINE_MS = BUDGETS.totalMs + 8_000;
const TEST_TIMEOUT_MS = RUN_DEADLINE_MS + 5_000;

const AWS_TOKEN_PATH = "/latest/api/token";
const AWS_DOCUMENT = "/latest/dynamic/instance-identity/document";
const GCP_ID = "/computeMetadata/v1/instance/id";
const GCP_ZONE = "/computeMetadata/v1/instance/zone";
const AZURE_PATH = "/metadata/instance?api-version=2021-02-01";

const AWS_TAGS = {
  "cloud:provider": "aws",
  "cloud:instance_id": AWS.document.instanceId,
  "cloud:region": AWS.document.region,
  "cloud:availability_zone": AWS.document.availabilityZone,
  "cloud:instance_type": AWS.document.instanceType,
  "cloud:account_id": AWS.document.accountId,
  "cloud:network_id": AWS.vpc,
};
const GCP_TAGS = {
  "cloud:provider": "gcp",
  "cloud:instance_id": GCP["instance/id"],
  "cloud:availability_zone": "us-central1-a",
  "cloud:region": "us-central1",
  "cloud:instance_type": "e2-medium",
  "cloud:network_id": "default",
  "cloud:account_id": GCP["project/project-id"],
};
const AZURE_TAGS = {
  "cloud:provider": "azure",
  "cloud:instance_id": AZURE.compute.vmId,
  "cloud:region": AZURE.compute.location,
  "cloud:availability_zone": AZURE.compute.zone,
  "cloud:instance_type": AZURE.compute.vmSize,
  "cloud:account_id": AZURE.compute.subscriptionId,
};
const NONE = "No cloud provider detected; registering as plain server.";

const canUseNetns = process.getuid?.() === 0 && Bun.spawnSync(["ip", "netns", "list"], { env: { PATH: SYSTEM_PATH } }).exitCode === 0;
if (!canUseNetns) {
  console.warn(
    `register-cloud-netns: skipped: creating a network namespace needs root and \`ip netns\` (uid ${process.getuid?.()}, ip netns ${
      Bun.spawnSync(["ip", "netns", "list"], { env: { PATH: SYSTEM_PATH } }).exitCode === 0 ? "works" : "unavailable"
    })`,
  );
}

function sh(argv: string[]): void {
  const r = Bun.spawnSync(argv, { env: { PATH: SYSTEM_PATH } });
  if (r.exitCode !== 0) throw new Error(`${argv.join(" ")}: ${r.stderr.toString()}`);
}

/** The helper process in the namespace: its stdout read as JSON lines, scenarios sent on its stdin. */
class StandIn {
  readonly seen: SeenRequest[] = [];
  private readonly acks = new Set<number>();
  private ready = false;
  private output = "";
  private nextId = 1;

  constructor(readonly proc: Bun.Subprocess<"pipe", "pipe", "inherit">) {
    void (async () => {
      let buffered = "";
      const decoder = new TextDecoder();
      for await (const chunk of proc.stdout) {
        buffered += decoder.decode(chunk, { stream: true });
        let nl = buffered.indexOf("\n");
        while (nl >= 0) {
          const line = buffered.slice(0, nl);
          buffered = buffered.slice(nl + 1);
          this.output += `${line}\n`;
          let msg: { ready?: true; ok?: number; seen?: SeenRequest } = {};
          try {
            msg = JSON.parse(line);
          } catch {
            // not one of the helper's lines: kept in `output` for the error message only
          }
          if (msg.seen) this.seen.push(msg.seen);
          if (msg.ok !== undefined) this.acks.add(msg.ok);
          if (msg.ready) this.ready = true;
          nl = buffered.indexOf("\n");
        }
      }
    })();
  }

  private async until(done: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!done()) {
      if (this.proc.exitCode !== null) throw new Error(`the stand-in exited (${this.proc.exitCode}) while waiting for ${what}`);
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; the stand-in said:\n${this.output.slice(-2000)}`);
      await Bun.sleep(10);
    }
  }

  waitReady(): Promise<void> {
    return this.until(() => this.ready, "the stand-in to start");
  }

  /**
   * Puts a scenario in force; resolves once the helper says so. Requests are logged before they are answered and
   * the helper's stdout is ordered, so every request a finished run made is in `seen` by then.
   */
  async configure(scenario: Scenario): Promise<void> {
    const id = this.nextId++;
    this.proc.stdin.write(`${JSON.stringify({ id, scenario })}\n`);
    await this.proc.stdin.flush();
    await this.until(() => this.acks.has(id), `scenario ${id} to take effect`);
  }
}

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
  ms: number;
  /** The lines of §6 (cloud detection) among the CLI's output. */
  cloudLines: string[];
  /** The registration body the console received from this run. */
  body: Record<string, unknown>;
  /** The metadata requests of this run, in arrival order. */
  requests: SeenRequest[];
}

describe.skipIf(!canUseNetns)("register in a private network namespace, stand-in on 169.254.169.254 (root, ip netns)", () => {
  const ns = `alp-imds-${process.pid.toString(36)}${randomBytes(3).toString("hex")}`;
  let dir = "";
  let fake: FakeConsole | undefined;
  let bridge: Server | undefined;
  let imds: StandIn | undefined;
  let tokenFile = "";
  let runs = 0;

  async function teardown(): Promise<void> {
    if (imds) {
      imds.proc.stdin.end();
      imds.proc.kill();
      await imds.proc.exited;
      imds = undefined;
    }
    Bun.spawnSync(["ip", "netns", "del", ns], { env: { PATH: SYSTEM_PATH } });
    const b = bridge;
    bridge = undefined;
    if (b) await new Promise<void>((resolve) => b.close(() => resolve()));
    await fake?.stop();
    fake = undefined;
    if (dir) rmSync(dir, { recursive: true, force: true });
  }

  beforeAll(async () => {
    try {
      dir = mkdtempSync(join(tmpdir(), "alpamon-register-netns-"));
      fake = await FakeConsole.start({ tls: true });
      fake.fault({ method: "POST", path: REGISTER_PATH }, { status: 201, body: JSON.stringify({ ...NEW, name: "web-1" }) });
      const port = new URL(fake.url).port;
      // Unix sockets cross network namespaces: the namespace's 127.0.0.1:<port> reaches the fake console through one.
      const socketPath = join(dir, "console.sock");
      bridge = createServer((inner) => {
        const outer = createConnection(Number(port), "127.0.0.1");
        inner.pipe(outer).pipe(inner);
        inner.on("error", () => outer.destroy());
        outer.on("error", () => inner.destroy());
      });
      const b = bridge;
      await new Promise<void>((resolve) => b.listen(socketPath, resolve));
      sh(["ip", "netns", "add", ns]);
      sh(["ip", "-n", ns, "link", "set", "lo", "up"]);
      sh(["ip", "-n", ns, "addr", "add", "169.254.169.254/32", "dev", "lo"]);
      const proc = Bun.spawn(["ip", "netns", "exec", ns, process.execPath, join(import.meta.dir, "fake-imds.ts"), port, socketPath], {
        env: { PATH: SYSTEM_PATH },
        stdin: "pipe",
        stdout: "pipe",
        stderr: "inherit",
      });
      imds = new StandIn(proc);
      await imds.waitReady();
      tokenFile = join(dir, "token");
      writeFileSync(tokenFile, TOKEN, { mode: 0o600 });
    } catch (err) {
      await teardown();
      throw err;
    }
  }, 20_000);

  afterAll(teardown, 20_000);

  /** Runs `alpamon register` in the namespace under `scenario`; kills it past RUN_DEADLINE_MS. */
  async function register(scenario: Scenario, extra: string[] = []): Promise<Run> {
    const standIn = imds!;
    const console_ = fake!;
    await standIn.configure(scenario);
    const seenBefore = standIn.seen.length;
    const bodiesBefore = registerBodies(console_).length;
    const args = [
      "--url",
      console_.url,
      "--token-file",
      tokenFile,
      "--ca-cert",
      console_.caCertPath!,
      "--name",
      "web-1",
      "--no-start",
      "--config",
      join(dir, `run-${++runs}.conf`),
      ...extra,
    ];
    const started = performance.now();
    const proc = Bun.spawn(["ip", "netns", "exec", ns, process.execPath, MAIN, "register", ...args], {
      cwd: "/",
      env: {
        PATH: SYSTEM_PATH,
        HOME: "/nonexistent-home",
        // Nothing listens on port 9 (in the namespace or out of it): a request sent through a proxy would fail.
        HTTP_PROXY: "http://127.0.0.1:9",
        http_proxy: "http://127.0.0.1:9",
        ALL_PROXY: "http://127.0.0.1:9",
        NO_PROXY: "127.0.0.1",
      },
      stdin: "ignore",
      stdout: "pipe",
      stderr: "pipe",
    });
    const killer = setTimeout(() => proc.kill("SIGKILL"), RUN_DEADLINE_MS);
    const [stdout, stderr, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
    clearTimeout(killer);
    const ms = performance.now() - started;
    // Reconfiguring to nothing at all is the marker: every request of the run is logged before its "ok".
    await standIn.configure({ providers: [] });
    const bodies = registerBodies(console_).slice(bodiesBefore);
    const context = `after ${Math.round(ms)} ms, exit ${code}${proc.signalCode ? ` (${proc.signalCode})` : ""}\nstdout:\n${stdout}\nstderr:\n${stderr}`;
    expect(stderr, context).toBe("");
    expect(code, context).toBe(0);
    expect(bodies, context).toHaveLength(1);
    // The IMDSv2 token is a credential: never on the operator's terminal.
    expect(stdout + stderr).not.toContain(AWS_TOKEN_PREFIX);
    const lines = stdout.split("\n");
    return {
      code,
      stdout,
      stderr,
      ms,
      cloudLines: lines.filter((l) => /^(Cloud |No cloud )/.test(l)),
      body: bodies[0]!,
      requests: standIn.seen.slice(seenBefore),
    };
  }

  function registerBodies(fake: FakeConsole) {
    return fake.requests.filter((r) => r.method === "POST" && r.path === REGISTER_PATH).map((r) => r.json as Record<string, unknown>);
  }

  const paths = (run: Run) => run.requests.map((r) => `${r.method} ${r.path}`);

  test(
    "AWS (IMDSv2): the tags reach the console under the operator's --tag values, without a proxy",
    async () => {
      const run = await register({ providers: ["aws"] }, ["--tag", "cloud:region=mine", "--tag", "env=prod"]);
      expect(run.cloudLines).toEqual([`Cloud detected: aws (instance=${AWS.document.instanceId})`]);
      expect(run.body).toEqual({ name: "web-1", platform: expect.any(String), tags: { ...AWS_TAGS, "cloud:region": "mine", env: "prod" } });
      expect(paths(run)).toContain(`PUT ${AWS_TOKEN_PATH}`);
      // The proxy variables were ignored: the stand-in saw the requests, with no proxy header either.
      expect(run.requests.filter((r) => r.path === AWS_DOCUMENT).map((r) => r.headers["x-forwarded-for"])).toEqual([undefined]);
    },
    TEST_TIMEOUT_MS,
  );

  test(
    "GCP: the tags reach the console",
    async () => {
      const run = await register({ providers: ["gcp"] });
      expect(run.cloudLines).toEqual([`Cloud detected: gcp (instance=${GCP["instance/id"]})`]);
      expect(run.body).toEqual({ name: "web-1", platform: expect.any(String), tags: GCP_TAGS });
      expect(
        run.requests.filter((r) => r.path.startsWith("/computeMetadata/")).every((r) => r.headers["metadata-flavor"] === "Google"),
      ).toBe(true);
    },
    TEST_TIMEOUT_MS,
  );

  test(
    "Azure: the tags reach the console, from a document exactly at the 32 KiB cap",
    async () => {
      const run = await register({ providers: ["azure"], padTo: { [AZURE_PATH]: 32 * 1024 } });
      expect(run.cloudLines).toEqual([`Cloud detected: azure (instance=${AZURE.compute.vmId})`]);
      expect(run.body).toEqual({ name: "web-1", platform: expect.any(String), tags: AZURE_TAGS });
      // The probe's answer is the document: asked for once.
      expect(paths(run).filter((p) => p.startsWith("GET /metadata/"))).toEqual([`GET ${AZURE_PATH}`]);
    },
    TEST_TIMEOUT_MS,
  );

  test(
    "a slow fetch (GCP's zone trickles forever): the fetch budget ends it, the tags read before it are kept",
    async () => {
      const run = await register({ providers: ["gcp"], trickle: [GCP_ZONE] });
      expect(run.cloudLines).toEqual([`Cloud detected (partial) for gcp: gcp metadata fetch timed out after ${BUDGETS.fetchMs} ms`]);
      expect(run.body).toEqual({
        name: "web-1",
        platform: expect.any(String),
        tags: { "cloud:provider": "gcp", "cloud:instance_id": GCP["instance/id"] },
      });
      expect(paths(run)).toContain(`GET ${GCP_ZONE}`);
      expect(run.ms).toBeLessThan(BUDGETS.totalMs + SLACK_MS);
    },
    TEST_TIMEOUT_MS,
  );

  test(
    "a slow server (no answer at all): every probe gets its own budget, and register goes on without cloud tags",
    async () => {
      const run = await register({ providers: ["aws", "gcp", "azure"], hang: ["*"] });
      expect(run.cloudLines).toEqual([NONE]);
      expect(run.body).toEqual({ name: "web-1", platform: expect.any(String) });
      // Each provider was asked once, so no probe took the others' time (the order follows the host's DMI hint).
      expect(paths(run).sort()).toEqual([`GET ${GCP_ID}`, `GET ${AZURE_PATH}`, `PUT ${AWS_TOKEN_PATH}`]);
      expect(run.ms).toBeLessThan(BUDGETS.totalMs + SLACK_MS);
    },
    TEST_TIMEOUT_MS,
  );

  test(
    "a redirect (GCP's zone, to where the zone is served) is refused, not followed",
    async () => {
      const moved = `${GCP_ZONE}?moved=1`;
      const run = await register({ providers: ["gcp"], redirect: { [GCP_ZONE]: `http://169.254.169.254${moved}` } });
      expect(run.cloudLines).toEqual([`Cloud detected (partial) for gcp: ${GCP_ZONE}: redirect (HTTP 301) refused`]);
      expect(run.body).toEqual({
        name: "web-1",
        platform: expect.any(String),
        tags: { "cloud:provider": "gcp", "cloud:instance_id": GCP["instance/id"] },
      });
      expect(paths(run)).toContain(`GET ${GCP_ZONE}`);
      expect(paths(run)).not.toContain(`GET ${moved}`);
    },
    TEST_TIMEOUT_MS,
  );

  test(
    "an oversize body (AWS's document one byte over 8 KiB, valid JSON) is refused; the VPC id read besides is kept",
    async () => {
      const run = await register({ providers: ["aws"], padTo: { [AWS_DOCUMENT]: 8 * 1024 + 1 } });
      expect(run.cloudLines).toEqual([`Cloud detected (partial) for aws: ${AWS_DOCUMENT}: response exceeds ${8 * 1024} bytes`]);
      expect(run.body).toEqual({
        name: "web-1",
        platform: expect.any(String),
        tags: { "cloud:provider": "aws", "cloud:network_id": AWS.vpc },
      });
      expect(paths(run)).toContain(`GET ${AWS_DOCUMENT}`);
    },
    TEST_TIMEOUT_MS,
  );

  test(
    "no metadata server (connections refused): a plain registration, without waiting out the probe budgets",
    async () => {
      const run = await register({ providers: [], listen: false });
      expect(run.cloudLines).toEqual([NONE]);
      expect(run.body).toEqual({ name: "web-1", platform: expect.any(String) });
      expect(run.requests).toEqual([]);
      // A refused connection is an answer: detection takes far less than the three probe budgets (2.4 s) it would
      // take if the error were lost. Measured against a run that does not probe, so bun's start does not count.
      const baseline = await register({ providers: [], listen: false }, ["--no-cloud-probe"]);
      expect(run.ms - baseline.ms).toBeLessThan(BUDGETS.probeMs);
    },
    TEST_TIMEOUT_MS,
  );

  test(
    "--no-cloud-probe asks nothing, with every provider answering",
    async () => {
      const run = await register({ providers: ["aws", "gcp", "azure"] }, ["--no-cloud-probe"]);
      expect(run.cloudLines).toEqual(["Cloud detection skipped (--no-cloud-probe)."]);
      expect(run.body).toEqual({ name: "web-1", platform: expect.any(String) });
      expect(run.requests).toEqual([]);
    },
    TEST_TIMEOUT_MS,
  );
});
