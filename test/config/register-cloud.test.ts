// `alpamon register` with cloud tags: the registration body carries the metadata service's tags under the
// operator's --tag values, and --no-cloud-probe asks nothing. The real CLI against the real default address
// 169.254.169.254, in a private network namespace, is in register-cloud-netns.test.ts.
import { afterEach, describe, expect, test } from "bun:test";
import { join } from "node:path";
import { REGISTER_PATH, runRegister } from "../../src/config/register.ts";
import { detectPlatform } from "../../src/platform/os-release.ts";
import { FakeConsole } from "../console/fake-console.ts";
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

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function fakeConsole(): Promise<FakeConsole> {
  const fake = await FakeConsole.start();
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
