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

/** Log levels the server understands (Python logging level names, lower case). */
export type ServerLogLevel = "warning" | "info" | "debug";

/**
 * The object the server receives, both as `initializationOptions` and as the `settings` of
 * `workspace/didChangeConfiguration`, and as the answer to `workspace/configuration` for section `codecomp`.
 */
export interface ServerSettings {
  /** Model artifact folder; null means the model shipped with the package. */
  modelPath: string | null;
  maxItems: number;
  enable: Record<ServerLanguage, boolean>;
  /** The same flags as `enable`, under the name the server's settings parser reads. */
  languages: Record<ServerLanguage, boolean>;
  inline: boolean;
  logLevel: ServerLogLevel;
}

/**
 * Reads one `codecomp.*` setting. `languageId` asks for the language-scoped value
 * (a `"[cpp]": {...}` block) where the setting is language-overridable.
 */
export type SettingReader = (key: string, languageId?: string) => unknown;

export const DEFAULT_MAX_ITEMS = 50;
const MAX_ITEMS_LIMIT = 500;

/** Maps the trace setting onto the server's log level: tracing the protocol also wants the server's details. */
export function logLevelForTrace(trace: unknown): ServerLogLevel {
  if (trace === "verbose") {
    return "debug";
  }
  if (trace === "messages") {
    return "info";
  }
  return "warning";
}

/** Clamps `maxItems` into 1..500; anything that is not a number falls back to the default. */
export function sanitizeMaxItems(value: unknown): number {
  const n = typeof value === "number" ? value : Number.NaN;
  if (!Number.isFinite(n)) {
    return DEFAULT_MAX_ITEMS;
  }
  return Math.min(MAX_ITEMS_LIMIT, Math.max(1, Math.floor(n)));
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
  return {
    modelPath,
    maxItems: sanitizeMaxItems(read("maxItems")),
    enable,
    languages: { ...enable },
    inline: typeof inline === "boolean" ? inline : true,
    logLevel: logLevelForTrace(read("trace.server")),
  };
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
