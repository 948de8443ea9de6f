// Child process for open.test.ts, run as another user: opens the state database at argv[2] and prints
// "opened" or the error's name and message.
import { openStateDb } from "../../src/db/open.ts";

try {
  openStateDb(process.argv[2]!).close();
  console.log("opened");
} catch (e) {
  console.log(`${(e as Error).name}: ${(e as Error).message}`);
}
