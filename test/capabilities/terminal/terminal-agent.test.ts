// websh end to end through the agent process: the console sends openpty on the backhaul, the agent dials the
// PTY socket on the console's own origin (test/console/fake-pty.ts mounted on the fake console), runs a real
// login shell as a throwaway user with its groups, resizes it, and ends it when the console closes the socket.
import { describe, expect, test } from "bun:test";
import { OPENPTY_OK } from "../../../src/capabilities/terminal/commands.ts";
import type { FakeConsole } from "../../console/fake-console.ts";
import { FakePtyConsole, type PtyChannel } from "../../console/fake-pty.ts";
import { useConsoleAndAgents } from "../../helpers/agent.ts";
import { useTempDirs } from "../../helpers/tmp.ts";
import { useTestUser } from "../../helpers/users.ts";
import { captureOn } from "./markers.ts";

const tempDir = useTempDirs("alpamon-websh-");
const { consoleOf, agentFor, cleanup } = useConsoleAndAgents();
const { user: USER, extraGroup: EXTRA, isRoot } = useTestUser("alpw");

const userProcesses = () => Bun.spawnSync(["pgrep", "-u", USER]).stdout.toString().trim();

const capture = (pty: FakePtyConsole, ch: PtyChannel, tag: string, command: string) => captureOn(pty, ch, tag, command, true, 20_000);

async function setup(): Promise<{ fake: FakeConsole; pty: FakePtyConsole }> {
  const fake = await consoleOf();
  const pty = new FakePtyConsole({ id: fake.id, key: fake.key }, undefined, fake);
  cleanup(() => pty.stop());
  agentFor(fake, tempDir());
  await fake.waitForBackhaul(30_000);
  return { fake, pty };
}

describe("websh through the agent", () => {
  test.skipIf(!isRoot)("openpty, typing, resizepty and a console-side close, as the user with their groups", async () => {
    const { fake, pty } = await setup();
    const channel = crypto.randomUUID().replace(/-/g, "");
    const sid = `s-${channel.slice(0, 10)}`;
    const data = {
      session_id: sid,
      url: pty.ptyUrl(channel),
      username: USER,
      groupname: USER,
      home_directory: `/home/${USER}`,
      rows: 24,
      cols: 80,
    };
    const fin = await fake.waitForFin(fake.sendCommand({ shell: "internal", line: "openpty", data }), 30_000);
    expect(fin).toMatchObject({ success: true, result: OPENPTY_OK });
    const ch = await pty.waitFor(() => pty.channel(channel), 10_000, "the PTY socket");
    expect(pty.handshakes.at(-1)!.authorization).toBe(`id="${fake.id}", key="${fake.key}"`);

    expect((await capture(pty, ch, "who", "id -un; id -Gn")).trim().split(/\s+/)).toEqual([USER, USER, EXTRA]);
    const resized = await fake.waitForFin(
      fake.sendCommand({ shell: "internal", line: "resizepty", data: { session_id: sid, rows: 30, cols: 100 } }),
      30_000,
    );
    expect(resized).toMatchObject({ success: true, result: `Resized terminal for ${sid} to 100x30.` });
    expect((await capture(pty, ch, "size", "stty size")).trim()).toBe("30 100");

    expect(userProcesses()).not.toBe("");
    ch.ws.close(1000, "closed in the browser");
    await pty.waitFor(() => userProcesses() === "", 15_000, "the shell to end");
  });

  test.skipIf(!isRoot)("openpty refusals name the problem: another origin, a missing user", async () => {
    const { fake, pty } = await setup();
    const other = new FakePtyConsole({ id: fake.id, key: fake.key });
    cleanup(() => other.stop());
    const base = { session_id: "s-refused", username: USER, groupname: USER, rows: 24, cols: 80 };
    const foreign = await fake.waitForFin(
      fake.sendCommand({ shell: "internal", line: "openpty", data: { ...base, url: other.ptyUrl() } }),
      30_000,
    );
    expect(foreign.success).toBe(false);
    expect(foreign.result).toContain("not on the console's origin");
    expect(other.handshakes).toEqual([]); // the server key never went there
    const ghost = await fake.waitForFin(
      fake.sendCommand({
        shell: "internal",
        line: "openpty",
        data: { ...base, session_id: "s-ghost", url: pty.ptyUrl(), username: "no-such-user-alpw" },
      }),
      30_000,
    );
    expect(ghost.success).toBe(false);
    expect(ghost.result).toContain('"no-such-user-alpw"');
    expect(pty.channels).toEqual([]);
  });
});
