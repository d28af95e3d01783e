// End-to-end test of the codecomp VS Code extension in real VS Code (code-server), driven by Playwright in
// Debian's Chromium. It installs the packaged .vsix into a fresh extensions folder, opens the C++ and
// JavaScript fixtures, asks for completions and checks that items from the codecomp server appear, waits for
// inline ghost text, checks the status bar, and checks that a wrong interpreter is reported to the user.
//
// Run by scripts/ci-e2e.sh with `node --test`. Environment:
//   CODECOMP_E2E_PYTHON  interpreter with codecomp installed (default: ../../.venv/bin/python)
//   CODECOMP_E2E_VSIX    the packaged extension (default: ../codecomp.vsix)
//   CODECOMP_E2E_OUT     folder for screenshots and logs (default: ./out)
//   CODECOMP_E2E_CHROMIUM  browser executable (default: /usr/bin/chromium)
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn, execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

const HERE = path.dirname(fileURLToPath(import.meta.url));
const EXT_DIR = path.resolve(HERE, "..");
const REPO_DIR = path.resolve(EXT_DIR, "..");
const PYTHON = process.env.CODECOMP_E2E_PYTHON || path.join(REPO_DIR, ".venv", "bin", "python");
const VSIX = process.env.CODECOMP_E2E_VSIX || path.join(EXT_DIR, "codecomp.vsix");
const OUT = path.resolve(process.env.CODECOMP_E2E_OUT || path.join(HERE, "out"));
const CHROMIUM = process.env.CODECOMP_E2E_CHROMIUM || "/usr/bin/chromium";
const CODE_SERVER = path.join(HERE, "node_modules", "code-server", "out", "node", "entry.js");

// Generous: two shared cores, a cold code-server and a server that loads a model.
const STARTUP_MS = 120_000;
const SUGGEST_MS = 45_000;

/** @type {{tmp: string, port: number, server: import("node:child_process").ChildProcess | undefined, serverLog: string[], browser: import("playwright-core").Browser | undefined, page: import("playwright-core").Page | undefined, workspace: string}} */
const ctx = { tmp: "", port: 0, server: undefined, serverLog: [], browser: undefined, page: undefined, workspace: "" };

function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.on("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const { port } = /** @type {net.AddressInfo} */ (srv.address());
      srv.close(() => resolve(port));
    });
  });
}

function writeJson(file, value) {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, JSON.stringify(value, null, 2));
}

/** Waits until code-server answers HTTP on its port. */
async function waitForHttp(port, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  let lastError = "";
  while (Date.now() < deadline) {
    if (ctx.server?.exitCode !== null && ctx.server?.exitCode !== undefined) {
      throw new Error(`code-server exited with ${ctx.server.exitCode}:\n${ctx.serverLog.join("")}`);
    }
    try {
      const res = await fetch(`http://127.0.0.1:${port}/healthz`);
      if (res.ok) return;
      lastError = `HTTP ${res.status}`;
    } catch (err) {
      lastError = String(err);
    }
    await new Promise((r) => setTimeout(r, 500));
  }
  throw new Error(`code-server did not answer within ${timeoutMs} ms (${lastError}):\n${ctx.serverLog.join("")}`);
}

async function screenshot(name) {
  if (ctx.page === undefined) return;
  fs.mkdirSync(OUT, { recursive: true });
  await ctx.page.screenshot({ path: path.join(OUT, name) });
}

/** Opens a workspace file (its tab when it is already open, else through Quick Open) and focuses its editor. */
async function openFile(name) {
  const page = ctx.page;
  const tab = page.locator(`.tabs-container .tab[aria-label*="${name}"]`).first();
  if ((await tab.count()) > 0) {
    await tab.click();
  } else {
    await page.keyboard.press("Control+P");
    const input = page.locator(".quick-input-widget input");
    await input.waitFor({ state: "visible", timeout: 30_000 });
    await input.fill(name);
    // Wait for the file to be found before accepting, so Enter does not land on an empty list.
    await page.locator(".quick-input-widget .monaco-list-row", { hasText: name }).first().waitFor({ timeout: 30_000 });
    await page.keyboard.press("Enter");
  }
  await page.locator(`.tabs-container .tab.active[aria-label*="${name}"]`).first().waitFor({ timeout: 30_000 });
  await page.locator(".editor-instance .monaco-editor .view-lines").first().click();
}

