/**
 * VS Code entry point of codecomp: starts the codecomp language server (`python -P -m lsp_server`) over
 * stdio, keeps its settings in sync, shows the model and completion latency in the status bar, and adds
 * commands to restart the server, show its output and ask for name suggestions.
 */
import { ChildProcess, spawn } from "node:child_process";
import * as vscode from "vscode";
import {
  CodeAction as LspCodeAction,
  CodeActionRequest,
  DidChangeConfigurationNotification,
  LanguageClient,
  LanguageClientOptions,
  RevealOutputChannelOn,
  ServerOptions,
  State,
  CloseAction,
  ErrorAction,
} from "vscode-languageclient/node";
import { checkServer, choosePython, DEFAULT_PYTHON, OutputTail, expandPath, installCommand, PythonChoice, safeCwd, serverLaunch } from "./python";
import { buildServerSettings, modelDisplayName, ServerSettings, VSCODE_LANGUAGE_MAP } from "./settings";
import { LatencyTracker, ServerState, statusText } from "./status";
import { namePicks, REQUEST_KIND } from "./names";

const SECTION = "codecomp";

/**
 * The language client, except that a failed start is not announced by the client itself: the extension
 * reports it once, in its own words and with buttons that fix it, instead of a second, vaguer notification.
 */
class CodecompClient extends LanguageClient {
  override error(message: string, data?: any, showNotification: boolean | "force" = true): void {
    const ownReport = /couldn't create connection to server|connection to server is erroring/.test(message);
    super.error(message, data, ownReport ? false : showNotification);
  }
}
const DOCUMENT_SELECTOR = Object.keys(VSCODE_LANGUAGE_MAP).map((language) => ({ language }));

/** The running extension: one client at a time, restarted on demand. */
class Codecomp implements vscode.Disposable {
  private client: LanguageClient | undefined;
  private readonly output: vscode.LogOutputChannel;
  private readonly status: vscode.StatusBarItem;
  private readonly latency = new LatencyTracker();
  private state: ServerState = "stopped";
  private model = "default model";
  private python: PythonChoice | undefined;
  /** Whether the installed package ships a default model (learned by the pre-start check). */
  private hasDefaultModel = true;
  private starting: Promise<void> | undefined;
  private serverProcess: ChildProcess | undefined;

  constructor(private readonly context: vscode.ExtensionContext) {
    this.output = vscode.window.createOutputChannel("codecomp", { log: true });
    this.status = vscode.window.createStatusBarItem("codecomp.status", vscode.StatusBarAlignment.Right, 100);
    this.status.name = "codecomp";
    this.status.command = "codecomp.showOutput";
    this.updateStatus();
    this.status.show();
  }

  dispose(): void {
    this.status.dispose();
    this.output.dispose();
  }

  /** Reads the user's settings for the server from the VS Code configuration. */
  serverSettings(): ServerSettings {
    const folder = vscode.workspace.workspaceFolders?.[0]?.uri.fsPath;
    return buildServerSettings(
      (key, languageId) => {
        const scope = languageId !== undefined ? { languageId } : undefined;
        return vscode.workspace.getConfiguration(SECTION, scope).get(key);
      },
      (p) => expandPath(p, folder),
    );
  }

  /** Whether `codecomp.enable` is on for this document's language. */
  private enabledForDocument(document: vscode.TextDocument): boolean {
    const lang = VSCODE_LANGUAGE_MAP[document.languageId];
    return lang !== undefined && this.serverSettings().enable[lang];
  }

  /** Takes the model's name from the server when it says which model it loaded. */
  private noteServerModel(info: unknown): void {
    const model = (info as { model?: unknown } | undefined)?.model;
    if (typeof model === "string" && model.trim() !== "") {
      this.model = model.trim();
      this.updateStatus();
    }
  }

  private updateStatus(): void {
    const s = statusText(this.state, this.model, this.latency);
    this.status.text = s.text;
    this.status.tooltip = s.tooltip;
    this.status.backgroundColor = this.state === "failed" ? new vscode.ThemeColor("statusBarItem.errorBackground") : undefined;
  }

  private setState(state: ServerState): void {
    this.state = state;
    this.updateStatus();
  }

