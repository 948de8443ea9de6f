// The agent's version. build.ts injects ALPAMON_VERSION with --define; from source it is package.json's.
import pkg from "../package.json" with { type: "json" };

declare const ALPAMON_VERSION: string | undefined;

export const VERSION: string = typeof ALPAMON_VERSION === "string" && ALPAMON_VERSION.length > 0 ? ALPAMON_VERSION : pkg.version;

/** The User-Agent every console connection sends. */
export const USER_AGENT = `alpamon/${VERSION}`;