/** Moves the cursor to the start of a 1-based line and opens a fresh line above it. */
async function newLineAbove(lineNumber) {
  const page = ctx.page;
  await page.keyboard.press("Control+G");
  const input = page.locator(".quick-input-widget input");
  await input.waitFor({ state: "visible", timeout: 15_000 });
  await input.fill(`:${lineNumber}`);
  await page.keyboard.press("Enter");
  await page.keyboard.press("Home");
  await page.keyboard.press("Enter");
  await page.keyboard.press("ArrowUp");
}

/** The aria-labels of the rows of the suggest widget. */
async function suggestLabels() {
  return ctx.page.$$eval(".suggest-widget .monaco-list-row", (rows) => rows.map((r) => r.getAttribute("aria-label") || r.textContent || ""));
}

/** Presses Control+Space until the suggest widget holds a row whose label includes `word`; returns all labels. */
async function completionsContaining(word) {
  const page = ctx.page;
  const deadline = Date.now() + SUGGEST_MS;
  let labels = [];
  while (Date.now() < deadline) {
    await page.keyboard.press("Control+Space");
    try {
      await page.locator(".suggest-widget .monaco-list-row", { hasText: word }).first().waitFor({ timeout: 5_000 });
      return await suggestLabels();
    } catch {
      labels = await suggestLabels();
      await page.keyboard.press("Escape");
    }
  }
  throw new Error(`no completion containing "${word}" appeared; rows seen: ${JSON.stringify(labels)}`);
}

/** Text of the codecomp status bar item. */
async function statusBarText() {
  const item = ctx.page.locator(".statusbar-item", { hasText: "codecomp" }).first();
  return (await item.textContent()) ?? "";
}

async function waitForServerRunning() {
  const page = ctx.page;
  const item = page.locator(".statusbar-item", { hasText: "codecomp" }).first();
  await item.waitFor({ timeout: STARTUP_MS });
  const deadline = Date.now() + STARTUP_MS;
  let text = "";
  while (Date.now() < deadline) {
    text = (await item.textContent()) ?? "";
    if (/codecomp: (?!starting|stopped|server failed|off)/.test(text)) return text;
    if (/server failed/.test(text)) break;
    await page.waitForTimeout(500);
  }
  await screenshot("server-not-running.png");
  const toasts = await page.locator(".notifications-toasts").allTextContents();
  throw new Error(`the codecomp server did not reach the running state; status bar: "${text}", notifications: ${JSON.stringify(toasts)}`);
}

/** Waits for inline ghost text after typing, triggering inline suggestions explicitly as well. */
async function waitForGhostText() {
  const page = ctx.page;
  const deadline = Date.now() + SUGGEST_MS;
  while (Date.now() < deadline) {
    const ghost = page.locator(".monaco-editor .ghost-text, .monaco-editor .ghost-text-decoration");
    if ((await ghost.count()) > 0) {
      return (await ghost.allTextContents()).join("");
    }
    await page.keyboard.press("Alt+Backslash"); // editor.action.inlineSuggest.trigger
    await page.waitForTimeout(1_000);
  }
  throw new Error("no inline ghost text appeared");
}

/** Wraps a test body so that a failure leaves a screenshot of the editor behind. */
function withScreenshot(name, fn) {
  return async () => {
    try {
      await fn();
    } catch (err) {
      await screenshot(`failed-${name}.png`).catch(() => undefined);
      throw err;
    }
  };
}

