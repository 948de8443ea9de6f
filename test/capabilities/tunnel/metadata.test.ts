// The per-stream protocol's pure parts (spec/upstream-2026.md §8.4.1-3, §8.5.3): the metadata line and its 1024-byte
// cap, which port a stream goes to under [tunnel] allowed_ports, and the editor's health-check answer.
import { describe, expect, test } from "bun:test";
import { healthResponse, parseMetadata, readMetadata, targetPort } from "../../../src/capabilities/tunnel/metadata.ts";

const enc = (text: string) => new TextEncoder().encode(text);
/** A stream that hands out the given chunks, then its end. */
const streamOf = (...chunks: string[]) => ({ read: async () => (chunks.length ? enc(chunks.shift()!) : null) });

describe("stream metadata", () => {
  test("parses remote_port and health_check; rejects bad JSON and wrong types", () => {
    expect(parseMetadata("{}")).toEqual({ remotePort: "", healthCheck: false });
    expect(parseMetadata('{"remote_port":"8080","health_check":true,"extra":1}')).toEqual({ remotePort: "8080", healthCheck: true });
    for (const bad of ["", "nope", "[]", "null", '{"remote_port":8080}', '{"health_check":"yes"}'])
      expect(parseMetadata(bad)).toBeUndefined();
  });

  test("reads the line across chunks; bytes after the newline are kept for the target", async () => {
    const read = await readMetadata(streamOf('{"remote_', 'port":"22"}\nSSH-2.0', "-later"));
    expect(read.ok && { metadata: read.metadata, rest: new TextDecoder().decode(read.rest) }).toEqual({
      metadata: { remotePort: "22", healthCheck: false },
      rest: "SSH-2.0",
    });
  });

  test("at most 1024 bytes before the newline; an end or bad JSON closes the stream", async () => {
    const exact = `{"remote_port":"22","pad":"${"x".repeat(1024 - 29)}"}`;
    expect(exact.length).toBe(1024);
    expect((await readMetadata(streamOf(exact, "\n"))).ok).toBe(true);
    expect(await readMetadata(streamOf(`${exact} `, "\n"))).toEqual({ ok: false, reason: "no metadata line within 1024 bytes" });
    expect(await readMetadata(streamOf("{}"))).toEqual({ ok: false, reason: "the stream ended before its metadata line" });
    expect(await readMetadata(streamOf("{\n"))).toEqual({ ok: false, reason: "the metadata line is not valid JSON" });
  });

  test("the target port: remote_port overrides, digits 1-65535 only, and only ports in allowed_ports", () => {
    const meta = (remotePort: string) => ({ remotePort, healthCheck: false });
    expect(targetPort(meta(""), 5432, [])).toEqual({ ok: true, port: 5432 });
    expect(targetPort(meta("8080"), 5432, [])).toEqual({ ok: true, port: 8080 });
    expect(targetPort(meta(""), 0, [])).toEqual({ ok: false, reason: "the target is not ready" });
    for (const bad of ["0", "65536", "-1", "80a", " 80", "1e3"]) expect(targetPort(meta(bad), 22, []).ok).toBe(false);
    const allowed = [{ from: 8000, to: 8100 }];
    expect(targetPort(meta("8050"), 22, allowed)).toEqual({ ok: true, port: 8050 });
    expect(targetPort(meta("5432"), 8000, allowed)).toEqual({ ok: false, reason: "port 5432 is not in [tunnel] allowed_ports" });
    expect(targetPort(meta(""), 22, allowed)).toEqual({ ok: false, reason: "port 22 is not in [tunnel] allowed_ports" });
  });
});

describe("health-check answers", () => {
  test("ready is 200, starting and installing 503, an error or anything else 500", () => {
    expect(healthResponse("ready")).toBe(
      'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 18\r\nConnection: close\r\n\r\n{"status":"ready"}',
    );
    expect(healthResponse("starting")).toStartWith("HTTP/1.1 503 Service Unavailable\r\n");
    expect(healthResponse("installing")).toEndWith('{"status":"installing"}');
    expect(healthResponse("idle")).toStartWith("HTTP/1.1 500 Internal Server Error\r\n");
    const error = healthResponse("error", "code-server is not installed: ü");
    expect(error).toEndWith('\r\n\r\n{"status":"error","error":"code-server is not installed: ü"}');
    expect(error).toContain(`Content-Length: ${Buffer.byteLength('{"status":"error","error":"code-server is not installed: ü"}')}\r\n`);
  });
});
