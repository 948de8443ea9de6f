import { describe, expect, test } from "bun:test";
import { createRouter, type RouterTargets } from "../../src/console/router.ts";
import { parseInbound, decodeCommandData } from "../../src/console/protocol.ts";
import { LogHub, type LogRecord } from "../../src/log/logger.ts";

function recorder() {
  const calls: string[] = [];
  const targets: RouterTargets = {
    accept: (c) => calls.push(`accept ${c.id} ${c.line}`),
    reject: (id, reason) => calls.push(`reject ${id} ${reason}`),
    quit: (r) => calls.push(`quit ${r}`),
    reconnect: (r) => calls.push(`reconnect ${r}`),
    commit: () => calls.push("commit"),
    ping: () => calls.push("ping"),
  };
  const records: LogRecord[] = [];
  const hub = new LogHub({ write: () => {}, close: () => {} }, "debug");
  hub.listen((r) => records.push(r));
  return { calls, records, route: createRouter(targets, hub.logger()) };
}

describe("router", () => {
  test("routes commands and queries", () => {
    const { calls, route } = recorder();
    route(JSON.stringify({ query: "command", command: { id: "abc-1", shell: "internal", line: "ping", data: '{"a":1}' } }));
    route(JSON.stringify({ query: "quit", reason: "New connection" }));
    route(JSON.stringify({ query: "reconnect", reason: "stale" }));
    route(JSON.stringify({ query: "commit" }));
    route(JSON.stringify({ query: "ping" }));
    route(JSON.stringify({ query: "pong", timestamp: "2026-08-21T03:04:05Z" }));
    expect(calls).toEqual(["accept abc-1 ping", "quit New connection", "reconnect stale", "commit", "ping"]);
  });

  test("the console's ping passes validation and is routed; without a ping target it is ignored quietly", () => {
    expect(parseInbound('{"query":"ping"}')).toEqual({ ok: true, message: { query: "ping", reason: undefined } });
    const records: LogRecord[] = [];
    const hub = new LogHub({ write: () => {}, close: () => {} }, "debug");
    hub.listen((r) => records.push(r));
    const calls: string[] = [];
    const route = createRouter(
      { accept: () => {}, reject: () => {}, quit: () => {}, reconnect: () => {}, commit: () => calls.push("commit") },
      hub.logger(),
    );
    route('{"query":"ping"}');
    expect(calls).toEqual([]);
    expect(records.filter((r) => r.level === "warn")).toEqual([]);
  });

  test("garbage, non-objects, huge strings and unknown queries are logged, never thrown", () => {
    const { calls, records, route } = recorder();
    for (const frame of ["", "nonsense", "[1,2]", "null", "42", '"x"', JSON.stringify({ q: 1 }), "x".repeat(2_000_000)]) route(frame);
    route(JSON.stringify({ query: "dance" }));
    expect(calls).toEqual([]);
    expect(records.filter((r) => r.level === "warn")).toHaveLength(9);
    expect(records.every((r) => r.fields.frame === undefined && JSON.stringify(r.fields).length < 400)).toBe(true);
  });

  test("an invalid command is logged by query, id and failing field, never by its line, env or data", () => {
    const { calls, records, route } = recorder();
    const secrets = ["LineSecret-hunter2", "EnvSecret-s3cr3t", "DataSecret-t0k3n", "EnvAsText-pa55"];
    const frames = [
      {
        id: "c-7",
        shell: "system",
        line: `mysql -p${secrets[0]}`,
        user: 42,
        env: { DB_PASSWORD: secrets[1] },
        data: JSON.stringify({ password: secrets[2] }),
      },
      { id: "c-8", shell: "system", line: `echo ${secrets[0]}`, user: "root", env: { DB_PASSWORD: secrets[1], N: 1 } },
      { id: "c-9", shell: "system", line: "env", user: "root", env: `DB_PASSWORD=${secrets[3]}` },
      { shell: "system", line: `echo ${secrets[0]}`, env: { DB_PASSWORD: secrets[1] } },
    ];
    for (const command of frames) route(JSON.stringify({ query: "command", command }));
    const warnings = records.filter((r) => r.level === "warn");
    expect(warnings.map((r) => r.fields)).toEqual([
      { query: "command", command_id: "c-7", field: "command.user", problem: "command.user must be a string" },
      { query: "command", command_id: "c-8", field: "command.env", problem: "command.env values must be strings" },
      { query: "command", command_id: "c-9", field: "command.env", problem: "command.env: Invalid type: Expected Object" },
      { query: "command", field: "command.id", problem: "command.id is required" },
    ]);
    const everything = JSON.stringify(records) + calls.join("\n");
    for (const secret of secrets) expect(everything).not.toContain(secret);
  });

  test("a command with a usable id but bad fields is rejected with a failed fin naming the field", () => {
    const { calls, route } = recorder();
    route(JSON.stringify({ query: "command", command: { id: "c-2", shell: "system", line: "ls", env: { A: 1 } } }));
    route(JSON.stringify({ query: "command", command: { id: "c-3", shell: 5, line: "ls" } }));
    route(JSON.stringify({ query: "command", command: { id: "../../x", shell: "internal", line: "ping" } }));
    route(JSON.stringify({ query: "command", command: { shell: "internal", line: "ping" } }));
    expect(calls).toEqual([
      "reject c-2 invalid command: command.env values must be strings",
      "reject c-3 invalid command: command.shell must be a string",
    ]);
  });
});

describe("command data", () => {
  test("is a JSON string decoded a second time", () => {
    expect(decodeCommandData('{"rows":24}')).toEqual({ ok: true, data: { rows: 24 } });
    expect(decodeCommandData(null)).toEqual({ ok: true, data: {} });
    expect(decodeCommandData("")).toEqual({ ok: true, data: {} });
    expect(decodeCommandData("null")).toEqual({ ok: true, data: {} });
    expect(decodeCommandData("{")).toEqual({ ok: false, error: "data is not valid JSON" });
    expect(decodeCommandData("3")).toEqual({ ok: false, error: "data must be a JSON object" });
  });

  test("parseInbound: data that is not a string is refused", () => {
    const r = parseInbound(JSON.stringify({ query: "command", command: { id: "d1", shell: "internal", line: "x", data: { a: 1 } } }));
    expect(r).toEqual({ ok: false, error: "command.data must be a JSON-encoded string", commandId: "d1" });
  });
});