before(async () => {
  assert.ok(fs.existsSync(VSIX), `the packaged extension is missing: ${VSIX} (run "npm run package" in vscode-extension)`);
  assert.ok(fs.existsSync(CODE_SERVER), `code-server is not installed under ${HERE}/node_modules (run scripts/ci-e2e.sh)`);
  assert.ok(fs.existsSync(PYTHON), `no Python interpreter at ${PYTHON}; set CODECOMP_E2E_PYTHON`);
  fs.mkdirSync(OUT, { recursive: true });

  ctx.tmp = fs.mkdtempSync(path.join(os.tmpdir(), "codecomp-e2e-"));
  const userData = path.join(ctx.tmp, "user-data");
  const extensions = path.join(ctx.tmp, "extensions");
  ctx.workspace = path.join(ctx.tmp, "workspace");
  fs.cpSync(path.join(HERE, "fixtures"), ctx.workspace, { recursive: true });

  writeJson(path.join(userData, "User", "settings.json"), {
    "security.workspace.trust.enabled": false,
    "workbench.startupEditor": "none",
    "workbench.tips.enabled": false,
    "workbench.welcomePage.walkthroughs.openOnInstall": false,
    "extensions.ignoreRecommendations": true,
    "telemetry.telemetryLevel": "off",
    "update.mode": "none",
    // Only the codecomp server may propose words, so a suggestion seen is one of its items.
    "editor.wordBasedSuggestions": "off",
    "editor.quickSuggestions": { other: false, comments: false, strings: false },
    "editor.suggestOnTriggerCharacters": false,
    "editor.inlineSuggest.enabled": true,
    "editor.suggest.preview": false,
    "editor.suggest.showInlineDetails": true,
    // The built-in JavaScript service would also offer the fixture's identifiers.
    "javascript.suggest.enabled": false,
    "javascript.validate.enable": false,
    "typescript.suggest.enabled": false,
    "codecomp.trace.server": "messages",
    // What the server learns from accepted completions is written into the workspace's .codecomp/ folder, where
    // the learning test reads it.
    "codecomp.persistLearning": true,
  });
  writeJson(path.join(ctx.workspace, ".vscode", "settings.json"), { "codecomp.pythonPath": PYTHON });

  const install = execFileSync(
    process.execPath,
    [CODE_SERVER, "--user-data-dir", userData, "--extensions-dir", extensions, "--install-extension", VSIX],
    { encoding: "utf8", timeout: 120_000 },
  );
  fs.writeFileSync(path.join(OUT, "install-extension.log"), install);
  assert.match(install, /codecomp.*(successfully installed|was successfully)/i, `installing the .vsix failed:\n${install}`);

  ctx.port = await freePort();
  ctx.server = spawn(
    process.execPath,
    [
      CODE_SERVER,
      "--auth", "none",
      "--bind-addr", `127.0.0.1:${ctx.port}`,
      "--user-data-dir", userData,
      "--extensions-dir", extensions,
      "--disable-telemetry",
      "--disable-update-check",
      "--disable-workspace-trust",
      ctx.workspace,
    ],
    // Its own process group, so that the editor's helpers and the codecomp server end with it.
    { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, PASSWORD: "" }, detached: true },
  );
  ctx.server.stdout.on("data", (d) => ctx.serverLog.push(String(d)));
  ctx.server.stderr.on("data", (d) => ctx.serverLog.push(String(d)));
  await waitForHttp(ctx.port, STARTUP_MS);

  ctx.browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"],
  });
  ctx.page = await ctx.browser.newPage({ viewport: { width: 1400, height: 900 } });
  await ctx.page.goto(`http://127.0.0.1:${ctx.port}/?folder=${encodeURIComponent(ctx.workspace)}`);
  await ctx.page.locator(".monaco-workbench").waitFor({ timeout: STARTUP_MS });
});

