// A stand-in for the cloud metadata services on one HTTP server, refusing what the real ones refuse: AWS
// IMDSv2 (token PUT with a TTL header, 401 without the token), GCP (403 without Metadata-Flavor: Google,
// which it also sends back) and Azure (400 without Metadata: true or api-version). Run as a script, it serves
// on 169.254.169.254:80 inside a network namespace and relays a console port to a Unix socket (see main()).
import { createConnection, createServer } from "node:net";
import type { CloudProvider } from "../../src/config/cloud-metadata.ts";

export const AWS = {
  document: {
    instanceId: "i-0abc123def4567890",
    region: "ap-northeast-2",
    availabilityZone: "ap-northeast-2a",
    instanceType: "t3.micro",
    accountId: "123456789012",
    architecture: "x86_64",
  },
  mac: "0a:1b:2c:3d:4e:5f",
  vpc: "vpc-0123456789abcdef0",
};
export const GCP = {
  "instance/id": "4520031799277581759",
  "instance/zone": "projects/123456789/zones/us-central1-a",
  "instance/machine-type": "projects/123456789/machineTypes/e2-medium",
  "instance/network-interfaces/0/network": "projects/123456789/networks/default",
  "project/project-id": "my-project-42",
} as const;
export const AZURE = {
  compute: {
    vmId: "02aab8a4-74ef-476e-8182-f6d2ba4166a6",
    location: "koreacentral",
    zone: "2",
    vmSize: "Standard_D2s_v3",
    subscriptionId: "8d10da13-8125-4ba9-a717-bf7490507b3d",
    osType: "Linux",
  },
  network: { interface: [{ macAddress: "000D3AF806EC", ipv4: { ipAddress: [{ privateIpAddress: "10.0.0.4" }] } }] },
};

export interface SeenRequest {
  method: string;
  path: string;
  headers: Record<string, string>;
}

export interface FakeImdsOptions {
  /** Which services answer (in any order: the address is shared, as in the clouds). */
  providers: CloudProvider[];
  /** Replaces the answer for a path (with its query), e.g. to be slow, redirect or send too much. */
  override?: Record<string, (req: Request) => Response | Promise<Response>>;
  /** GCP without its Metadata-Flavor answer header: something on the address that only pretends to be GCP. */
  gcpOmitsFlavor?: boolean;
}

export const AWS_TOKEN_PREFIX = "AQAEAImdsV2-SECRET-";

/** The request handler for Bun.serve; every request is appended to `seen`. */
export function imdsHandler(options: FakeImdsOptions, seen: SeenRequest[]): (req: Request) => Response | Promise<Response> {
  const tokens = new Set<string>();
  const on = new Set(options.providers);
  return (req) => {
    const url = new URL(req.url);
    const path = url.pathname + url.search;
    seen.push({ method: req.method, path, headers: Object.fromEntries(req.headers) });
    const custom = options.override?.[path];
    if (custom) return custom(req);
    if (on.has("aws") && url.pathname.startsWith("/latest/")) {
      if (req.headers.has("x-forwarded-for")) return new Response("Forbidden", { status: 403 });
      if (url.pathname === "/latest/api/token") {
        if (req.method !== "PUT") return new Response("Method Not Allowed", { status: 405 });
        const ttl = Number(req.headers.get("x-aws-ec2-metadata-token-ttl-seconds"));
        if (!(ttl >= 1 && ttl <= 21600)) return new Response("Bad Request", { status: 400 });
        const token = `${AWS_TOKEN_PREFIX}${crypto.randomUUID()}`;
        tokens.add(token);
        return new Response(token);
      }
      if (req.method !== "GET") return new Response("Method Not Allowed", { status: 405 });
      if (!tokens.has(req.headers.get("x-aws-ec2-metadata-token") ?? "")) return new Response("Unauthorized", { status: 401 });
      const macs = `/latest/meta-data/network/interfaces/macs/${AWS.mac}/vpc-id`;
      if (url.pathname === "/latest/dynamic/instance-identity/document") return Response.json(AWS.document);
      if (url.pathname === "/latest/meta-data/mac") return new Response(AWS.mac);
      if (url.pathname === macs) return new Response(AWS.vpc);
      return new Response("Not Found", { status: 404 });
    }
    if (on.has("gcp") && url.pathname.startsWith("/computeMetadata/v1/")) {
      const flavor = options.gcpOmitsFlavor ? {} : { "Metadata-Flavor": "Google" };
      if (req.headers.get("metadata-flavor") !== "Google" || req.headers.has("x-forwarded-for")) {
        return new Response("Missing Metadata-Flavor:Google header.", { status: 403, headers: flavor });
      }
      const value = GCP[url.pathname.slice("/computeMetadata/v1/".length) as keyof typeof GCP];
      return value
        ? new Response(value, { headers: { ...flavor, "Content-Type": "application/text" } })
        : new Response("", { status: 404, headers: flavor });
    }
    if (on.has("azure") && url.pathname === "/metadata/instance") {
      if (req.headers.get("metadata") !== "true")
        return Response.json({ error: "Bad request. Required metadata header not specified" }, { status: 400 });
      if (!url.searchParams.get("api-version"))
        return Response.json({ error: "Bad request. api-version was not specified" }, { status: 400 });
      return Response.json(AZURE);
    }
    return new Response("Not Found", { status: 404 });
  };
}

export interface FakeImds {
  base: string;
  seen: SeenRequest[];
  stop(): Promise<void>;
}

/** The stand-in on 127.0.0.1 with an ephemeral port; stop() closes open requests too. */
export function startFakeImds(options: FakeImdsOptions): FakeImds {
  const seen: SeenRequest[] = [];
  const server = Bun.serve({ hostname: "127.0.0.1", port: 0, idleTimeout: 0, fetch: imdsHandler(options, seen) });
  return { base: `http://127.0.0.1:${server.port}`, seen, stop: () => server.stop(true) };
}

/**
 * Inside the namespace: `bun fake-imds.ts <providers,csv> <console port> <unix socket>` serves the metadata
 * address on port 80 and relays 127.0.0.1:<console port> to the Unix socket (which the test relays on to the
 * fake console: path sockets cross network namespaces). Prints each request as a JSON line, after "ready".
 */
async function main(): Promise<void> {
  const [providers, consolePort, socketPath] = process.argv.slice(2);
  const seen: SeenRequest[] = [];
  const handler = imdsHandler({ providers: providers!.split(",").filter(Boolean) as CloudProvider[] }, seen);
  Bun.serve({
    hostname: "169.254.169.254",
    port: 80,
    fetch: async (req) => {
      const answer = await handler(req);
      console.log(JSON.stringify(seen.at(-1)));
      return answer;
    },
  });
  const relay = createServer((client) => {
    const upstream = createConnection(socketPath!);
    client.pipe(upstream).pipe(client);
    client.on("error", () => upstream.destroy());
    upstream.on("error", () => client.destroy());
  });
  await new Promise<void>((resolve) => relay.listen(Number(consolePort), "127.0.0.1", resolve));
  console.log("ready");
}

if (import.meta.main) await main();
