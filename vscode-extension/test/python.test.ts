/** Unit tests of interpreter choice and of the pre-start check, run against real Python interpreters. */
import { test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { spawn } from "node:child_process";
import { checkServer, choosePython, expandPath, installCommand, OutputTail, parseCheckOutput, quoteForShell, safeCwd, serverLaunch, SERVER_MODULE } from "../src/python";

const PYTHON = process.env.CODECOMP_TEST_PYTHON ?? "python3";

test("the setting wins over the Python extension, which wins over python3", () => {
  assert.deepEqual(choosePython("/venv/bin/python", "/ext/python", "linux"), { command: "/venv/bin/python", source: "setting" });
  assert.deepEqual(choosePython("  ", "/ext/python", "linux"), { command: "/ext/python", source: "python-extension" });
  assert.deepEqual(choosePython(undefined, undefined, "linux"), { command: "python3", source: "default" });
  assert.deepEqual(choosePython(undefined, "", "win32"), { command: "python", source: "default" });
});

test("paths expand ${workspaceFolder}, ~ and relative paths, but leave bare commands alone", () => {
  assert.equal(expandPath("${workspaceFolder}/.venv/bin/python", "/ws", "/home/u"), "/ws/.venv/bin/python");
  assert.equal(expandPath("~/py/bin/python", "/ws", "/home/u"), "/home/u/py/bin/python");
  assert.equal(expandPath("${userHome}/x", undefined, "/home/u"), "/home/u/x");
  assert.equal(expandPath(".venv/bin/python", "/ws", "/home/u"), "/ws/.venv/bin/python");
  assert.equal(expandPath("python3.12", "/ws", "/home/u"), "python3.12");
  assert.equal(expandPath("", "/ws", "/home/u"), "");
});

test("install command quotes paths with spaces", () => {
  assert.equal(installCommand("/usr/bin/python3"), "/usr/bin/python3 -m pip install codecomp");
  assert.equal(quoteForShell("/My Apps/python"), '"/My Apps/python"');
});

test("a missing interpreter is reported with the install command", async () => {
  const missing = path.join(os.tmpdir(), "codecomp-no-such-dir", "python9");
  const r = await checkServer(missing, 10000);
  assert.equal(r.ok, false);
  if (!r.ok) {
    assert.equal(r.reason, "python-missing");
    assert.match(r.message, /cannot run the Python interpreter/);
    assert.match(r.message, /codecomp\.pythonPath/);
    // The advice names an interpreter that can exist, not the missing one.
    assert.match(r.message, /\(python3? -m pip install codecomp\)/);
  }
});

test("a missing package is reported as such", async () => {
  const r = await checkServer(PYTHON, 20000, "codecomp_module_that_does_not_exist");
  assert.equal(r.ok, false);
  if (!r.ok) {
    assert.equal(r.reason, "package-missing");
    assert.match(r.message, /is not installed for/);
    assert.match(r.message, new RegExp(`${PYTHON.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&")} -m pip install codecomp`));
  }
});

test("a module that fails on import is reported with its error", async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "codecomp-ext-test-"));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  fs.writeFileSync(path.join(dir, "codecomp_broken_mod.py"), "raise RuntimeError('model folder is unreadable')\n");
  const old = process.env.PYTHONPATH;
  process.env.PYTHONPATH = dir;
  t.after(() => {
    if (old === undefined) delete process.env.PYTHONPATH;
    else process.env.PYTHONPATH = old;
  });
  const r = await checkServer(PYTHON, 20000, "codecomp_broken_mod");
  assert.equal(r.ok, false);
  if (!r.ok) {
    assert.equal(r.reason, "broken");
    assert.match(r.message, /RuntimeError: model folder is unreadable/);
  }
});

test("an importable module passes the check and reports a version", async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "codecomp-ext-test-"));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  fs.writeFileSync(path.join(dir, "codecomp_ok_mod.py"), "X = 1\n");
  const old = process.env.PYTHONPATH;
  process.env.PYTHONPATH = dir;
  t.after(() => {
    if (old === undefined) delete process.env.PYTHONPATH;
    else process.env.PYTHONPATH = old;
  });
  const r = await checkServer(PYTHON, 20000, "codecomp_ok_mod");
  assert.equal(r.ok, true);
  if (r.ok) {
    assert.ok(r.version.length > 0);
    // Whatever codecomp this interpreter has (or not), the answer is a folder holding a manifest, or null.
    if (r.defaultModel !== null) {
      assert.ok(fs.existsSync(path.join(r.defaultModel, "manifest.json")), r.defaultModel);
    }
  }
});