after(async () => {
  try {
    await ctx.browser?.close();
  } finally {
    if (ctx.server?.pid !== undefined) {
      const group = -ctx.server.pid;
      const signalGroup = (sig) => {
        try {
          process.kill(group, sig);
        } catch {
          // the group is already gone
        }
      };
      signalGroup("SIGTERM");
      // Give the editor's processes a moment to end cleanly, then end whatever is left of the group.
      await new Promise((r) => setTimeout(r, 3_000));
      signalGroup("SIGKILL");
    }
    if (OUT && ctx.serverLog.length > 0) fs.writeFileSync(path.join(OUT, "code-server.log"), ctx.serverLog.join(""));
    // Keep the extension host's logs (they hold the codecomp output channel) next to the screenshots.
    const logs = path.join(ctx.tmp, "user-data", "logs");
    if (ctx.tmp && fs.existsSync(logs)) fs.cpSync(logs, path.join(OUT, "logs"), { recursive: true });
    if (ctx.tmp) fs.rmSync(ctx.tmp, { recursive: true, force: true });
  }
});

test("C++: completion items from the codecomp server appear", withScreenshot("cpp", async () => {
  await openFile("histogram.cpp");
  await waitForServerRunning();
  await newLineAbove(20); // before "return 0;" in main
  await ctx.page.keyboard.type("  int total = accum", { delay: 30 });
  const labels = await completionsContaining("accumulateBuckets");
  await screenshot("cpp-completion.png");
  console.log(`C++ completion rows: ${JSON.stringify(labels)}`);
  assert.ok(labels.some((l) => l.includes("accumulateBuckets")), JSON.stringify(labels));
  await ctx.page.keyboard.press("Escape");
  const status = await statusBarText();
  assert.match(status, /codecomp: .+ · \d+(\.\d)? ms/, `status bar shows no completion latency: "${status}"`);
  console.log(`status bar: ${JSON.stringify(status)}`);
}));

test("JavaScript: completion items from the codecomp server appear", withScreenshot("js", async () => {
  await openFile("invoice.js");
  await waitForServerRunning();
  await newLineAbove(11); // before the console.log line
  await ctx.page.keyboard.type("const grandTotal = computeInv", { delay: 30 });
  const labels = await completionsContaining("computeInvoiceTotal");
  await screenshot("js-completion.png");
  console.log(`JavaScript completion rows: ${JSON.stringify(labels)}`);
  assert.ok(labels.some((l) => l.includes("computeInvoiceTotal")), JSON.stringify(labels));
  await ctx.page.keyboard.press("Escape");
}));

/** The learning file the server writes into the workspace (persistLearning), once it holds an accepted item. */
async function learnedAcceptance(name) {
  const file = path.join(ctx.workspace, ".codecomp", "learning.json");
  const deadline = Date.now() + SUGGEST_MS;
  let last = "";
  while (Date.now() < deadline) {
    if (fs.existsSync(file)) {
      last = fs.readFileSync(file, "utf8");
      try {
        const data = JSON.parse(last);
        if (data.events?.accepted >= 1 && (data.names ?? []).some(([n]) => n === name)) return data;
      } catch {
        // being replaced: read it again
      }
    }
    await new Promise((r) => setTimeout(r, 500));
  }
  throw new Error(`no accepted completion of "${name}" was learned; learning file: ${last || "(none)"}`);
}