  /** Asks the Python extension for its interpreter; any failure just means "not available". */
  private async pythonFromExtension(): Promise<string | undefined> {
    const ext = vscode.extensions.getExtension("ms-python.python");
    if (ext === undefined) {
      return undefined;
    }
    try {
      const api = (ext.isActive ? ext.exports : await ext.activate()) as any;
      this.watchPythonExtension(api);
      const resource = vscode.workspace.workspaceFolders?.[0]?.uri;
      const envPath = api?.environments?.getActiveEnvironmentPath?.(resource);
      if (envPath !== undefined) {
        const resolved = await api.environments.resolveEnvironment?.(envPath);
        const exe: string | undefined = resolved?.executable?.uri?.fsPath ?? envPath.path;
        if (exe) {
          return exe;
        }
      }
      const details = api?.settings?.getExecutionDetails?.(resource);
      const cmd: string[] | undefined = details?.execCommand;
      return cmd && cmd.length > 0 ? cmd[0] : undefined;
    } catch (err) {
      this.output.warn(`Could not ask the Python extension for its interpreter: ${String(err)}`);
      return undefined;
    }
  }

  private watchingPythonExtension = false;

  /** Restarts the server when the user picks another interpreter in the Python extension and it is the one in use. */
  private watchPythonExtension(api: any): void {
    const onChange = api?.environments?.onDidChangeActiveEnvironmentPath;
    if (this.watchingPythonExtension || typeof onChange !== "function") {
      return;
    }
    this.watchingPythonExtension = true;
    this.context.subscriptions.push(
      onChange(() => {
        if (this.python?.source === "python-extension") {
          this.output.info("The Python extension's interpreter changed; restarting the server.");
          void this.restart();
        }
      }),
    );
  }

  private async resolvePython(): Promise<PythonChoice> {
    const folder = vscode.workspace.workspaceFolders?.[0]?.uri.fsPath;
    const configured = vscode.workspace.getConfiguration(SECTION).get<string>("pythonPath", "");
    const setting = configured.trim() === "" ? undefined : expandPath(configured, folder);
    const fromExt = setting === undefined ? await this.pythonFromExtension() : undefined;
    return choosePython(setting, fromExt);
  }

  /** Shows an error with the install command and buttons to fix it; never silent. */
  private async reportProblem(message: string, python?: string): Promise<void> {
    this.output.error(message);
    const actions = python !== undefined ? ["Copy Install Command", "Open Settings", "Show Output"] : ["Open Settings", "Show Output"];
    const choice = await vscode.window.showErrorMessage(message, ...actions);
    if (choice === "Copy Install Command" && python !== undefined) {
      await vscode.env.clipboard.writeText(installCommand(python));
    } else if (choice === "Open Settings") {
      await vscode.commands.executeCommand("workbench.action.openSettings", "codecomp.pythonPath");
    } else if (choice === "Show Output") {
      this.output.show(true);
    }
  }

  async start(): Promise<void> {
    if (this.starting !== undefined) {
      return this.starting;
    }
    this.starting = this.doStart().finally(() => {
      this.starting = undefined;
    });
    return this.starting;
  }

