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
 * What the stand-in in the namespace does for one scenario. It is plain data: the test sends it to the helper
 * process (main() below) as a JSON line.
 */
export interface Scenario {
  /** Which services answer. */
  providers: CloudProvider[];
  /** false: nothing listens on the metadata address (connections are refused). */
  listen?: boolean;
  /** Paths (with their query) that never answer; "*" for every path. */
  hang?: string[];
  /** Paths answered 200 at once, then one byte every 100 ms, never ending: slow, but never idle. */
  trickle?: string[];
  /** Path → Location: answered with a 301 there. */
  redirect?: Record<string, string>;
  /** Path → size in bytes: the usual answer, padded with trailing spaces (valid JSON still) to that size. */
  padTo?: Record<string, number>;
}

/** The handler for a scenario; `log` gets every request as it arrives. `release` ends what is left hanging. */
export function scenarioHandler(scenario: Scenario, log: (seen: SeenRequest) => void) {
  const seen: SeenRequest[] = [];
  const inner = imdsHandler({ providers: scenario.providers }, seen);
  const open = new Set<() => void>();
  const handler = async (req: Request): Promise<Response> => {
    const url = new URL(req.url);
    const path = url.pathname + url.search;
    log({ method: req.method, path, headers: Object.fromEntries(req.headers) });
    if (scenario.hang?.includes("*") || scenario.hang?.includes(path)) {
      return new Promise<Response>((resolve) => {
        const end = () => resolve(new Response(null, { status: 503 }));
        open.add(end);
        req.signal.addEventListener("abort", end, { once: true });
      });
    }
    if (scenario.trickle?.includes(path)) {
      let timer: ReturnType<typeof setInterval> | undefined;
      const stop = () => clearInterval(timer);
      const body = new ReadableStream<Uint8Array>({
        start(controller) {
          const byte = new Uint8Array([0x61]);
          controller.enqueue(byte);
          timer = setInterval(() => {
            try {
              controller.enqueue(byte);
            } catch {
              stop();
            }
          }, 100);
          open.add(() => {
            stop();
            controller.close();
          });
        },
        cancel: stop,
      });
      return new Response(body, { headers: { "Metadata-Flavor": "Google", "Content-Type": "application/text" } });
    }
    const location = scenario.redirect?.[path];
    if (location) return new Response(null, { status: 301, headers: { Location: location } });
    const answer = await inner(req);
    const size = scenario.padTo?.[path];
    if (size === undefined) return answer;
    const text = await answer.text();
    return new Response(text.padEnd(size, " "), {
      status: answer.status,
      headers: { "Content-Type": answer.headers.get("content-type") ?? "text/plain" },
    });
  };
  const release = () => {
    for (const end of open) {
      try {
        end();
      } catch {
        // already closed by the client
      }
    }
    open.clear();
  };
  return { handler, release };
}

/**
 * Inside the namespace: `bun fake-imds.ts <console port> <unix socket>` relays 127.0.0.1:<console port> to the
 * Unix socket (which the test relays on to the fake console: path sockets cross network namespaces) and serves
 * the metadata address on port 80 as the scenario read from stdin says. Stdout carries JSON lines: {"ready":true}
 * once, {"seen":<request>} as each request arrives, and {"ok":<id>} once a scenario {"id":<id>,"scenario":{...}}
 * is in force. Requests are logged before they are answered, so every request answered before a scenario line
 * was sent is logged before its "ok". Exits when stdin closes.
 */
async function main(): Promise<void> {
  const [consolePort, socketPath] = process.argv.slice(2);
  const log = (seen: SeenRequest) => console.log(JSON.stringify({ seen }));
  let current = scenarioHandler({ providers: [] }, log);
  let server: ReturnType<typeof Bun.serve> | undefined;
  const relay = createServer((client) => {
    const upstream = createConnection(socketPath!);
    client.pipe(upstream).pipe(client);
    client.on("error", () => upstream.destroy());
    upstream.on("error", () => client.destroy());
  });
  await new Promise<void>((resolve) => relay.listen(Number(consolePort), "127.0.0.1", resolve));
  console.log(JSON.stringify({ ready: true }));
  for await (const line of console) {
    if (!line.trim()) continue;
    const { id, scenario } = JSON.parse(line) as { id: number; scenario: Scenario };
    current.release();
    current = scenarioHandler(scenario, log);
    if (scenario.listen === false) {
      await server?.stop(true);
      server = undefined;
    } else {
      server ??= Bun.serve({ hostname: "169.254.169.254", port: 80, idleTimeout: 0, fetch: (req) => current.handler(req) });
    }
    console.log(JSON.stringify({ ok: id }));
  }
  await server?.stop(true);
  process.exit(0);
}

if (import.meta.main) await main();