test("the check's output is read from its last line", () => {
  assert.deepEqual(parseCheckOutput('noise\n{"version": "0.1.0", "defaultModel": "/p/default_model"}\n'), {
    version: "0.1.0",
    defaultModel: "/p/default_model",
  });
  assert.deepEqual(parseCheckOutput('{"version": "0.2.0", "defaultModel": null}'), { version: "0.2.0", defaultModel: null });
  assert.deepEqual(parseCheckOutput("0.3.0"), { version: "0.3.0", defaultModel: null });
});

test("the output tail keeps the server's last words across chunk boundaries", () => {
  const tail = new OutputTail(3);
  assert.equal(tail.lastLine(), "");
  tail.push("INFO starting\nTraceback (most recent call last):\n  File \"x.py\"");
  tail.push(", line 1\nRuntimeError: the model fol");
  assert.equal(tail.lastLine(), "RuntimeError: the model fol");
  tail.push("der is unreadable\n\n");
  assert.equal(tail.lastLine(), "RuntimeError: the model folder is unreadable");
  assert.equal(tail.lastError(), "RuntimeError: the model folder is unreadable");
  tail.push("INFO shutting down\n");
  assert.equal(tail.lastLine(), "INFO shutting down");
  assert.equal(tail.lastError(), "RuntimeError: the model folder is unreadable");
});

/**
 * A workspace that tries to shadow modules: `typer.py`, `lsp_server/` and a module named like the one the check
 * imports, each writing a marker file when imported. Markers go to a folder of their own.
 */
function hostileWorkspace(t: { after: (fn: () => void) => void }): { dir: string; markers: string } {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), "codecomp-hostile-"));
  t.after(() => fs.rmSync(root, { recursive: true, force: true }));
  const dir = path.join(root, "workspace");
  const markers = path.join(root, "markers");
  fs.mkdirSync(path.join(dir, "lsp_server"), { recursive: true });
  fs.mkdirSync(markers);
  const payload = (name: string): string => `open(${JSON.stringify(path.join(markers, name))}, "w").write("ran")\n`;
  fs.writeFileSync(path.join(dir, "typer.py"), payload("typer"));
  fs.writeFileSync(path.join(dir, "codecomp.py"), payload("codecomp"));
  fs.writeFileSync(path.join(dir, "json.py"), payload("json"));
  fs.writeFileSync(path.join(dir, "lsp_server", "__init__.py"), payload("lsp_server"));
  fs.writeFileSync(path.join(dir, "lsp_server", "__main__.py"), payload("lsp_server_main"));
  fs.writeFileSync(path.join(dir, "codecomp_hostile_mod.py"), payload("check_module"));
  return { dir, markers };
}

test("the server is launched with -P, outside any workspace", () => {
  const launch = serverLaunch("/venv/bin/python", "/ext/codecomp");
  assert.deepEqual(launch, { command: "/venv/bin/python", args: ["-P", "-m", SERVER_MODULE], cwd: "/ext/codecomp" });
  assert.equal(serverLaunch("python3", undefined).cwd, os.tmpdir());
  assert.equal(safeCwd(""), os.tmpdir());
});

test("a workspace cannot shadow the server's modules, even as its working directory", async (t) => {
  const { dir, markers } = hostileWorkspace(t);
  // The worst case: the launch command run with the workspace as working directory (the extension never
  // does that, but the flags alone must already be enough).
  const launch = serverLaunch(PYTHON, dir);
  const child = spawn(launch.command, launch.args, { cwd: launch.cwd, stdio: ["pipe", "ignore", "ignore"] });
  child.stdin?.end(); // EOF: a real server leaves at once; without codecomp the interpreter fails to import it
  const code = await new Promise<number | null>((resolve) => {
    const timer = setTimeout(() => child.kill(), 60000);
    child.on("exit", (c) => {
      clearTimeout(timer);
      resolve(c);
    });
  });
  assert.notEqual(code, null, "the server did not leave on EOF");
  assert.deepEqual(fs.readdirSync(markers), [], "a module from the workspace was imported");
});

test("the pre-start check does not import from the workspace either", async (t) => {
  const { dir, markers } = hostileWorkspace(t);
  const r = await checkServer(PYTHON, 20000, "codecomp_hostile_mod", dir);
  assert.equal(r.ok, false);
  if (!r.ok) {
    assert.equal(r.reason, "package-missing");
  }
  assert.deepEqual(fs.readdirSync(markers), []);
});