test("an accepted completion reaches the server, which learns from it", withScreenshot("learning", async () => {
  await openFile("invoice.js");
  await ctx.page.keyboard.press("End");
  await ctx.page.keyboard.press("Enter");
  await ctx.page.keyboard.type("const accepted = computeInvoiceTo", { delay: 30 });
  const labels = await completionsContaining("computeInvoiceTotal");
  assert.ok(labels[0].includes("computeInvoiceTotal"), `not the first item: ${JSON.stringify(labels)}`);
  // Enter accepts the selected item: VS Code inserts it and runs the item's command (codecomp.accepted),
  // which the language client sends to the server as workspace/executeCommand.
  await ctx.page.keyboard.press("Enter");
  await ctx.page.waitForFunction(
    // (the editor renders spaces as no-break spaces)
    () => Array.from(document.querySelectorAll(".editor-instance .view-line")).some((l) => (l.textContent || "").replace(/\u00a0/g, " ").includes("const accepted = computeInvoiceTotal")),
    undefined,
    { timeout: 15_000 },
  );
  await ctx.page.keyboard.type("(", { delay: 30 });
  const learned = await learnedAcceptance("computeInvoiceTotal");
  await screenshot("learning-accepted.png");
  console.log(`learned events: ${JSON.stringify(learned.events)}`);
  // The folder that holds it keeps itself out of version control.
  assert.match(fs.readFileSync(path.join(ctx.workspace, ".codecomp", ".gitignore"), "utf8"), /^\*$/m);
}));

test("inline ghost text from the model appears", withScreenshot("inline", async () => {
  // A fresh line with the start of a fixture identifier: the server proposes its continuation inline.
  await ctx.page.keyboard.press("End");
  await ctx.page.keyboard.press("Enter");
  await ctx.page.keyboard.type("const again = shippingLi", { delay: 30 });
  const ghost = await waitForGhostText();
  await screenshot("inline-ghost-text.png");
  console.log(`ghost text: ${JSON.stringify(ghost)}`);
  assert.ok(ghost.trim().length > 0, "ghost text is empty");
}));

/** Whether the model that the server will load has a naming part (then names must be proposed). */
function defaultModelHasNaming() {
  const manifest = path.join(REPO_DIR, "codecomp", "default_model", "manifest.json");
  if (!fs.existsSync(manifest)) return false;
  try {
    return Boolean(JSON.parse(fs.readFileSync(manifest, "utf8"))?.models?.naming);
  } catch {
    return false;
  }
}

test("suggest names for the symbol at the cursor", withScreenshot("names", async () => {
  await openFile("histogram.cpp");
  await ctx.page.keyboard.press("Control+G");
  const goto = ctx.page.locator(".quick-input-widget input");
  await goto.waitFor({ state: "visible", timeout: 15_000 });
  await goto.fill(":10:9"); // inside "runningTotal" in accumulateBuckets
  await ctx.page.keyboard.press("Enter");
  await ctx.page.keyboard.press("F1");
  const palette = ctx.page.locator(".quick-input-widget input");
  await palette.waitFor({ state: "visible", timeout: 15_000 });
  await palette.fill(">codecomp: Suggest Names");
  await ctx.page.locator(".quick-input-widget .monaco-list-row", { hasText: "Suggest Names" }).first().waitFor({ timeout: 15_000 });
  await ctx.page.keyboard.press("Enter");
  if (defaultModelHasNaming()) {
    const picker = ctx.page.locator(".quick-input-widget", { hasText: "codecomp: rename to" });
    await picker.waitFor({ timeout: SUGGEST_MS });
    const rows = await picker.locator(".monaco-list-row").allTextContents();
    await screenshot("suggest-names.png");
    assert.ok(rows.length > 0, "the name picker is empty");
    console.log(`proposed names: ${JSON.stringify(rows)}`);
    await ctx.page.keyboard.press("Enter");
    // The chosen name replaces every occurrence of the symbol.
    await ctx.page.waitForFunction(
      () => !Array.from(document.querySelectorAll(".editor-instance .view-line")).some((l) => (l.textContent || "").includes("runningTotal")),
      undefined,
      { timeout: 15_000 },
    );
  } else {
    // No naming model: the server offers no names, and the user is told so instead of seeing nothing.
    const toast = ctx.page.locator(".notifications-toasts .notification-toast", { hasText: "no name suggestions here" });
    await toast.first().waitFor({ timeout: SUGGEST_MS });
    await screenshot("suggest-names.png");
  }
}));

