/**
 * Settings of the extension and the object sent to the codecomp server.
 *
 * This module is free of the `vscode` API so that it can be unit-tested with node's test runner:
 * the extension passes in a reader that looks settings up in the real configuration.
 */

/** Languages the server knows, and the VS Code language ids that map onto them. */
export const SERVER_LANGUAGES = ["cpp", "javascript"] as const;
export type ServerLanguage = (typeof SERVER_LANGUAGES)[number];

/** VS Code language ids the extension activates for, each mapped to the server's language name. */
export const VSCODE_LANGUAGE_MAP: Readonly<Record<string, ServerLanguage>> = {
  cpp: "cpp",
  javascript: "javascript",
  javascriptreact: "javascript",
};

export type TraceSetting = "off" | "messages" | "verbose";

/** Log levels the server understands (Python logging level names, lower case), least verbose first. */
export const SERVER_LOG_LEVELS = ["error", "warning", "info", "debug"] as const;
export type ServerLogLevel = (typeof SERVER_LOG_LEVELS)[number];

/**
 * Settings sent to the server as the user wrote them: the server checks their types and bounds (the table in
 * lsp_server/settings.py, which package.json matches) and tells the user about a value it cannot take.
 */
export const PASSED_THROUGH = [
  "maxItems",
  "requestTimeoutMs",
  "maxDocumentKiB",
  "workspaceIndex",
  "maxIndexedFiles",
  "learnFromUser",
  "persistLearning",
  "simulateSlowEngineMs",
] as const;
export type PassedThrough = (typeof PASSED_THROUGH)[number];

/**
 * The object the server receives, both as `initializationOptions` and as the `settings` of
 * `workspace/didChangeConfiguration`, and as the answer to `workspace/configuration` for section `codecomp`.
 * Each `codecomp.*` setting the server reads appears once, under its own name.
 */
export type ServerSettings = {
  /** Model artifact folder; null means the model shipped with the package. */
  modelPath: string | null;
  /** `codecomp.enable` resolved for each language (it is language-overridable). */
  enable: Record<ServerLanguage, boolean>;
  inlineCompletions: boolean;
  /** `codecomp.logLevel`, raised by `codecomp.trace.server` when tracing. */
  logLevel: ServerLogLevel;
} & Partial<Record<PassedThrough, unknown>>;

/**
 * Reads one `codecomp.*` setting. `languageId` asks for the language-scoped value
 * (a `"[cpp]": {...}` block) where the setting is language-overridable.
 */
export type SettingReader = (key: string, languageId?: string) => unknown;

/** Maps the trace setting onto a server log level: tracing the protocol also wants the server's details. */
export function logLevelForTrace(trace: unknown): ServerLogLevel {
  if (trace === "verbose") {
    return "debug";
  }
  if (trace === "messages") {
    return "info";
  }
  return "warning";
}

/** The server's log level: `codecomp.logLevel`, or what the trace setting asks for when that is more verbose. */
export function serverLogLevel(configured: unknown, trace: unknown): ServerLogLevel {
  const level = SERVER_LOG_LEVELS.find((l) => l === configured) ?? "warning";
  if (trace !== "messages" && trace !== "verbose") {
    return level;
  }
  const fromTrace = logLevelForTrace(trace);
  return SERVER_LOG_LEVELS.indexOf(level) >= SERVER_LOG_LEVELS.indexOf(fromTrace) ? level : fromTrace;
}

/**
 * Whether completions are on for one server language.
 *
 * `codecomp.enable` is a boolean that can be overridden per language; an object such as
 * `{"cpp": false}` is also accepted, so that either way of writing it works.
 */
export function enabledFor(read: SettingReader, lang: ServerLanguage): boolean {
  const scoped = read("enable", lang);
  if (typeof scoped === "boolean") {
    return scoped;
  }
  if (scoped !== null && typeof scoped === "object") {
    const v = (scoped as Record<string, unknown>)[lang];
    return typeof v === "boolean" ? v : true;
  }
  return true;
}

/** Builds the settings object the server reads, from the user's `codecomp.*` settings. */
export function buildServerSettings(read: SettingReader, expand: (p: string) => string = (p) => p): ServerSettings {
  const rawModel = read("modelPath");
  const modelPath = typeof rawModel === "string" && rawModel.trim() !== "" ? expand(rawModel.trim()) : null;
  const enable = {} as Record<ServerLanguage, boolean>;
  for (const lang of SERVER_LANGUAGES) {
    enable[lang] = enabledFor(read, lang);
  }
  const inline = read("inlineCompletions");
  const settings: ServerSettings = {
    modelPath,
    enable,
    inlineCompletions: typeof inline === "boolean" ? inline : true,
    logLevel: serverLogLevel(read("logLevel"), read("trace.server")),
  };
  for (const key of PASSED_THROUGH) {
    const value = read(key);
    if (value !== undefined) {
      settings[key] = value;
    }
  }
  return settings;
}

/**
 * A short name for the model in the status bar: the last folder of the configured path; without one, "default
 * model" when the package ships one, else "no model" (the server then completes from the words of the file).
 */
export function modelDisplayName(modelPath: string | null, hasDefaultModel = true): string {
  if (!modelPath) {
    return hasDefaultModel ? "default model" : "no model";
  }
  const parts = modelPath.split(/[\\/]+/).filter((p) => p !== "");
  return parts.length > 0 ? parts[parts.length - 1] : modelPath;
}
