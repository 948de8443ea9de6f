// Runs a ContentServer in its own process (so memory measurements of the agent are not mixed with the
// server's): prints its URL, then one JSON line per received body.
import { ContentServer } from "./content-server.ts";

const server = new ContentServer();
const seen = server.received;
const push = seen.push.bind(seen);
seen.push = (...items) => {
  for (const item of items) process.stdout.write(`${JSON.stringify(item)}\n`);
  return push(...items);
};
process.stdout.write(`${JSON.stringify({ url: server.url })}\n`);
process.on("SIGTERM", () => void server.stop().then(() => process.exit(0)));
