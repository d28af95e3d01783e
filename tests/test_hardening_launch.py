"""The server's launch path must not import code from the folder it is started in.

Editors start language servers inside the user's workspace, which may come from anyone.  Each test starts the
server the way an editor (or the VS Code extension) does, with the working directory set to a hostile folder
whose Python files write a marker when imported: no marker may appear.
"""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks.lsp_client import LspProcess

# The command the VS Code extension runs (vscode-extension/src/python.ts, serverLaunch).
SAFE_SERVER = [sys.executable, "-P", "-m", "lsp_server"]


def hostile_workspace(tmp_path: Path, shadow_package: bool) -> tuple[Path, Path]:
    """A workspace that shadows modules the server imports; returns (workspace, marker folder).

    `shadow_package` adds `lsp_server/` and `codecomp.py`, which only `-P` (or the console script) can keep out:
    plain `-m` finds the package itself on the working directory before anything of ours runs.
    """
    ws, markers = tmp_path / "workspace", tmp_path / "markers"
    ws.mkdir()
    markers.mkdir()

    def payload(name: str) -> str:
        return f"open({str(markers / name)!r}, 'w').write('imported from the workspace')\n"

    for module in ("typer", "pygls", "lsprotocol", "click", "attrs", "cattrs", "numpy", "onnxruntime"):
        (ws / f"{module}.py").write_text(payload(module))
    if shadow_package:
        (ws / "codecomp.py").write_text(payload("codecomp"))
        (ws / "lsp_server").mkdir()
        (ws / "lsp_server" / "__init__.py").write_text(payload("lsp_server"))
        (ws / "lsp_server" / "__main__.py").write_text(payload("lsp_server_main"))
    return ws, markers


def run_help(cmd: list[str], cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(cmd + ["--help"], cwd=cwd, capture_output=True, text=True, timeout=120)


def test_plain_module_launch_drops_the_working_directory(tmp_path: Path) -> None:
    ws, markers = hostile_workspace(tmp_path, shadow_package=False)
    done = run_help([sys.executable, "-m", "lsp_server"], ws)
    assert sorted(p.name for p in markers.iterdir()) == [], done.stderr
    assert done.returncode == 0 and "--tcp" in done.stdout, done.stderr


@pytest.mark.parametrize("launch", ["extension", "console-script"])
def test_recommended_launches_import_nothing_from_the_workspace(tmp_path: Path, launch: str) -> None:
    ws, markers = hostile_workspace(tmp_path, shadow_package=True)
    if launch == "extension":
        cmd = SAFE_SERVER
    else:
        script = Path(sys.executable).with_name("codecomp")
        if not script.is_file():
            pytest.skip("the codecomp console script is not installed next to this interpreter")
        cmd = [str(script), "serve"]
    done = run_help(cmd, ws)
    assert sorted(p.name for p in markers.iterdir()) == [], done.stderr
    assert done.returncode == 0 and "--tcp" in done.stdout, done.stderr


def test_the_extension_launch_serves_from_a_hostile_workspace(tmp_path: Path) -> None:
    ws, markers = hostile_workspace(tmp_path, shadow_package=True)
    with LspProcess(SAFE_SERVER, cwd=str(ws)) as server:
        server.initialize()
        uri = (ws / "a.cpp").as_uri()
        server.open(uri, "int counter = 0;\nint x = cou", "cpp")
        resp = server.call("textDocument/completion", {"textDocument": {"uri": uri},
                                                       "position": {"line": 1, "character": 11}}, 30)
        assert resp is not None and "counter" in [i["label"] for i in resp["result"]["items"]]
        assert server.close() == 0
    assert sorted(p.name for p in markers.iterdir()) == []