/** Runs a command from the command palette by its title. */
async function runCommand(title) {
  const page = ctx.page;
  await page.keyboard.press("F1");
  const palette = page.locator(".quick-input-widget input");
  await palette.waitFor({ state: "visible", timeout: 15_000 });
  await palette.fill(`>${title}`);
  await page.locator(".quick-input-widget .monaco-list-row", { hasText: title }).first().waitFor({ timeout: 15_000 });
  await page.keyboard.press("Enter");
}

test("the restart command brings the server back", withScreenshot("restart", async () => {
  await openFile("invoice.js");
  await runCommand("codecomp: Restart Language Server");
  await waitForServerRunning();
  await ctx.page.keyboard.press("End");
  await ctx.page.keyboard.press("Enter");
  await ctx.page.keyboard.type("const third = computeInv", { delay: 30 });
  const labels = await completionsContaining("computeInvoiceTotal");
  assert.ok(labels.some((l) => l.includes("computeInvoiceTotal")), JSON.stringify(labels));
  await ctx.page.keyboard.press("Escape");
}));

/** Presses Control+Space and returns the rows once the widget has settled on at least one. */
async function settledRows(word) {
  await ctx.page.keyboard.press("Control+Space");
  await ctx.page.locator(".suggest-widget .monaco-list-row", { hasText: word }).first().waitFor({ timeout: SUGGEST_MS });
  await ctx.page.waitForTimeout(1_000);
  return suggestLabels();
}

test("a changed setting reaches the running server (maxItems)", withScreenshot("maxitems", async () => {
  await openFile("histogram.cpp");
  await newLineAbove(21);
  await ctx.page.keyboard.type("  int again = hist", { delay: 30 });
  const before = await settledRows("istogram");
  assert.ok(before.length >= 2, `expected several items before the change: ${JSON.stringify(before)}`);
  await ctx.page.keyboard.press("Escape");
  writeJson(path.join(ctx.workspace, ".vscode", "settings.json"), { "codecomp.pythonPath": PYTHON, "codecomp.maxItems": 1 });
  await ctx.page.waitForTimeout(3_000); // VS Code notices the file, the client sends didChangeConfiguration
  const deadline = Date.now() + SUGGEST_MS;
  let after = await settledRows("istogram");
  while (after.length !== 1 && Date.now() < deadline) {
    await ctx.page.keyboard.press("Escape");
    await ctx.page.waitForTimeout(1_000);
    after = await settledRows("istogram");
  }
  await screenshot("max-items-1.png");
  assert.equal(after.length, 1, `maxItems 1 still gives ${JSON.stringify(after)}`);
  await ctx.page.keyboard.press("Escape");
}));

test("codecomp.enable turned off for JavaScript stops its completions", withScreenshot("enable", async () => {
  writeJson(path.join(ctx.workspace, ".vscode", "settings.json"), {
    "codecomp.pythonPath": PYTHON,
    "[javascript]": { "codecomp.enable": false },
  });
  // The client checks the setting before each request, so the change holds as soon as VS Code has read it.
  await ctx.page.waitForTimeout(3_000);
  await openFile("invoice.js");
  await ctx.page.keyboard.press("End");
  await ctx.page.keyboard.press("Enter");
  await ctx.page.keyboard.type("const fourth = computeInv", { delay: 30 });
  await ctx.page.keyboard.press("Control+Space");
  await ctx.page.waitForTimeout(4_000);
  const labels = await suggestLabels();
  await screenshot("javascript-disabled.png");
  assert.ok(!labels.some((l) => l.includes("computeInvoiceTotal")), `completions still offered: ${JSON.stringify(labels)}`);
  await ctx.page.keyboard.press("Escape");
  // C++ is still on.
  await openFile("histogram.cpp");
  await newLineAbove(21);
  await ctx.page.keyboard.type("  int yetAgain = accum", { delay: 30 });
  const cpp = await completionsContaining("accumulateBuckets");
  assert.ok(cpp.some((l) => l.includes("accumulateBuckets")), JSON.stringify(cpp));
  await ctx.page.keyboard.press("Escape");
}));

