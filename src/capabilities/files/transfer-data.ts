// Data schemas of openftp, download and upload (core.md §4.3, sessions.md §2-§3, both dialects) and the
// shared helpers: the user a transfer runs as, the stat path, and how a bad field is worded.
import * as v from "valibot";
import { parseData as parseCommandData } from "../../commands/contract.ts";
import type { IdentityResult } from "../../exec/identity.ts";

const text = (field: string) => v.string(`${field} must be a string`);
const optionalText = (field: string) => v.optional(v.nullable(text(field)));
const optionalFlag = (field: string) => v.optional(v.nullable(v.boolean(`${field} must be true or false`)));

export const OpenFtpData = v.object({
  session_id: v.pipe(text("session_id"), v.nonEmpty("session_id is required")),
  url: v.pipe(text("url"), v.nonEmpty("url is required")),
  username: optionalText("username"),
  groupname: optionalText("groupname"),
  // Validated by the reference but never used: the home comes from passwd. The 2024 console may send null.
  home_directory: v.optional(v.unknown()),
});

const ContentType = v.picklist(["url", "text", "base64"], "type must be url, text or base64");

const DownloadItem = v.object({
  username: optionalText("files[].username"),
  groupname: optionalText("files[].groupname"),
  type: v.optional(v.nullable(ContentType)),
  content: v.optional(v.nullable(text("content")), ""),
  path: optionalText("path"),
  allow_overwrite: optionalFlag("allow_overwrite"),
  allow_unzip: optionalFlag("allow_unzip"),
  url: optionalText("url"),
});
export type DownloadItem = v.InferOutput<typeof DownloadItem>;

export const DownloadData = v.object({
  ...DownloadItem.entries,
  files: v.optional(v.nullable(v.array(DownloadItem, "files must be a list"))),
});

export const UploadData = v.object({
  username: optionalText("username"),
  groupname: optionalText("groupname"),
  paths: v.optional(v.nullable(v.array(text("paths[]"), "paths must be a list of strings"))),
  content: v.pipe(text("content"), v.nonEmpty("content (the upload URL) is required")),
  use_blob: optionalFlag("use_blob"),
  url: optionalText("url"),
  type: v.optional(v.unknown()),
});

/** How a file command's data failure is worded: `<command>: Not enough information. <first problem>`. */
export const notEnoughInformation = (command: string) => ({ prefix: `${command}: Not enough information. `, style: "first" }) as const;

/** For a command that checks its own data (openftp): the dispatcher's formatter, with the file commands' wording. */
export function parseData<T extends v.GenericSchema>(
  command: string,
  schema: T,
  data: unknown,
): { ok: true; data: v.InferOutput<T> } | { ok: false; error: string } {
  return parseCommandData(schema, data, notEnoughInformation(command));
}

export type ResolveIdentity = (user: string, group: string | null | undefined) => Promise<IdentityResult>;

/** The stat path `<url>stat/` on the console, or undefined when there is none (2024) or it is foreign. */
export function statPath(url: string | null | undefined, isConsoleOrigin: (u: string) => boolean): string | undefined {
  if (!url) return undefined;
  let path = url;
  if (/^[a-z]+:\/\//i.test(url)) {
    if (!isConsoleOrigin(url)) return undefined;
    const u = new URL(url);
    path = u.pathname + u.search;
  }
  if (!path.startsWith("/") || path.startsWith("//")) return undefined;
  const [base, query] = path.split("?", 2) as [string, string | undefined];
  return `${base.endsWith("/") ? base : `${base}/`}stat/${query ? `?${query}` : ""}`;
}
