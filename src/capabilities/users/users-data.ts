// The data schemas of the user and group commands (adduser, addgroup, deluser, delgroup, moduser); the
// dispatcher's formatter words a failure one line per field. Every name or path that reaches a tool's argv is checked here,
// so none can look like an option, carry a ':' or a control character into /etc/passwd, or be missing.
import * as v from "valibot";
import { isAbsolute } from "node:path";

/**
 * User and group names: a letter or '_', then up to 31 letters, digits, '_', '.' or '-', optionally ending
 * in '$' (Samba machine accounts). Upper case is accepted: shadow-utils takes it, and Debian's adduser
 * applies its own NAME_REGEX and says so if it refuses. A leading '-' can never match, so no name is
 * ever read as an option.
 */
export const ACCOUNT_NAME = /^[a-z_][a-z0-9_.-]{0,31}\$?$/i;
/** uid_t/gid_t: (uid_t)-1 is "no id" to the kernel and the tools. */
export const MAX_ID = 4_294_967_294;
export const DEFAULT_HOME_PERMISSION = "700";

// biome-ignore lint/suspicious/noControlCharactersInRegex: deliberate input validation: account fields must not contain control characters
const CONTROL_OR_COLON = /[\u0000-\u001f\u007f:]/;

const accountName = v.pipe(
  v.string("must be a string"),
  v.nonEmpty("is required"),
  v.regex(ACCOUNT_NAME, "must start with a letter or '_' and hold at most 32 letters, digits, '_', '.' or '-'"),
);

const wholeId = v.pipe(
  v.number("must be a whole number"),
  v.integer("must be a whole number"),
  v.minValue(0, "must be a whole number"),
  v.maxValue(MAX_ID, `must be at most ${MAX_ID}`),
);

const nonRootId = (why: string) =>
  v.pipe(
    wholeId,
    v.check((n) => n !== 0, why),
  );

/** Text that ends up as a passwd field: non-empty, no ':' (the field separator) and no control characters. */
const passwdText = v.pipe(
  v.string("must be a string"),
  v.nonEmpty("is required"),
  v.check((s) => !CONTROL_OR_COLON.test(s), "must not contain ':' or control characters"),
);

const absolutePath = v.pipe(
  passwdText,
  v.check((p) => isAbsolute(p), "must be an absolute path"),
  v.check((p) => !p.split("/").includes(".."), "must not contain '..'"),
);

const homeDirectory = v.pipe(
  absolutePath,
  // The home is chmod-ed afterwards, so "/" (or "//") would be a disaster.
  v.check((p) => p.replace(/\/+/g, "/") !== "/", "must not be /"),
);

const homeDirectoryPermission = v.optional(
  v.nullable(v.pipe(v.string('must be an octal string such as "700"'), v.regex(/^([0-7]{3,4})?$/, 'must be an octal mode such as "700"'))),
);

const extraGroups = v.optional(v.nullable(v.array(wholeId, "must be a list of group ids")));

/** An IAM user: the console assigns uid, gid and home so they match on every server. */
const IamUserData = v.object({
  username: accountName,
  uid: nonRootId("0 is root's and cannot be given to a new user"),
  gid: nonRootId("0 is root's group and cannot be a new user's primary group"),
  comment: passwdText,
  home_directory: homeDirectory,
  shell: absolutePath,
  // `groupname` is required by the reference but never used for an IAM user; it is accepted and ignored.
  home_directory_permission: homeDirectoryPermission,
  groups: extraGroups,
  is_service_account: v.optional(v.nullable(v.boolean("must be true or false"))),
});

/**
 * A service account (upstream-2026 §10.1): uid, gid and home may be 0, empty or absent, and the OS picks them.
 * Without a gid, `groupname` (when given) becomes the primary group, created with an OS-picked gid if missing.
 */
const ServiceAccountData = v.object({
  username: accountName,
  uid: v.optional(v.nullable(wholeId), 0),
  gid: v.optional(v.nullable(wholeId), 0),
  comment: passwdText,
  home_directory: v.optional(v.nullable(v.union([v.literal(""), homeDirectory], "must be an absolute path other than /, or empty")), ""),
  shell: absolutePath,
  groupname: v.optional(
    v.nullable(
      v.union([v.literal(""), accountName], "must start with a letter or '_' and hold at most 32 letters, digits, '_', '.' or '-'"),
    ),
    "",
  ),
  home_directory_permission: homeDirectoryPermission,
  groups: extraGroups,
  is_service_account: v.literal(true),
});

const isServiceAccount = (input: unknown): boolean =>
  typeof input === "object" && input !== null && (input as { is_service_account?: unknown }).is_service_account === true;

/** adduser's data: a service account's when `is_service_account` is true, otherwise an IAM user's. */
export const AddUserData = v.lazy((input) => (isServiceAccount(input) ? ServiceAccountData : IamUserData));

export const AddGroupData = v.object({
  groupname: accountName,
  gid: nonRootId("0 is root's and cannot be given to a new group"),
});

export const DelUserData = v.object({
  username: accountName,
  purge_home: v.optional(v.nullable(v.boolean("must be true or false"))),
});

export const DelGroupData = v.object({
  groupname: accountName,
});

export const ModUserData = v.object({
  username: accountName,
  groupnames: v.array(accountName, "must be a list of group names"),
  comment: passwdText,
});
