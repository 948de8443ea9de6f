// Cloud detection against a real HTTP server standing in for each provider's metadata service (127.0.0.1),
// with a temporary DMI directory: each provider's tags, the headers the real services insist on, the DMI
// probe order, refused redirects, body caps, the probe/fetch/total budgets, no proxy, and no token in output.
import { afterEach, describe, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import {
  type CloudBudgets,
  type CloudDetection,
  classifyDmi,
  DEFAULT_BUDGETS,
  describeDetection,
  detectCloud,
  mergeTags,
  probeOrder,
  readDmiHint,
} from "../../src/config/cloud-metadata.ts";
import { AWS, AWS_TOKEN_PREFIX, AZURE, type FakeImds, type FakeImdsOptions, GCP, startFakeImds } from "./fake-imds.ts";
import { useTempDirs } from "../helpers/tmp.ts";

const tempDir = useTempDirs("alpamon-cloud-");
const servers: FakeImds[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) await s.stop();
});

function imds(options: FakeImdsOptions): FakeImds {
  const server = startFakeImds(options);
  servers.push(server);
  return server;
}

/** A DMI directory holding `files` (none: no hint). */
function dmi(files: Record<string, string> = {}): string {
  const dir = tempDir();
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), `${text}\n`);
  return dir;
}

function detect(server: FakeImds, options: { dmiDir?: string; budgets?: Partial<CloudBudgets> } = {}): Promise<CloudDetection> {
  return detectCloud({ base: server.base, dmiDir: options.dmiDir ?? dmi(), budgets: options.budgets });
}

/** Never answers (until the server stops): a metadata service that has gone quiet. */
const hang = () => new Promise<Response>(() => {});

const AWS_TAGS = {
  "cloud:provider": "aws",
  "cloud:instance_id": AWS.document.instanceId,
  "cloud:region": "ap-northeast-2",
  "cloud:availability_zone": "ap-northeast-2a",
  "cloud:instance_type": "t3.micro",
  "cloud:account_id": "123456789012",
  "cloud:network_id": AWS.vpc,
};
const GCP_TAGS = {
  "cloud:provider": "gcp",
  "cloud:instance_id": GCP["instance/id"],
  "cloud:availability_zone": "us-central1-a",
  "cloud:region": "us-central1",
  "cloud:instance_type": "e2-medium",
  "cloud:network_id": "default",
  "cloud:account_id": "my-project-42",
};
const AZURE_TAGS = {
  "cloud:provider": "azure",
  "cloud:instance_id": AZURE.compute.vmId,
  "cloud:region": "koreacentral",
  "cloud:availability_zone": "2",
  "cloud:instance_type": "Standard_D2s_v3",
  "cloud:account_id": AZURE.compute.subscriptionId,
};

describe("each provider", () => {
  test("AWS: IMDSv2 token PUT with a TTL, then the token on every GET; the token is nowhere in the result", async () => {
    const server = imds({ providers: ["aws"] });
    const d = await detect(server);
    expect(d).toEqual({ outcome: "detected", provider: "aws", tags: AWS_TAGS, instanceId: AWS.document.instanceId });
    expect(describeDetection(d)).toBe(`Cloud detected: aws (instance=${AWS.document.instanceId})`);
    const [probe, again, ...gets] = server.seen;
    for (const put of [probe!, again!]) {
      expect(put.method).toBe("PUT");
      expect(put.path).toBe("/latest/api/token");
      expect(put.headers["x-aws-ec2-metadata-token-ttl-seconds"]).toBe("21600");
    }
    expect(gets.map((r) => [r.method, r.path])).toEqual([
      ["GET", "/latest/dynamic/instance-identity/document"],
      ["GET", "/latest/meta-data/mac"],
      ["GET", `/latest/meta-data/network/interfaces/macs/${AWS.mac}/vpc-id`],
    ]);
    for (const r of gets) expect(r.headers["x-aws-ec2-metadata-token"]).toStartWith(AWS_TOKEN_PREFIX);
    expect(JSON.stringify(d) + describeDetection(d)).not.toContain(AWS_TOKEN_PREFIX);
  });

  test("GCP: Metadata-Flavor: Google sent and required back; zone, region and basenames derived", async () => {
    const server = imds({ providers: ["gcp"] });
    const d = await detect(server);
    expect(d).toEqual({ outcome: "detected", provider: "gcp", tags: GCP_TAGS, instanceId: GCP["instance/id"] });
    const gcp = server.seen.filter((r) => r.path.startsWith("/computeMetadata/"));
    expect(gcp.length).toBeGreaterThanOrEqual(6);
    for (const r of gcp) expect(r.headers["metadata-flavor"]).toBe("Google");
    // AWS was asked first (no DMI hint) and said no.
    expect(server.seen[0]!.path).toBe("/latest/api/token");
  });

  test("Azure: Metadata: true and the api-version; no network id", async () => {
    const server = imds({ providers: ["azure"] });
    const d = await detect(server);
    expect(d).toEqual({ outcome: "detected", provider: "azure", tags: AZURE_TAGS, instanceId: AZURE.compute.vmId });
    const azure = server.seen.filter((r) => r.path.startsWith("/metadata/"));
    expect(azure.map((r) => r.path)).toEqual(["/metadata/instance?api-version=2021-02-01"]);
    expect(azure[0]!.headers.metadata).toBe("true");
  });

  test("nothing answering as a provider is 'no cloud'; an unreachable address too", async () => {
    const server = imds({ providers: [] });
    const d = await detect(server);
    expect(d).toEqual({ outcome: "none" });
    expect(describeDetection(d)).toBe("No cloud provider detected; registering as plain server.");
    expect(server.seen.map((r) => r.method + r.path)).toEqual([
      "PUT/latest/api/token",
      "GET/computeMetadata/v1/instance/id",
      "GET/metadata/instance?api-version=2021-02-01",
    ]);
    const closed = startFakeImds({ providers: ["aws"] });
    await closed.stop();
    expect(await detect(closed)).toEqual({ outcome: "none" });
  });
});

