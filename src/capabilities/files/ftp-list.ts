// The file manager's `list`: a folder node with children to a depth of at most 3, hidden names on request,
// symlinks shown as links (with their target) and never followed out of the listing, entries capped.
// Formats modes, owners and times like the reference (sessions.md §2.6). Never throws for a child entry.
import { lstatSync, readdirSync, readlinkSync, statSync, type BigIntStats } from "node:fs";
import { basename, join } from "node:path";
import type { Accounts } from "./accounts.ts";
import { FileError, replyCode, toFileError } from "./errors.ts";
import { local, offsetSuffix } from "../../platform/time.ts";

export const MAX_DEPTH = 3;
/** Entries reported per directory; the rest are counted in the folder's message. */
export const MAX_ENTRIES_PER_DIR = 10_000;

export interface Node {
  name: string;
  type?: "folder" | "file" | "symlink";
  path: string;
  code: number;
  size?: number;
  mod_time?: string;
  permission_str?: string;
  permission_octal?: string;
  owner?: string;
  group?: string;
  target?: string;
  message?: string;
  children?: Node[];
}

const S_IFMT = 0o170000;
const S_IFDIR = 0o040000;
const S_IFLNK = 0o120000;

export function permissionString(mode: number): string {
  const type = (mode & S_IFMT) === S_IFDIR ? "d" : (mode & S_IFMT) === S_IFLNK ? "l" : "-";
  const bit = (mask: number, ch: string) => (mode & mask ? ch : "-");
  const exec = (x: number, special: number, set: string) => (mode & special ? (mode & x ? set : set.toUpperCase()) : mode & x ? "x" : "-");
  return (
    type +
    bit(0o400, "r") +
    bit(0o200, "w") +
    exec(0o100, 0o4000, "s") +
    bit(0o040, "r") +
    bit(0o020, "w") +
    exec(0o010, 0o2000, "s") +
    bit(0o004, "r") +
    bit(0o002, "w") +
    exec(0o001, 0o1000, "t")
  );
}

/** RFC 3339 with nanoseconds (trailing zeros trimmed) in the local offset, like Go's time.RFC3339Nano. */
export function formatTime(ns: bigint): string {
  const ms = Number(ns / 1_000_000n);
  const { wall, offsetSeconds } = local(ms);
  const base = wall.toISOString().slice(0, 19);
  const frac = (((ns % 1_000_000_000n) + 1_000_000_000n) % 1_000_000_000n).toString().padStart(9, "0").replace(/0+$/, "");
  return `${base}${frac ? `.${frac}` : ""}${offsetSuffix(offsetSeconds)}`;
}

function describe(path: string, st: BigIntStats, accounts: Accounts): Node {
  const mode = Number(st.mode);
  const kind = (mode & S_IFMT) === S_IFDIR ? "folder" : (mode & S_IFMT) === S_IFLNK ? "symlink" : "file";
  const node: Node = {
    name: path === "/" ? "/" : basename(path),
    type: kind,
    path,
    code: 250,
    mod_time: formatTime(st.mtimeNs),
    permission_str: permissionString(mode),
    permission_octal: (mode & 0o777).toString(8),
    owner: accounts.userName(Number(st.uid)),
    group: accounts.groupName(Number(st.gid)),
  };
  if (kind !== "folder" && st.size > 0n) node.size = Number(st.size);
  if (kind === "symlink") {
    try {
      node.target = readlinkSync(path);
      const target = statSync(path, { bigint: true });
      if (target.size > 0n && !target.isDirectory()) node.size = Number(target.size);
    } catch {
      // a dangling link is still listed, with its target text when readable
    }
  }
  return node;
}

function errorNode(path: string, err: unknown): Node {
  const e = toFileError(err, "open", path);
  return { name: basename(path) || "/", path, message: e.message, code: replyCode("list", e.code) };
}

function children(dir: string, level: number, depth: number, hidden: boolean, accounts: Accounts): { nodes: Node[]; omitted: number } {
  const names = readdirSync(dir)
    .filter((n) => hidden || !n.startsWith("."))
    .sort();
  const nodes: Node[] = [];
  for (const name of names.slice(0, MAX_ENTRIES_PER_DIR)) {
    const path = join(dir, name);
    let node: Node;
    try {
      node = describe(path, lstatSync(path, { bigint: true }), accounts);
    } catch (err) {
      nodes.push(errorNode(path, err));
      continue;
    }
    if (node.type === "folder" && level < depth - 1) {
      try {
        const sub = children(path, level + 1, depth, hidden, accounts);
        if (sub.nodes.length > 0) node.children = sub.nodes;
        if (sub.omitted > 0) node.message = `${sub.omitted} more entries not listed`;
      } catch (err) {
        node = errorNode(path, err);
      }
    }
    nodes.push(node);
  }
  return { nodes, omitted: Math.max(0, names.length - MAX_ENTRIES_PER_DIR) };
}

/** Lists `path`; throws FileError for a bad depth or an unreadable top directory. */
export function listTree(path: string, depth: number, showHidden: boolean, accounts: Accounts): Node {
  if (!Number.isInteger(depth) || depth < 0) throw new FileError("EINVAL", `list ${path}: depth must be a whole number: invalid argument`);
  if (depth > MAX_DEPTH) throw new FileError("EDEPTH", "depth has reached its limit. please try a lower depth");
  let top: Node;
  try {
    top = describe(path, statSync(path, { bigint: true }), accounts);
  } catch (err) {
    throw toFileError(err, "stat", path);
  }
  if (top.type !== "folder") throw new FileError("ENOTDIR", `open ${path}: not a directory`);
  try {
    const sub = children(path, 0, depth, showHidden, accounts);
    if (sub.nodes.length > 0) top.children = sub.nodes;
    if (sub.omitted > 0) top.message = `${sub.omitted} more entries not listed`;
  } catch (err) {
    throw toFileError(err, "open", path);
  }
  return top;
}