  private async doStart(): Promise<void> {
    this.setState("starting");
    const python = await this.resolvePython();
    this.python = python;
    this.output.info(`Using Python ${python.command} (from ${python.source}).`);
    const check = await checkServer(python.command, undefined, undefined, safeCwd(this.context.extensionPath));
    if (!check.ok) {
      this.output.error(check.detail);
      this.setState("failed");
      void this.reportProblem(check.message, check.reason === "python-missing" ? DEFAULT_PYTHON : python.command);
      return;
    }
    this.hasDefaultModel = check.defaultModel !== null;
    this.output.info(
      `codecomp ${check.version} found (${check.defaultModel !== null ? `default model in ${check.defaultModel}` : "no default model installed"}); starting the server.`,
    );

    const settings = this.serverSettings();
    this.model = modelDisplayName(settings.modelPath, this.hasDefaultModel);
    // The extension spawns the server itself so that it keeps the server's last stderr lines for its reports
    // (the client still copies stderr into the output channel).
    const tail = new OutputTail();
    // Never started in the workspace: see serverLaunch (a workspace must not be able to shadow its modules).
    const launch = serverLaunch(python.command, this.context.extensionPath);
    const serverOptions: ServerOptions = async () => {
      const child = spawn(launch.command, launch.args, {
        cwd: launch.cwd,
        env: { ...process.env, PYTHONUNBUFFERED: "1" },
        stdio: "pipe",
        windowsHide: true,
      });
      child.stderr?.on("data", (d: Buffer) => tail.push(d.toString("utf8")));
      // Without a listener a spawn error would be thrown in the extension host; keep it as the reason instead.
      child.on("error", (err) => tail.push(`${err.message}\n`));
      this.serverProcess = child;
      return child;
    };
    const why = (fallback: string): string => (tail.lastError() || fallback).replace(/[.\s]+$/, "");
    const clientOptions: LanguageClientOptions = {
      documentSelector: DOCUMENT_SELECTOR,
      outputChannel: this.output,
      revealOutputChannelOn: RevealOutputChannelOn.Never,
      initializationOptions: settings,
      initializationFailedHandler: (error) => {
        this.output.error(`Initialization failed: ${error instanceof Error ? error.message : String(error)}`);
        return false;
      },
      errorHandler: {
        // Write errors follow a server exit, which `closed` and doStart report; no extra notification.
        error: () => ({ action: ErrorAction.Continue, handled: true }),
        closed: () => {
          // A close while starting is reported once by doStart; only a crash of a running server is reported here.
          if (this.state === "running" && this.client === client) {
            this.setState("failed");
            void this.reportProblem(
              `codecomp: the language server stopped unexpectedly (${why("no error message")}). Its output is in "codecomp: Show Output"; then run "codecomp: Restart Language Server".`,
              python.command,
            );
          }
          return { action: CloseAction.DoNotRestart, handled: true };
        },
      },
      middleware: {
        provideCompletionItem: async (document, position, context, token, next) => {
          if (!this.enabledForDocument(document)) {
            return null; // no round trip for a language the user turned off
          }
          const t0 = performance.now();
          const result = await next(document, position, context, token);
          if (!token.isCancellationRequested) {
            this.latency.record(performance.now() - t0);
            this.updateStatus();
          }
          return result;
        },
        provideInlineCompletionItems: async (document, position, context, token, next) => {
          if (!this.enabledForDocument(document) || !vscode.workspace.getConfiguration(SECTION, document).get<boolean>("inlineCompletions", true)) {
            return null;
          }
          return next(document, position, context, token);
        },
        workspace: {
          // The server may pull its settings; answer in the same shape as initializationOptions.
          configuration: (params, token, next) => {
            return params.items.map((item) => (item.section === SECTION || item.section === undefined ? this.serverSettings() : null));
          },
        },
      },
    };

    // `client` is referenced by the handlers above, which only run after it is assigned.
    const client: LanguageClient = new CodecompClient("codecomp", "codecomp", serverOptions, clientOptions);
    this.client = client;
    client.onDidChangeState((e) => {
      if (e.newState === State.Running) {
        this.setState("running");
      } else if (e.newState === State.Stopped && this.state === "running") {
        this.setState("stopped");
      }
    });
    let startError: unknown;
    try {
      await client.start();
    } catch (err) {
      startError = err;
    }
    if (startError !== undefined || !client.isRunning()) {
      this.setState("failed");
      const transport = startError instanceof Error ? startError.message : startError !== undefined ? String(startError) : "the server exited";
      // Give the server's last stderr lines a moment to arrive: they say why, the transport error does not.
      await new Promise((r) => setTimeout(r, 300));
      void this.reportProblem(
        `codecomp: the language server did not start: ${why(transport)}. Its full output is in "codecomp: Show Output".`,
        python.command,
      );
      return;
    }
    const info = client.initializeResult;
    // The server may name its model in the capabilities, and later in a `codecomp/status` notification.
    this.noteServerModel((info?.capabilities?.experimental as { codecomp?: unknown } | undefined)?.codecomp);
    client.onNotification("codecomp/status", (params: unknown) => this.noteServerModel(params));
    this.output.info(`Server ${info?.serverInfo?.name ?? "codecomp"} ${info?.serverInfo?.version ?? ""} running with ${this.model}.`);
    this.setState("running");
  }

  async stop(): Promise<void> {
    const client = this.client;
    this.client = undefined;
    if (client !== undefined && client.needsStop()) {
      try {
        await client.stop(5000);
      } catch (err) {
        this.output.warn(`Stopping the server: ${String(err)}`);
      }
    }
    // A server that ignored shutdown/exit must not outlive the client.
    const proc = this.serverProcess;
    this.serverProcess = undefined;
    if (proc !== undefined && proc.exitCode === null && proc.signalCode === null) {
      proc.kill();
    }
    this.setState("stopped");
  }