describe("answers the real services would not give are refused", () => {
  test("a GCP look-alike that does not send Metadata-Flavor: Google back is not GCP", async () => {
    const server = imds({ providers: ["gcp"], gcpOmitsFlavor: true });
    expect(await detect(server)).toEqual({ outcome: "none" });
  });

  test("IMDSv1 only (no token endpoint) or an empty token is not AWS", async () => {
    const v1 = imds({ providers: ["aws"], override: { "/latest/api/token": () => new Response("Forbidden", { status: 403 }) } });
    expect(await detect(v1)).toEqual({ outcome: "none" });
    const empty = imds({ providers: ["aws"], override: { "/latest/api/token": () => new Response("  \n") } });
    expect(await detect(empty)).toEqual({ outcome: "none" });
  });

  test("a redirect is a failure and is never followed (probe and fetch alike)", async () => {
    let base = "";
    const moved = (status: number) => () => new Response(null, { status, headers: { Location: `${base}/elsewhere` } });
    const probe = imds({ providers: ["gcp"], override: { "/latest/api/token": moved(307) } });
    base = probe.base;
    const d = await detect(probe);
    expect(d.outcome).toBe("detected"); // AWS's redirect was a "no"; GCP answered next
    expect(d.outcome === "detected" && d.provider).toBe("gcp");
    expect(probe.seen.some((r) => r.path === "/elsewhere")).toBe(false);

    const fetch = imds({ providers: ["aws"], override: { "/latest/dynamic/instance-identity/document": moved(302) } });
    base = fetch.base;
    const partial = await detect(fetch);
    expect(partial.outcome).toBe("partial");
    expect(partial.outcome === "partial" && partial.error).toContain("redirect (HTTP 302) refused");
    expect(fetch.seen.some((r) => r.path === "/elsewhere")).toBe(false);
  });

  test("values that are not printable text are refused; a malformed MAC is never put in a path", async () => {
    const server = imds({
      providers: ["aws"],
      override: {
        "/latest/dynamic/instance-identity/document": () => Response.json({ ...AWS.document, region: "eu\u001b[31m" }),
        "/latest/meta-data/mac": () => new Response("../../../latest/api/token"),
      },
    });
    const d = await detect(server);
    expect(d.outcome).toBe("partial");
    expect(d.outcome === "partial" && d.error).toContain("region");
    expect(d.outcome === "partial" && d.tags).toEqual({ "cloud:provider": "aws" });
    // Nothing after the MAC: its value never became a path.
    expect(server.seen.map((r) => r.path)).toEqual([
      "/latest/api/token",
      "/latest/api/token",
      "/latest/dynamic/instance-identity/document",
      "/latest/meta-data/mac",
    ]);
  });

  test("an empty AWS instance id keeps the partial tags and says so", async () => {
    const server = imds({
      providers: ["aws"],
      override: { "/latest/dynamic/instance-identity/document": () => Response.json({ ...AWS.document, instanceId: "" }) },
    });
    const d = await detect(server);
    expect(d).toEqual({
      outcome: "partial",
      provider: "aws",
      tags: Object.fromEntries(Object.entries(AWS_TAGS).filter(([k]) => k !== "cloud:instance_id")),
      error: "aws: empty instance id",
    });
    expect(describeDetection(d)).toBe("Cloud detected (partial) for aws: aws: empty instance id");
  });
});

