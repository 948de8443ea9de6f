// Parsing the console's collector configuration: good items kept, bad ones skipped with a named reason.
import { describe, expect, test } from "bun:test";
import { CHECK_TYPES, parseCollectorConfig } from "../../../src/capabilities/metrics/config.ts";

describe("parseCollectorConfig", () => {
  test("every reference type is known, keys match case-insensitively, duplicates are kept", () => {
    expect(CHECK_TYPES).toHaveLength(20);
    const parsed = parseCollectorConfig(
      JSON.stringify([
        { type: "cpu", interval: 5 },
        { Type: "cpu", Interval: 60 },
        { TYPE: "cleanup", interval: 86400 },
      ]),
    );
    expect(parsed).toEqual({
      entries: [
        { type: "cpu", interval: 5 },
        { type: "cpu", interval: 60 },
        { type: "cleanup", interval: 86400 },
      ],
      warnings: [],
    });
  });

  test("an unknown type or a bad interval skips that item only, with a warning naming it", () => {
    const parsed = parseCollectorConfig(
      JSON.stringify([
        { type: "gpu", interval: 5 },
        { type: "memory", interval: 0 },
        { type: "memory", interval: "5" },
        { type: "net", interval: 1.5 },
        null,
        { interval: 5 },
        { type: "memory", interval: 10 },
      ]),
    );
    expect(parsed.entries).toEqual([{ type: "memory", interval: 10 }]);
    expect(parsed.warnings).toEqual([
      'item 0: unknown check type "gpu"',
      "item 1 (memory): interval must be at least 1 second",
      "item 2 (memory): interval must be a number of seconds",
      "item 3 (net): interval must be a whole number of seconds",
      "item 4: expected an object {type, interval}",
      "item 5: type must be a string",
    ]);
  });

  test("a body that is not a JSON array is an error (the collector retries)", () => {
    expect(() => parseCollectorConfig("<html>")).toThrow("not JSON");
    expect(() => parseCollectorConfig('{"type":"cpu"}')).toThrow("JSON array");
  });
});