/** Closes the notifications of earlier steps, so that the next one is not hidden behind them. */
async function clearNotifications() {
  await runCommand("Notifications: Clear All Notifications");
  await ctx.page.waitForTimeout(500);
}

test("a wrong interpreter is reported with the install command", withScreenshot("python", async () => {
  await clearNotifications();
  // Changing codecomp.pythonPath restarts the server; the pre-start check must tell the user.
  const bogus = path.join(ctx.tmp, "no-such-python", "python3");
  writeJson(path.join(ctx.workspace, ".vscode", "settings.json"), { "codecomp.pythonPath": bogus });
  const toast = ctx.page.locator(".notifications-toasts .notification-toast", { hasText: "cannot run the Python interpreter" });
  await toast.first().waitFor({ timeout: STARTUP_MS });
  const text = (await toast.first().textContent()) ?? "";
  await screenshot("missing-python.png");
  assert.match(text, /pip install codecomp/);
  assert.match(await statusBarText(), /server failed/);
}));

test("a Python without the codecomp package is reported with the install command", withScreenshot("nopackage", async (t) => {
  const system = "/usr/bin/python3";
  let hasPackage = true;
  try {
    execFileSync(system, ["-c", "import lsp_server"], { stdio: "ignore" });
  } catch {
    hasPackage = false;
  }
  if (!fs.existsSync(system) || hasPackage) {
    t.skip(`${system} is missing or already has codecomp`);
    return;
  }
  await clearNotifications();
  writeJson(path.join(ctx.workspace, ".vscode", "settings.json"), { "codecomp.pythonPath": system });
  const toast = ctx.page.locator(".notifications-toasts .notification-toast", { hasText: "is not installed for" });
  await toast.first().waitFor({ timeout: STARTUP_MS });
  const text = (await toast.first().textContent()) ?? "";
  await screenshot("missing-package.png");
  assert.match(text, new RegExp(`${system.replace(/[/.]/g, "\\$&")} -m pip install codecomp`));
}));

test("a server that exits at start is reported, not silent", withScreenshot("crash", async () => {
  // An interpreter wrapper that passes the import check (`python -P -c ...`) but whose server (`python -P -m
  // lsp_server`) exits at once with an error.
  const wrapper = path.join(ctx.tmp, "crashing-python");
  fs.writeFileSync(
    wrapper,
    `#!/bin/sh\nif [ "$1" = "-c" ] || [ "$2" = "-c" ]; then exec "${PYTHON}" "$@"; fi\necho "codecomp-e2e: the model folder is unreadable" >&2\nexit 3\n`,
    { mode: 0o755 },
  );
  await clearNotifications();
  writeJson(path.join(ctx.workspace, ".vscode", "settings.json"), { "codecomp.pythonPath": wrapper });
  const toast = ctx.page.locator(".notifications-toasts .notification-toast", { hasText: "did not start" });
  await toast.first().waitFor({ timeout: STARTUP_MS });
  await screenshot("server-exits.png");
  // The notification quotes the server's own error, not the broken pipe that followed it.
  assert.match((await toast.first().textContent()) ?? "", /the model folder is unreadable/);
  assert.match(await statusBarText(), /server failed/);
  // Reported once, by the extension: the client's own vaguer messages stay in the output.
  assert.equal(await ctx.page.locator(".notifications-toasts .notification-toast", { hasText: "connection to server" }).count(), 0);
  // The server's own error is kept in the codecomp output for the user.
  await runCommand("codecomp: Show Output");
  await ctx.page.locator(".output-view, .panel", { hasText: "the model folder is unreadable" }).first().waitFor({ timeout: 30_000 });
}));