  async restart(): Promise<void> {
    await this.starting;
    await this.stop();
    await this.start();
  }

  /** Sends the new settings to the server, or restarts it when the interpreter changed. */
  async onConfigurationChanged(e: vscode.ConfigurationChangeEvent): Promise<void> {
    if (!e.affectsConfiguration(SECTION)) {
      return;
    }
    if (e.affectsConfiguration(`${SECTION}.pythonPath`)) {
      this.output.info("codecomp.pythonPath changed; restarting the server.");
      await this.restart();
      return;
    }
    const settings = this.serverSettings();
    this.model = modelDisplayName(settings.modelPath, this.hasDefaultModel);
    this.updateStatus();
    const inlineAdvertised = this.client?.initializeResult?.capabilities?.inlineCompletionProvider !== undefined;
    if (this.client?.isRunning() && settings.inlineCompletions && !inlineAdvertised) {
      // The server registers inline completion only when it starts with it on.
      this.output.info("Inline completions turned on; restarting the server.");
      await this.restart();
      return;
    }
    if (this.client?.isRunning()) {
      await this.client.sendNotification(DidChangeConfigurationNotification.type, { settings });
    } else if (this.state === "failed" || this.state === "stopped") {
      await this.start();
    }
  }

  showOutput(): void {
    this.output.show(true);
  }

  /** Asks the server for naming code actions at the cursor and applies the one the user picks. */
  async suggestNames(): Promise<void> {
    const editor = vscode.window.activeTextEditor;
    if (editor === undefined || !(editor.document.languageId in VSCODE_LANGUAGE_MAP)) {
      void vscode.window.showInformationMessage("codecomp: open a C++ or JavaScript file and put the cursor on a name.");
      return;
    }
    const client = this.client;
    if (client === undefined || !client.isRunning()) {
      void vscode.window.showWarningMessage("codecomp: the server is not running. Run \"codecomp: Restart Language Server\".");
      return;
    }
    const c2p = client.code2ProtocolConverter;
    const p2c = client.protocol2CodeConverter;
    const range = editor.selection.isEmpty ? new vscode.Range(editor.selection.active, editor.selection.active) : editor.selection;
    const result = await vscode.window.withProgress(
      { location: vscode.ProgressLocation.Window, title: "codecomp: suggesting names" },
      () =>
        client.sendRequest(CodeActionRequest.type, {
          textDocument: c2p.asTextDocumentIdentifier(editor.document),
          range: c2p.asRange(range),
          context: { diagnostics: [], only: [REQUEST_KIND], triggerKind: 1 },
        }),
    );
    const actions = (result ?? []).filter((a): a is LspCodeAction => "title" in a && !("command" in a && typeof a.command === "string"));
    const picks = namePicks(actions);
    if (picks.length === 0) {
      const noModel = !this.hasDefaultModel && this.serverSettings().modelPath === null;
      void vscode.window.showInformationMessage(
        noModel
          ? "codecomp: no name suggestions here: names come from a trained model, and none is installed (set codecomp.modelPath)."
          : "codecomp: no name suggestions here; put the cursor on a variable, parameter or function name.",
      );
      return;
    }
    const chosen = await vscode.window.showQuickPick(picks, { title: "codecomp: rename to", placeHolder: "Pick a name suggested by the model" });
    if (chosen === undefined) {
      return;
    }
    const action = await p2c.asCodeAction(chosen.action, undefined);
    if (action.edit !== undefined) {
      await vscode.workspace.applyEdit(action.edit);
    }
    if (action.command !== undefined) {
      await vscode.commands.executeCommand(action.command.command, ...(action.command.arguments ?? []));
    }
  }
}

let instance: Codecomp | undefined;

export async function activate(context: vscode.ExtensionContext): Promise<void> {
  const cc = new Codecomp(context);
  instance = cc;
  context.subscriptions.push(
    cc,
    vscode.commands.registerCommand("codecomp.restartServer", () => cc.restart()),
    vscode.commands.registerCommand("codecomp.showOutput", () => cc.showOutput()),
    vscode.commands.registerCommand("codecomp.suggestNames", () => cc.suggestNames()),
    vscode.workspace.onDidChangeConfiguration((e) => cc.onConfigurationChanged(e)),
  );
  await cc.start();
}

export async function deactivate(): Promise<void> {
  await instance?.stop();
  instance = undefined;
}
