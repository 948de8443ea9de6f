// The outbox's garbage pacer: one collection per `everyBytes` of rows through it, none when turned off.
import { describe, expect, test } from "bun:test";
import { GarbagePacer } from "../../../src/console/outbox/pacer.ts";

describe("GarbagePacer", () => {
  test("collects once each time the byte mark is reached, then counts again from zero", () => {
    let collections = 0;
    const pacer = new GarbagePacer(10_000, () => collections++);
    for (let i = 0; i < 9; i++) pacer.add(1_000);
    expect(collections).toBe(0);
    pacer.add(1_000);
    expect(collections).toBe(1);
    for (let i = 0; i < 25; i++) pacer.add(1_000);
    expect(collections).toBe(3);
    pacer.add(50_000); // one large row: one collection, not five
    expect(collections).toBe(4);
  });

  test("0 turns it off", () => {
    let collections = 0;
    const pacer = new GarbagePacer(0, () => collections++);
    for (let i = 0; i < 100; i++) pacer.add(1 << 20);
    expect(collections).toBe(0);
  });
});