describe("body caps (AWS 8 KiB, GCP 4 KiB, Azure 32 KiB)", () => {
  test("a declared length over the cap is refused", async () => {
    const big = (n: number) => () => new Response("x".repeat(n));
    const aws = imds({ providers: ["aws"], override: { "/latest/dynamic/instance-identity/document": big(8 * 1024 + 1) } });
    const d = await detect(aws);
    expect(d.outcome === "partial" && d.error).toBe("/latest/dynamic/instance-identity/document: response exceeds 8192 bytes");
    const gcp = imds({ providers: ["gcp"], override: { "/computeMetadata/v1/instance/id": big(4 * 1024 + 1) } });
    expect(await detect(gcp)).toEqual({ outcome: "none" });
    const azure = imds({ providers: ["azure"], override: { "/metadata/instance?api-version=2021-02-01": big(32 * 1024 + 1) } });
    expect(await detect(azure)).toEqual({ outcome: "none" });
    // Just under the cap is fine.
    const fits = JSON.stringify({ ...AZURE, pad: "y".repeat(30 * 1024) });
    const ok = imds({ providers: ["azure"], override: { "/metadata/instance?api-version=2021-02-01": () => new Response(fits) } });
    expect((await detect(ok)).outcome).toBe("detected");
  });

  test("a streamed body with no length is cut at the cap while it is still arriving", async () => {
    // 12 KiB, then the stream stays open: only the cap (not a budget) can end this read.
    const endless = () =>
      new Response(
        new ReadableStream({
          start(ctl) {
            for (let i = 0; i < 12; i++) ctl.enqueue(new Uint8Array(1024).fill(0x61));
          },
        }),
      );
    const server = imds({ providers: ["aws"], override: { "/latest/dynamic/instance-identity/document": endless } });
    const started = performance.now();
    const d = await detect(server, { budgets: { fetchMs: 10_000, totalMs: 20_000 } });
    expect(d.outcome === "partial" && d.error).toBe("/latest/dynamic/instance-identity/document: response exceeds 8192 bytes");
    expect(performance.now() - started).toBeLessThan(5_000);
  });
});

describe("budgets", () => {
  test("a silent probe costs the probe budget, then the next provider answers", async () => {
    const server = imds({ providers: ["gcp"], override: { "/latest/api/token": hang } });
    const started = performance.now();
    const d = await detect(server, { budgets: { probeMs: 200 } });
    const took = performance.now() - started;
    expect(d.outcome === "detected" && d.provider).toBe("gcp");
    expect(took).toBeGreaterThanOrEqual(190);
    expect(took).toBeLessThan(DEFAULT_BUDGETS.probeMs + 1_000);
  });

  test("a fetch that stalls ends at the fetch budget with the tags read so far", async () => {
    const server = imds({ providers: ["gcp"], override: { "/computeMetadata/v1/project/project-id": hang } });
    const started = performance.now();
    const d = await detect(server, { budgets: { fetchMs: 300 } });
    const took = performance.now() - started;
    expect(d).toEqual({
      outcome: "partial",
      provider: "gcp",
      tags: Object.fromEntries(Object.entries(GCP_TAGS).filter(([k]) => k !== "cloud:account_id")),
      error: "gcp metadata fetch timed out after 300 ms",
    });
    expect(took).toBeGreaterThanOrEqual(290);
    expect(took).toBeLessThan(DEFAULT_BUDGETS.fetchMs);
  });

  test("the total budget ends detection even while probes are still within theirs", async () => {
    const server = imds({
      providers: [],
      override: {
        "/latest/api/token": hang,
        "/computeMetadata/v1/instance/id": hang,
        "/metadata/instance?api-version=2021-02-01": hang,
      },
    });
    const started = performance.now();
    const d = await detect(server, { budgets: { probeMs: 400, totalMs: 600 } });
    const took = performance.now() - started;
    expect(d).toEqual({ outcome: "error", error: "cloud detection timed out after 600 ms" });
    expect(describeDetection(d)).toBe("Cloud detection error: cloud detection timed out after 600 ms (continuing without cloud tags)");
    expect(took).toBeGreaterThanOrEqual(590);
    expect(took).toBeLessThan(780); // the second probe is cut short: two whole probes would take 800 ms
    expect(server.seen.map((r) => r.path)).not.toContain("/metadata/instance?api-version=2021-02-01");
  });

  test("the total budget also bounds a fetch (partial, not a hang)", async () => {
    const server = imds({ providers: ["aws"], override: { "/latest/meta-data/mac": hang } });
    const d = await detect(server, { budgets: { fetchMs: 5_000, totalMs: 400 } });
    expect(d.outcome === "partial" && d.error).toBe("cloud detection timed out after 400 ms");
    expect(d.outcome === "partial" && d.tags["cloud:instance_id"]).toBe(AWS.document.instanceId);
  });
});

