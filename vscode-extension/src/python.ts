/**
 * Finding the Python interpreter that runs the codecomp server, and checking that it can.
 *
 * Free of the `vscode` API (uses only node), so the unit tests run it against real interpreters.
 */
import { execFile } from "node:child_process";
import * as os from "node:os";
import * as path from "node:path";

/** Where the interpreter came from, shown in messages so the user knows which setting to fix. */
export type PythonSource = "setting" | "python-extension" | "default";

export interface PythonChoice {
  command: string;
  source: PythonSource;
}

/** The interpreter named in install advice when the configured one does not exist. */
export const DEFAULT_PYTHON = process.platform === "win32" ? "python" : "python3";

/** The module the server is started from (`python -P -m lsp_server`). */
export const SERVER_MODULE = "lsp_server";

/**
 * Interpreter flags for every Python the extension runs. `-P` (Python 3.11+, which codecomp requires) keeps
 * the working directory and the script's folder off the module search path: with plain `-m` or `-c`, a
 * `typer.py` or `lsp_server/` in an untrusted workspace would be imported instead of the real module.
 * Unlike `-I` it keeps PYTHONPATH and the user's site-packages, where `pip install --user` puts codecomp.
 */
export const SAFE_PYTHON_FLAGS: readonly string[] = ["-P"];

/** How to start the server process: what `spawn` receives. */
export interface ServerLaunch {
  command: string;
  args: string[];
  /** Never a workspace folder: the extension's own folder, else the OS temporary folder. */
  cwd: string;
}

/**
 * The command line that starts the server. The working directory is chosen by the extension, not by the
 * workspace, as a second guard besides `-P` (the server reads no files relative to it: paths in settings are
 * made absolute before they are sent).
 */
export function serverLaunch(python: string, extensionDir: string | undefined, module: string = SERVER_MODULE): ServerLaunch {
  return { command: python, args: [...SAFE_PYTHON_FLAGS, "-m", module], cwd: safeCwd(extensionDir) };
}

/** A working directory that no workspace controls: the extension's folder when known, else the temp folder. */
export function safeCwd(extensionDir: string | undefined): string {
  return extensionDir !== undefined && extensionDir !== "" ? extensionDir : os.tmpdir();
}

/** How to install the server into an interpreter; shown verbatim in notifications. */
export function installCommand(python: string): string {
  return `${quoteForShell(python)} -m pip install codecomp`;
}

/** Quotes a path for a POSIX or Windows shell when it holds spaces or shell characters. */
export function quoteForShell(p: string): string {
  return /^[\w@%+=:,./\\-]+$/.test(p) ? p : `"${p.replace(/"/g, '\\"')}"`;
}

/**
 * Expands `${workspaceFolder}`, `${userHome}` and a leading `~` in a configured path.
 * A relative result is taken relative to the workspace folder when there is one.
 */
export function expandPath(raw: string, workspaceFolder: string | undefined, home: string = os.homedir()): string {
  let p = raw.trim();
  if (p === "") {
    return p;
  }
  if (workspaceFolder !== undefined) {
    p = p.split("${workspaceFolder}").join(workspaceFolder);
  }
  p = p.split("${userHome}").join(home);
  if (p === "~" || p.startsWith("~/") || p.startsWith("~\\")) {
    p = path.join(home, p.slice(1));
  }
  // A bare command name such as `python3` is looked up on PATH, so it is left alone.
  const isBareName = !p.includes("/") && !p.includes("\\");
  if (!isBareName && !path.isAbsolute(p) && workspaceFolder !== undefined) {
    p = path.resolve(workspaceFolder, p);
  }
  return p;
}

/**
 * Picks the interpreter: the `codecomp.pythonPath` setting, then the Python extension's
 * interpreter, then `python3` (`python` on Windows).
 */
export function choosePython(setting: string | undefined, fromPythonExtension: string | undefined, platform: string = process.platform): PythonChoice {
  if (setting !== undefined && setting.trim() !== "") {
    return { command: setting.trim(), source: "setting" };
  }
  if (fromPythonExtension !== undefined && fromPythonExtension.trim() !== "") {
    return { command: fromPythonExtension.trim(), source: "python-extension" };
  }
  return { command: platform === "win32" ? "python" : "python3", source: "default" };
}

export type ServerCheck =
  /** `defaultModel`: folder of the model shipped with the package, null when none is installed. */
  | { ok: true; version: string; defaultModel: string | null }
  | { ok: false; reason: "python-missing" | "package-missing" | "broken"; message: string; detail: string };

/** Runs a program in `cwd` and collects its output; never rejects. */
function run(command: string, args: string[], timeoutMs: number, cwd: string): Promise<{ code: number | null; errno?: string; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(command, args, { cwd, timeout: timeoutMs, windowsHide: true, encoding: "utf8" }, (error, stdout, stderr) => {
      if (error) {
        const errno = (error as NodeJS.ErrnoException).code;
        resolve({
          code: typeof errno === "number" ? errno : (error as { code?: number }).code ?? null,
          errno: typeof errno === "string" ? errno : undefined,
          stdout: String(stdout ?? ""),
          stderr: String(stderr ?? "") || error.message,
        });
        return;
      }
      resolve({ code: 0, stdout: String(stdout), stderr: String(stderr) });
    });
  });
}

/**
 * Python source run by the check: imports the server, then prints one JSON line with the codecomp version
 * and the shipped model's folder (null when the package has none, so completions come from the fallback).
 */
