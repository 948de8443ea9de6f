// openpty's home_directory comes from the console; the terminal must start in the user's own home (NSS), not
// in another user's, where the shell would run that user's dotfiles. Through the real agent.
import { describe, expect, test } from "bun:test";
import { OPENPTY_OK } from "../../src/capabilities/terminal/commands.ts";
import { FakePtyConsole } from "../console/fake-pty.ts";
import { useConsoleAndAgents } from "../helpers/agent.ts";
import { useTempDirs } from "../helpers/tmp.ts";
import { useTestUser } from "../helpers/users.ts";
import { captureOn } from "../capabilities/terminal/markers.ts";

const tempDir = useTempDirs("alpamon-ptyhome-");
const { consoleOf, agentFor, cleanup } = useConsoleAndAgents();
const { user: ALICE, isRoot } = useTestUser("alpha");
const { user: BOB } = useTestUser("alphb");

describe("openpty home", () => {
  test.skipIf(!isRoot)(
    "a home_directory naming another user's home is ignored with a warning; the shell starts in the user's own",
    async () => {
      const fake = await consoleOf();
      const pty = new FakePtyConsole({ id: fake.id, key: fake.key }, undefined, fake);
      cleanup(() => pty.stop());
      const agent = agentFor(fake, tempDir());
      await fake.waitForBackhaul(30_000);

      const channel = crypto.randomUUID().replace(/-/g, "");
      const data = {
        session_id: `s-${channel.slice(0, 10)}`,
        url: pty.ptyUrl(channel),
        username: ALICE,
        groupname: ALICE,
        home_directory: `/home/${BOB}`,
        rows: 24,
        cols: 80,
      };
      const fin = await fake.waitForFin(fake.sendCommand({ shell: "internal", line: "openpty", data }), 30_000);
      expect(fin).toMatchObject({ success: true, result: OPENPTY_OK });
      const ch = await pty.waitFor(() => pty.channel(channel), 10_000, "the PTY socket");
      const seen = (await captureOn(pty, ch, "home", 'echo "$(pwd)|$HOME"', true, 20_000)).trim();
      expect(seen).toBe(`/home/${ALICE}|/home/${ALICE}`);
      await agent.waitForLog(new RegExp(`home_directory.*/home/${BOB}`), 5_000);
      ch.ws.close(1000, "done");
    },
  );

  test.skipIf(!isRoot)("the user's own home_directory (with a trailing slash) is accepted without a warning", async () => {
    const fake = await consoleOf();
    const pty = new FakePtyConsole({ id: fake.id, key: fake.key }, undefined, fake);
    cleanup(() => pty.stop());
    const agent = agentFor(fake, tempDir());
    await fake.waitForBackhaul(30_000);

    const channel = crypto.randomUUID().replace(/-/g, "");
    const data = {
      session_id: `s-${channel.slice(0, 10)}`,
      url: pty.ptyUrl(channel),
      username: ALICE,
      groupname: ALICE,
      home_directory: `/home/${ALICE}/`,
      rows: 24,
      cols: 80,
    };
    expect((await fake.waitForFin(fake.sendCommand({ shell: "internal", line: "openpty", data }), 30_000)).success).toBe(true);
    const ch = await pty.waitFor(() => pty.channel(channel), 10_000, "the PTY socket");
    expect((await captureOn(pty, ch, "home", 'echo "$(pwd)|$HOME"', true, 20_000)).trim()).toBe(`/home/${ALICE}|/home/${ALICE}`);
    expect(agent.log).not.toMatch(/home_directory/);
    ch.ws.close(1000, "done");
  });
});