describe("DMI hint", () => {
  test("the hinted provider is probed first; without a hint the order is AWS, GCP, Azure", async () => {
    const all = imds({ providers: ["aws", "gcp", "azure"] });
    const plain = await detect(all, { dmiDir: dmi({ sys_vendor: "QEMU" }) });
    expect(plain.outcome === "detected" && plain.provider).toBe("aws");

    const azure = imds({ providers: ["aws", "gcp", "azure"] });
    const hinted = await detect(azure, { dmiDir: dmi({ sys_vendor: "Microsoft Corporation", chassis_asset_tag: "7783-7084" }) });
    expect(hinted.outcome === "detected" && hinted.provider).toBe("azure");
    expect(azure.seen.map((r) => r.path)).toEqual(["/metadata/instance?api-version=2021-02-01"]);

    const gcp = imds({ providers: ["aws", "gcp", "azure"] });
    const google = await detect(gcp, { dmiDir: dmi({ sys_vendor: "QEMU", board_vendor: "Google" }) });
    expect(google.outcome === "detected" && google.provider).toBe("gcp");
    expect(gcp.seen[0]!.path).toBe("/computeMetadata/v1/instance/id");
  });

  test("files are read in order and the first that classifies wins", () => {
    expect(readDmiHint(dmi())).toBe("");
    expect(readDmiHint(join(tempDir(), "missing"))).toBe("");
    expect(readDmiHint(dmi({ sys_vendor: "Xen", chassis_asset_tag: "Amazon EC2", bios_vendor: "Google" }))).toBe("aws");
    expect(readDmiHint(dmi({ bios_vendor: "Google", board_vendor: "Microsoft Corporation" }))).toBe("azure");
    expect(classifyDmi("  Amazon EC2 ")).toBe("aws");
    expect(classifyDmi("AWS")).toBe("aws");
    expect(classifyDmi("Google Compute Engine")).toBe("gcp");
    expect(classifyDmi("Microsoft Corporation")).toBe("azure");
    expect(classifyDmi("Microsoft")).toBe("");
    expect(classifyDmi("innotek GmbH")).toBe("");
    expect(probeOrder("")).toEqual(["aws", "gcp", "azure"]);
    expect(probeOrder("azure")).toEqual(["azure", "aws", "gcp"]);
  });
});

describe("no proxy", () => {
  test("HTTP_PROXY, http_proxy and ALL_PROXY are ignored (while Bun's fetch would use them)", async () => {
    const proxied: string[] = [];
    const proxy = Bun.serve({
      hostname: "127.0.0.1",
      port: 0,
      fetch: (req) => {
        proxied.push(req.url);
        return new Response("proxy", { status: 502 });
      },
    });
    const names = ["HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy", "NO_PROXY", "no_proxy"] as const;
    const saved = names.map((n) => [n, process.env[n]] as const);
    try {
      for (const n of names) delete process.env[n];
      for (const n of names.slice(0, 4)) process.env[n] = `http://127.0.0.1:${proxy.port}`;
      const server = imds({ providers: ["aws"] });
      // Control: the environment really does route plain fetch through the proxy.
      expect((await fetch(`${server.base}/latest/meta-data/mac`)).status).toBe(502);
      expect(proxied).toHaveLength(1);
      const d = await detect(server);
      expect(d.outcome === "detected" && d.provider).toBe("aws");
      expect(proxied).toHaveLength(1);
    } finally {
      for (const [n, value] of saved) {
        if (value === undefined) delete process.env[n];
        else process.env[n] = value;
      }
      await proxy.stop(true);
    }
  });
});

test("user tags win over cloud tags with the same key", () => {
  expect(mergeTags(AWS_TAGS, { "cloud:region": "mine", env: "prod" })).toEqual({ ...AWS_TAGS, "cloud:region": "mine", env: "prod" });
  expect(describeDetection("skipped")).toBe("Cloud detection skipped (--no-cloud-probe).");
  expect(describeDetection({ outcome: "detected", provider: "gcp", tags: {}, instanceId: "" })).toBe("Cloud detected: gcp");
});
