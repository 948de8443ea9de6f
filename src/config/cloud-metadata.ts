// Cloud tags for `alpamon register` (upstream #304): asks the instance metadata service (AWS IMDSv2, GCP,
// Azure) which instance this is. Talks plain HTTP to the metadata address only: never through a proxy, never
// following a redirect, with capped bodies and budgets. The IMDSv2 token is a credential: never logged or returned.
import { readFileSync } from "node:fs";
import { type IncomingHttpHeaders, request } from "node:http";
import { join } from "node:path";
import * as v from "valibot";

export type CloudProvider = "aws" | "gcp" | "azure";

const PROVIDERS: readonly CloudProvider[] = ["aws", "gcp", "azure"];
export const IMDS_BASE = "http://169.254.169.254";
export const DMI_DIR = "/sys/class/dmi/id";
/** Read in this order; the first that names a provider decides which one is probed first. */
const DMI_FILES = ["sys_vendor", "chassis_asset_tag", "board_vendor", "bios_vendor"] as const;

export interface CloudBudgets {
  /** Each provider's probe. */
  probeMs: number;
  /** The fetch after a positive probe (every request of it together). */
  fetchMs: number;
  /** The whole detection. */
  totalMs: number;
}
export const DEFAULT_BUDGETS: CloudBudgets = { probeMs: 800, fetchMs: 2_000, totalMs: 5_000 };
/** A single request never outlives this margin over the fetch budget, whatever the stage. */
const REQUEST_MARGIN_MS = 500;
const BODY_CAP: Record<CloudProvider, number> = { aws: 8 * 1024, gcp: 4 * 1024, azure: 32 * 1024 };

export interface CloudProbeOptions {
  /** http://host[:port] of the metadata service; tests point it at a local stand-in. */
  base?: string;
  /** Where the DMI identity files are (an empty or missing directory gives no hint). */
  dmiDir?: string;
  budgets?: Partial<CloudBudgets>;
}

export type CloudDetection =
  /** instanceId is "" when the provider gave none (only AWS treats that as an error). */
  | { outcome: "detected"; provider: CloudProvider; tags: Record<string, string>; instanceId: string }
  /** The probe was positive but the fetch failed part way: the tags gathered so far are kept. */
  | { outcome: "partial"; provider: CloudProvider; tags: Record<string, string>; error: string }
  | { outcome: "none" }
  /** The overall budget ran out before any provider answered. */
  | { outcome: "error"; error: string };

class ImdsError extends Error {
  override name = "ImdsError";
}

// Values become tags shown in the console and a line on the operator's terminal: printable ASCII only, bounded.
const TagValue = v.pipe(v.string(), v.trim(), v.maxLength(256, "value too long"), v.regex(/^[\x20-\x7e]*$/, "value not printable"));
const optionalValue = v.optional(TagValue, "");
const AwsDocument = v.object({
  instanceId: optionalValue,
  region: optionalValue,
  availabilityZone: optionalValue,
  instanceType: optionalValue,
  accountId: optionalValue,
});
const AzureInstance = v.object({
  compute: v.object({
    vmId: optionalValue,
    location: optionalValue,
    zone: optionalValue,
    vmSize: optionalValue,
    subscriptionId: optionalValue,
  }),
});
const MAC = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/i;

/** Which provider DMI text points at ("" when none): conservative, so a miss only costs the probe order. */
export function classifyDmi(text: string): CloudProvider | "" {
  const value = text.trim().toLowerCase();
  if (value.includes("amazon") || value.includes("aws")) return "aws";
  if (value.includes("google")) return "gcp";
  if (value.includes("microsoft corporation")) return "azure";
  return "";
}

/** The provider the DMI files hint at, from the first file that names one. */
export function readDmiHint(dmiDir: string): CloudProvider | "" {
  for (const file of DMI_FILES) {
    let text: string;
    try {
      text = readFileSync(join(dmiDir, file), "utf8");
    } catch {
      continue;
    }
    const hint = classifyDmi(text);
    if (hint) return hint;
  }
  return "";
}

/** AWS, GCP, Azure, with the hinted provider moved to the front. */
export function probeOrder(hint: CloudProvider | ""): CloudProvider[] {
  return hint ? [hint, ...PROVIDERS.filter((p) => p !== hint)] : [...PROVIDERS];
}

/** Budget signals carry the message of the budget that ran out. */
function budget(ms: number, what: string): { signal: AbortSignal; clear: () => void } {
  const ctl = new AbortController();
  const timer = setTimeout(() => ctl.abort(new ImdsError(`${what} timed out after ${ms} ms`)), ms);
  timer.unref?.();
  return { signal: ctl.signal, clear: () => clearTimeout(timer) };
}

interface ImdsAnswer {
  headers: IncomingHttpHeaders;
  body: string;
}

interface Client {
  get(path: string, headers: Record<string, string>, signal: AbortSignal, method?: "GET" | "PUT"): Promise<ImdsAnswer>;
}

