/** Unit tests of the status bar text and the latency tracker. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { formatMs, LatencyTracker, statusText } from "../src/status";

test("latency tracker keeps a window and gives last and median", () => {
  const t = new LatencyTracker(3);
  assert.equal(t.last, undefined);
  assert.equal(t.median, undefined);
  for (const v of [10, 40, 20, 30]) t.record(v);
  assert.equal(t.count, 3);
  assert.equal(t.last, 30);
  assert.equal(t.median, 30);
  t.record(-1);
  t.record(Number.NaN);
  assert.equal(t.count, 3);
  const even = new LatencyTracker();
  even.record(4);
  even.record(8);
  assert.equal(even.median, 6);
});

test("milliseconds are formatted for the status bar", () => {
  assert.equal(formatMs(3.14159), "3.1 ms");
  assert.equal(formatMs(12.6), "13 ms");
});

test("status text shows model and last latency when running", () => {
  const t = new LatencyTracker();
  assert.equal(statusText("running", "default model", t).text, "$(sparkle) codecomp: default model");
  t.record(7.25);
  const s = statusText("running", "token-small", t);
  assert.equal(s.text, "$(sparkle) codecomp: token-small · 7.3 ms");
  assert.match(s.tooltip, /Last completion round trip 7\.3 ms/);
});

test("status text for other states", () => {
  const t = new LatencyTracker();
  assert.match(statusText("failed", "m", t).text, /^\$\(error\) codecomp: server failed/);
  assert.match(statusText("starting", "m", t).text, /starting/);
  assert.match(statusText("stopped", "m", t).text, /stopped/);
});
