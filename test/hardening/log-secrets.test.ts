// Logs through the real agent: an invalid command frame is logged (and forwarded to the console's log
// history) by its query, id and failing field, never by its line, env or data; the server key is redacted
// by value wherever it lands in a log record; a credential-named field is hidden, a `key` field is not.
import { describe, expect, test } from "bun:test";
import { useConsoleAndAgents } from "../helpers/agent.ts";
import { useTempDirs } from "../helpers/tmp.ts";

const tempDir = useTempDirs("alpamon-logsecrets-");
const { consoleOf, agentFor } = useConsoleAndAgents();

const LOGS = "/api/history/logs/";
const forwardedMessages = (fake: { requests: { path: string; json?: unknown }[] }) =>
  fake.requests.filter((r) => r.path === LOGS).map((r) => String((r.json as { msg?: string } | undefined)?.msg));

describe("secrets never reach the logs", () => {
  test("an invalid frame with secrets in its line, env and data: logged and forwarded by id and field only", async () => {
    const fake = await consoleOf();
    const agent = agentFor(fake, tempDir(), { debug: true });
    await fake.waitForBackhaul(30_000);
    const secrets = ["LineSecret-hunter2-xyz", "EnvSecret-s3cr3t-xyz", "DataSecret-t0k3n-xyz", "EnvText-pa55-xyz"];
    const wrongUser = "bad-user-type-1";
    const badEnv = "bad-env-value-2";
    const envAsText = "bad-env-text-3";
    fake.sendFrame({
      query: "command",
      command: {
        id: wrongUser,
        shell: "system",
        line: `mysql -p${secrets[0]}`,
        user: 42,
        env: { DB_PASSWORD: secrets[1] },
        data: JSON.stringify({ password: secrets[2] }),
      },
    });
    fake.sendFrame({
      query: "command",
      command: { id: badEnv, shell: "system", line: `echo ${secrets[0]}`, user: "root", env: { DB_PASSWORD: secrets[1], N: 1 } },
    });
    fake.sendFrame({
      query: "command",
      command: { id: envAsText, shell: "system", line: "env", user: "root", env: `DB_PASSWORD=${secrets[3]}` },
    });
    expect(await fake.waitForFin(wrongUser)).toMatchObject({ success: false, result: "invalid command: command.user must be a string" });
    expect(await fake.waitForFin(badEnv)).toMatchObject({ success: false, result: "invalid command: command.env values must be strings" });
    expect(await fake.waitForFin(envAsText)).toMatchObject({
      success: false,
      result: "invalid command: command.env: Invalid type: Expected Object",
    });
    await fake.waitForRequest((r) => r.path === LOGS && String((r.json as { msg?: string })?.msg).includes(envAsText), 30_000);

    await agent.waitForLog(new RegExp(`command_id=${envAsText} field=command\\.env`));
    expect(agent.log).toMatch(
      new RegExp(
        `\\[WARN\\] ignoring an invalid message from the console component=[\\w.]+ query=command command_id=${wrongUser} field=command\\.user problem="command\\.user must be a string"`,
      ),
    );
    const forwarded = forwardedMessages(fake).filter((m) => m.startsWith("ignoring an invalid message"));
    expect(forwarded).toEqual([
      `ignoring an invalid message from the console query=command command_id=${wrongUser} field=command.user problem=command.user must be a string`,
      `ignoring an invalid message from the console query=command command_id=${badEnv} field=command.env problem=command.env values must be strings`,
      `ignoring an invalid message from the console query=command command_id=${envAsText} field=command.env problem=command.env: Invalid type: Expected Object`,
    ]);
    await agent.stop("SIGTERM");
    for (const secret of secrets) {
      expect(agent.log.includes(secret), `${secret} in the agent's log`).toBe(false);
      expect(fake.requests.filter((r) => r.body.includes(secret)).map((r) => `${r.method} ${r.path}`)).toEqual([]);
    }
  }, 90_000);

  test("the server key is redacted by value wherever it lands in a log record, locally and forwarded", async () => {
    const fake = await consoleOf();
    const agent = agentFor(fake, tempDir(), { debug: true });
    await fake.waitForBackhaul(30_000);
    // The console names an unknown query: the agent logs it (as a field) and forwards the warning.
    fake.sendFrame({ query: `probe-${fake.key}-probe` });
    await agent.waitForLog(/ignoring an unknown query from the console .*query=probe-\[redacted\]-probe/);
    await fake.waitForRequest(
      (r) => r.path === LOGS && String((r.json as { msg?: string })?.msg).includes("probe-[redacted]-probe"),
      30_000,
    );
    await agent.stop("SIGTERM");
    expect(agent.log.includes(fake.key)).toBe(false);
    expect(forwardedMessages(fake).some((m) => m.includes(fake.key))).toBe(false);
  }, 90_000);
});
