/** Unit tests of the settings the extension sends to the server. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import * as path from "node:path";
import { buildServerSettings, enabledFor, logLevelForTrace, modelDisplayName, serverLogLevel, SettingReader } from "../src/settings";

/** The settings the extension contributes (package.json), without the `codecomp.` prefix, with their defaults. */
function contributed(): Record<string, unknown> {
  const pkg = JSON.parse(readFileSync(path.join(__dirname, "..", "..", "package.json"), "utf8"));
  const out: Record<string, unknown> = {};
  for (const [key, schema] of Object.entries(pkg.contributes.configuration.properties as Record<string, { default: unknown }>)) {
    out[key.replace(/^codecomp\./, "")] = schema.default;
  }
  return out;
}

/** The extension's own settings: they choose how the server is started and traced, the server never sees them. */
const EXTENSION_ONLY = ["pythonPath", "trace.server"];

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

test("defaults give the shipped model and the contributed defaults", () => {
  const s = buildServerSettings(reader(contributed()));
  assert.deepEqual(s, {
    modelPath: null,
    enable: { cpp: true, javascript: true },
    inlineCompletions: true,
    logLevel: "warning",
    maxItems: 50,
    requestTimeoutMs: 1000,
    maxDocumentKiB: 2048,
    workspaceIndex: true,
    maxIndexedFiles: 20000,
    learnFromUser: true,
    persistLearning: false,
    simulateSlowEngineMs: 0,
  });
});

test("every contributed setting the server reads is sent once, under its own name", () => {
  const defaults = contributed();
  const sent = Object.keys(buildServerSettings(reader(defaults))).sort();
  const expected = Object.keys(defaults).filter((k) => !EXTENSION_ONLY.includes(k)).sort();
  assert.deepEqual(sent, expected);
});

test("user values are passed through and the model path is expanded", () => {
  const s = buildServerSettings(
    reader({ modelPath: "  runs/m1/artifact ", maxItems: 12, inlineCompletions: false, "trace.server": "verbose", workspaceIndex: false }),
    (p) => `/ws/${p}`,
  );
  assert.equal(s.modelPath, "/ws/runs/m1/artifact");
  assert.equal(s.maxItems, 12);
  assert.equal(s.inlineCompletions, false);
  assert.equal(s.workspaceIndex, false);
  assert.equal(s.logLevel, "debug");
});

test("language-scoped enable turns off one language only", () => {
  const read = reader({ enable: true, "[cpp]": { "codecomp.enable": false } });
  assert.deepEqual(buildServerSettings(read).enable, { cpp: false, javascript: true });
});

test("an object-valued enable is understood per language", () => {
  assert.equal(enabledFor(reader({ enable: { javascript: false } }), "javascript"), false);
  assert.equal(enabledFor(reader({ enable: { javascript: false } }), "cpp"), true);
  assert.equal(enabledFor(reader({ enable: "yes" }), "cpp"), true);
});

test("values the server checks are passed as written, so that it can tell the user what is wrong", () => {
  const s = buildServerSettings(reader({ maxItems: 10_000, maxIndexedFiles: "many" }));
  assert.equal(s.maxItems, 10_000);
  assert.equal(s.maxIndexedFiles, "many");
});

test("trace levels map onto server log levels", () => {
  assert.equal(logLevelForTrace("off"), "warning");
  assert.equal(logLevelForTrace("messages"), "info");
  assert.equal(logLevelForTrace("verbose"), "debug");
  assert.equal(logLevelForTrace(42), "warning");
});

test("the log level is the setting's, or the trace's when that is more verbose", () => {
  assert.equal(serverLogLevel("error", "off"), "error");
  assert.equal(serverLogLevel("debug", "messages"), "debug");
  assert.equal(serverLogLevel("warning", "verbose"), "debug");
  assert.equal(serverLogLevel("loud", "messages"), "info");
  assert.equal(buildServerSettings(reader({ logLevel: "info" })).logLevel, "info");
});

test("model display name is the artifact's folder name", () => {
  assert.equal(modelDisplayName(null), "default model");
  assert.equal(modelDisplayName(null, false), "no model");
  assert.equal(modelDisplayName("/m/x", false), "x");
  assert.equal(modelDisplayName("/home/u/runs/token-small/"), "token-small");
  assert.equal(modelDisplayName("C:\\models\\cpp-js"), "cpp-js");
});
