/** Unit tests of the settings the extension sends to the server. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { buildServerSettings, enabledFor, logLevelForTrace, modelDisplayName, sanitizeMaxItems, SettingReader } from "../src/settings";

/** A reader backed by a plain object, with language-scoped values under "[lang]" keys like settings.json. */
function reader(values: Record<string, unknown>): SettingReader {
  return (key, languageId) => {
    if (languageId !== undefined) {
      const scoped = values[`[${languageId}]`] as Record<string, unknown> | undefined;
      if (scoped !== undefined && `codecomp.${key}` in scoped) {
        return scoped[`codecomp.${key}`];
      }
    }
    return values[key];
  };
}

test("defaults give the shipped model, 50 items, everything on", () => {
  const s = buildServerSettings(reader({}));
  assert.deepEqual(s, { modelPath: null, maxItems: 50, enable: { cpp: true, javascript: true }, languages: { cpp: true, javascript: true }, inline: true, logLevel: "warning" });
});

test("user values are passed through and the model path is expanded", () => {
  const s = buildServerSettings(
    reader({ modelPath: "  runs/m1/artifact ", maxItems: 12, inlineCompletions: false, "trace.server": "verbose" }),
    (p) => `/ws/${p}`,
  );
  assert.equal(s.modelPath, "/ws/runs/m1/artifact");
  assert.equal(s.maxItems, 12);
  assert.equal(s.inline, false);
  assert.equal(s.logLevel, "debug");
});

test("language-scoped enable turns off one language only", () => {
  const read = reader({ enable: true, "[cpp]": { "codecomp.enable": false } });
  assert.deepEqual(buildServerSettings(read).enable, { cpp: false, javascript: true });
  assert.deepEqual(buildServerSettings(read).languages, { cpp: false, javascript: true });
});

test("an object-valued enable is understood per language", () => {
  assert.equal(enabledFor(reader({ enable: { javascript: false } }), "javascript"), false);
  assert.equal(enabledFor(reader({ enable: { javascript: false } }), "cpp"), true);
  assert.equal(enabledFor(reader({ enable: "yes" }), "cpp"), true);
});

test("maxItems is clamped and bad values fall back to the default", () => {
  assert.equal(sanitizeMaxItems(0), 1);
  assert.equal(sanitizeMaxItems(10_000), 500);
  assert.equal(sanitizeMaxItems(7.9), 7);
  assert.equal(sanitizeMaxItems("20"), 50);
  assert.equal(sanitizeMaxItems(Number.NaN), 50);
  assert.equal(sanitizeMaxItems(undefined), 50);
});

test("trace levels map onto server log levels", () => {
  assert.equal(logLevelForTrace("off"), "warning");
  assert.equal(logLevelForTrace("messages"), "info");
  assert.equal(logLevelForTrace("verbose"), "debug");
  assert.equal(logLevelForTrace(42), "warning");
});

test("model display name is the artifact's folder name", () => {
  assert.equal(modelDisplayName(null), "default model");
  assert.equal(modelDisplayName(null, false), "no model");
  assert.equal(modelDisplayName("/m/x", false), "x");
  assert.equal(modelDisplayName("/home/u/runs/token-small/"), "token-small");
  assert.equal(modelDisplayName("C:\\models\\cpp-js"), "cpp-js");
});