/**
 * node:http, not fetch: Bun's fetch applies HTTP_PROXY/ALL_PROXY from the environment and has no way to turn
 * that off per request. node:http never uses a proxy and never follows a redirect; a 3xx fails here.
 */
function imdsClient(base: URL, cap: number, requestMs: number): Client {
  return {
    get(path, headers, outer, method = "GET") {
      const { signal, clear } = budget(requestMs, "metadata request");
      const both = AbortSignal.any([outer, signal]);
      return new Promise<ImdsAnswer>((resolve, reject) => {
        let done = false;
        const finish = (error: Error | undefined, answer?: ImdsAnswer) => {
          if (done) return;
          done = true;
          clear();
          both.removeEventListener("abort", onAbort);
          req.destroy();
          if (error) reject(error);
          else resolve(answer!);
        };
        const onAbort = () => finish(both.reason instanceof Error ? both.reason : new ImdsError("metadata request aborted"));
        const req = request(
          {
            host: base.hostname,
            port: base.port || 80,
            method,
            path,
            headers: { ...headers, Connection: "close" },
            agent: false,
          },
          (res) => {
            const status = res.statusCode ?? 0;
            if (status >= 300 && status < 400) return finish(new ImdsError(`${path}: redirect (HTTP ${status}) refused`));
            if (status !== 200) return finish(new ImdsError(`${path}: HTTP ${status}`));
            // Counted as it arrives (a declared length can lie, and a stream need not end).
            const chunks: Buffer[] = [];
            let size = 0;
            res.on("data", (chunk: Buffer) => {
              size += chunk.length;
              if (size > cap) finish(new ImdsError(`${path}: response exceeds ${cap} bytes`));
              else chunks.push(chunk);
            });
            res.on("end", () => finish(undefined, { headers: res.headers, body: Buffer.concat(chunks).toString("utf8") }));
            res.on("error", (err) => finish(err));
          },
        );
        req.on("error", (err) => finish(new ImdsError(`${path}: ${err.message}`)));
        if (both.aborted) return onAbort();
        both.addEventListener("abort", onAbort, { once: true });
        req.end();
      });
    },
  };
}

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

function basename(value: string): string {
  return value.slice(value.lastIndexOf("/") + 1);
}

function tagValue(raw: string): string {
  const parsed = v.safeParse(TagValue, raw);
  if (!parsed.success) throw new ImdsError(`unusable value: ${parsed.issues[0].message}`);
  return parsed.output;
}

/** A parsed JSON document, or an ImdsError naming the first problem (never the value). */
function parseDocument<T extends v.GenericSchema>(schema: T, text: string, what: string): v.InferOutput<T> {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new ImdsError(`${what} is not JSON`);
  }
  const parsed = v.safeParse(schema, json);
  if (!parsed.success) {
    const issue = parsed.issues[0];
    throw new ImdsError(`${what}: ${v.getDotPath(issue) ?? "document"}: ${issue.message}`);
  }
  return parsed.output;
}

interface Fields {
  instance_id?: string;
  region?: string;
  availability_zone?: string;
  instance_type?: string;
  network_id?: string;
  account_id?: string;
}

interface Provider {
  /** True when this provider's metadata service answers as only it would. */
  probe(signal: AbortSignal): Promise<boolean>;
  /** Fills `fields` as it goes, so a failure part way still leaves what was read. */
  fetch(fields: Fields, signal: AbortSignal): Promise<void>;
}

const AWS_TTL = { "X-aws-ec2-metadata-token-ttl-seconds": "21600" };

function awsProvider(client: Client): Provider {
  const token = async (signal: AbortSignal) => {
    const answer = await client.get("/latest/api/token", AWS_TTL, signal, "PUT");
    const value = answer.body.trim();
    if (!value) throw new ImdsError("aws: empty IMDSv2 token");
    return value;
  };
  return {
    probe: async (signal) => !!(await token(signal)),
    async fetch(fields, signal) {
      const auth = { "X-aws-ec2-metadata-token": await token(signal) };
      const text = async (path: string) => (await client.get(path, auth, signal)).body.trim();
      let documentError: string | undefined;
      try {
        const doc = parseDocument(AwsDocument, await text("/latest/dynamic/instance-identity/document"), "identity document");
        Object.assign(fields, {
          instance_id: doc.instanceId,
          region: doc.region,
          availability_zone: doc.availabilityZone,
          instance_type: doc.instanceType,
          account_id: doc.accountId,
        });
      } catch (err) {
        if (signal.aborted) throw err;
        documentError = message(err);
      }
      // The VPC id is best effort: two more hops, and the console matches on the instance id.
      try {
        const mac = await text("/latest/meta-data/mac");
        if (MAC.test(mac))
          fields.network_id = tagValue(await text(`/latest/meta-data/network/interfaces/macs/${mac.toLowerCase()}/vpc-id`));
      } catch (err) {
        if (signal.aborted) throw err;
      }
      if (documentError) throw new ImdsError(documentError);
      // The instance id is what the console matches on: without it the tags are marked partial.
      if (!fields.instance_id) throw new ImdsError("aws: empty instance id");
    },
  };
}