const CHECK_SCRIPT = [
  "import importlib, json, os",
  `importlib.import_module(${JSON.stringify(SERVER_MODULE)})`,
  "try:",
  "    from importlib.metadata import version",
  "    v = version('codecomp')",
  "except Exception:",
  "    v = 'unknown'",
  "try:",
  "    from codecomp.artifact import default_path",
  "    d = str(default_path())",
  "    d = d if os.path.isfile(os.path.join(d, 'manifest.json')) else None",
  "except Exception:",
  "    d = None",
  "print(json.dumps({'version': v, 'defaultModel': d}))",
].join("\n");

/** Reads the check's last output line; tolerant of extra output printed by the import. */
export function parseCheckOutput(stdout: string): { version: string; defaultModel: string | null } {
  const lines = stdout.trim().split(/\r?\n/);
  const last = lines[lines.length - 1] ?? "";
  try {
    const parsed = JSON.parse(last) as { version?: unknown; defaultModel?: unknown };
    return {
      version: typeof parsed.version === "string" && parsed.version !== "" ? parsed.version : "unknown",
      defaultModel: typeof parsed.defaultModel === "string" && parsed.defaultModel !== "" ? parsed.defaultModel : null,
    };
  } catch {
    return { version: last.trim() || "unknown", defaultModel: null };
  }
}

/**
 * Checks before starting the server that `python` exists and can import the server, so that a missing
 * interpreter or package is reported with the command that fixes it rather than as a dead connection.
 * It runs with the same guards as the server (`-P`, a working directory outside the workspace), since it
 * imports the same modules. `module` and `cwd` are only changed by the tests.
 */
export async function checkServer(python: string, timeoutMs = 20000, module: string = SERVER_MODULE, cwd: string = safeCwd(undefined)): Promise<ServerCheck> {
  const script = module === SERVER_MODULE ? CHECK_SCRIPT : CHECK_SCRIPT.replace(JSON.stringify(SERVER_MODULE), JSON.stringify(module));
  const r = await run(python, [...SAFE_PYTHON_FLAGS, "-c", script], timeoutMs, cwd);
  if (r.code === 0) {
    return { ok: true, ...parseCheckOutput(r.stdout) };
  }
  if (r.errno === "ENOENT" || r.errno === "EACCES") {
    return {
      ok: false,
      reason: "python-missing",
      message: `codecomp: cannot run the Python interpreter "${python}". Install Python 3.10 or newer with the codecomp package (${installCommand(DEFAULT_PYTHON)}), or set "codecomp.pythonPath" to an interpreter that has it.`,
      detail: r.stderr,
    };
  }
  if (/[Uu]nknown option:? -P/.test(r.stderr)) {
    // Interpreters before 3.11 lack -P; codecomp needs 3.11 anyway, so say that rather than "broken".
    return {
      ok: false,
      reason: "python-missing",
      message: `codecomp: ${python} is older than Python 3.11, which codecomp needs. Set "codecomp.pythonPath" to Python 3.11 or newer with the codecomp package (${installCommand(DEFAULT_PYTHON)}).`,
      detail: r.stderr,
    };
  }
  if (/ModuleNotFoundError|No module named/.test(r.stderr)) {
    return {
      ok: false,
      reason: "package-missing",
      message: `codecomp: the Python package "codecomp" is not installed for ${python}. Install it with: ${installCommand(python)}`,
      detail: r.stderr,
    };
  }
  return {
    ok: false,
    reason: "broken",
    message: `codecomp: ${python} could not load the codecomp server (${lastLine(r.stderr) || `exit code ${r.code}`}). Reinstall it with: ${installCommand(python)}`,
    detail: r.stderr,
  };
}

function lastLine(text: string): string {
  const lines = text.trim().split(/\r?\n/).filter((l) => l.trim() !== "");
  return lines.length > 0 ? lines[lines.length - 1].trim() : "";
}

/**
 * Keeps the last lines a process wrote to stderr, so that a failed start can be reported with the server's
 * own last words rather than the transport error that followed them.
 */
export class OutputTail {
  private lines: string[] = [];
  private partial = "";

  constructor(private readonly keep = 20) {}

  push(chunk: string): void {
    const parts = (this.partial + chunk).split(/\r?\n/);
    this.partial = parts.pop() ?? "";
    for (const line of parts) {
      if (line.trim() !== "") {
        this.lines.push(line.trimEnd());
      }
    }
    if (this.lines.length > this.keep) {
      this.lines.splice(0, this.lines.length - this.keep);
    }
  }

  /** The last non-empty line, including an unterminated one; "" when nothing was written. */
  lastLine(): string {
    if (this.partial.trim() !== "") {
      return this.partial.trim();
    }
    return this.lines.length > 0 ? this.lines[this.lines.length - 1].trim() : "";
  }

  /** The last line that looks like an error (`Error`, `error:`, a Python exception), else the last line. */
  lastError(): string {
    const all = this.partial.trim() !== "" ? [...this.lines, this.partial.trim()] : this.lines;
    for (let i = all.length - 1; i >= 0; i--) {
      if (/(error|exception|traceback|failed|cannot|no such)/i.test(all[i]) && !/^\s*(INFO|DEBUG)\b/.test(all[i])) {
        return all[i].trim();
      }
    }
    return this.lastLine();
  }
}