const GCP_FLAVOR = { "Metadata-Flavor": "Google" };

function gcpProvider(client: Client): Provider {
  const get = async (path: string, signal: AbortSignal) => {
    const answer = await client.get(`/computeMetadata/v1/${path}`, GCP_FLAVOR, signal);
    // The real server always says who it is; anything else on this address is not GCP.
    if (answer.headers["metadata-flavor"] !== "Google") throw new ImdsError(`${path}: no Metadata-Flavor: Google in the answer`);
    return tagValue(answer.body);
  };
  return {
    probe: async (signal) => !!(await get("instance/id", signal)),
    async fetch(fields, signal) {
      fields.instance_id = await get("instance/id", signal);
      const zone = basename(await get("instance/zone", signal));
      fields.availability_zone = zone;
      fields.region = /^(.+)-[^-]$/.exec(zone)?.[1] ?? "";
      fields.instance_type = basename(await get("instance/machine-type", signal));
      fields.network_id = basename(await get("instance/network-interfaces/0/network", signal));
      fields.account_id = await get("project/project-id", signal);
    },
  };
}

const AZURE_PATH = "/metadata/instance?api-version=2021-02-01";

function azureProvider(client: Client): Provider {
  // The probe is the fetch's own call; its answer is kept rather than asked for twice.
  let probed: string | undefined;
  return {
    async probe(signal) {
      probed = (await client.get(AZURE_PATH, { Metadata: "true" }, signal)).body;
      return true;
    },
    async fetch(fields, signal) {
      const body = probed ?? (await client.get(AZURE_PATH, { Metadata: "true" }, signal)).body;
      const { compute } = parseDocument(AzureInstance, body, "instance document");
      Object.assign(fields, {
        instance_id: compute.vmId,
        region: compute.location,
        availability_zone: compute.zone,
        instance_type: compute.vmSize,
        account_id: compute.subscriptionId,
      });
    },
  };
}

const MAKERS: Record<CloudProvider, (client: Client) => Provider> = { aws: awsProvider, gcp: gcpProvider, azure: azureProvider };

function toTags(provider: CloudProvider, fields: Fields): Record<string, string> {
  const tags: Record<string, string> = { "cloud:provider": provider };
  for (const [key, value] of Object.entries(fields)) if (value) tags[`cloud:${key}`] = value;
  return tags;
}

/**
 * Probes AWS, GCP and Azure (the DMI-hinted one first); the first positive probe is fetched and there is no
 * fallthrough after it. Never throws: every failure is an outcome for the caller to print.
 */
export async function detectCloud(options: CloudProbeOptions = {}): Promise<CloudDetection> {
  const budgets = { ...DEFAULT_BUDGETS, ...options.budgets };
  const base = new URL(options.base ?? IMDS_BASE);
  if (base.protocol !== "http:") return { outcome: "error", error: `metadata address ${base.origin} is not http://` };
  const total = budget(budgets.totalMs, "cloud detection");
  try {
    for (const name of probeOrder(readDmiHint(options.dmiDir ?? DMI_DIR))) {
      if (total.signal.aborted) break;
      const provider = MAKERS[name](imdsClient(base, BODY_CAP[name], budgets.fetchMs + REQUEST_MARGIN_MS));
      const probe = budget(budgets.probeMs, `${name} probe`);
      const positive = await provider
        .probe(AbortSignal.any([total.signal, probe.signal]))
        .catch(() => false)
        .finally(probe.clear);
      if (!positive) continue;
      const fields: Fields = {};
      const fetch = budget(budgets.fetchMs, `${name} metadata fetch`);
      try {
        await provider.fetch(fields, AbortSignal.any([total.signal, fetch.signal]));
      } catch (err) {
        return { outcome: "partial", provider: name, tags: toTags(name, fields), error: message(err) };
      } finally {
        fetch.clear();
      }
      return { outcome: "detected", provider: name, tags: toTags(name, fields), instanceId: fields.instance_id ?? "" };
    }
    if (total.signal.aborted) return { outcome: "error", error: message(total.signal.reason) };
    return { outcome: "none" };
  } finally {
    total.clear();
  }
}

/** The line the operator sees for an outcome (upstream's wording, so runbooks keep matching). */
export function describeDetection(d: CloudDetection | "skipped"): string {
  if (d === "skipped") return "Cloud detection skipped (--no-cloud-probe).";
  switch (d.outcome) {
    case "detected":
      return d.instanceId ? `Cloud detected: ${d.provider} (instance=${d.instanceId})` : `Cloud detected: ${d.provider}`;
    case "partial":
      return `Cloud detected (partial) for ${d.provider}: ${d.error}`;
    case "none":
      return "No cloud provider detected; registering as plain server.";
    case "error":
      return `Cloud detection error: ${d.error} (continuing without cloud tags)`;
  }
}

/** Cloud tags under the operator's `--tag` values: on the same key the operator wins. */
export function mergeTags(cloud: Record<string, string>, user: Record<string, string>): Record<string, string> {
  return { ...cloud, ...user };
}
