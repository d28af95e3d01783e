"""The serving path never imports torch or datasets (a base install has neither).

A fresh interpreter imports the engine, the language server and the command line, loads a real exported
artifact, completes in a document, runs `codecomp complete`, and then checks `sys.modules`.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

SCRIPT = r"""
import json, sys
import codecomp.engine, codecomp.artifact, codecomp.cli, lsp_server, lsp_server.cli
try:
    import lsp_server.server
except ImportError:
    pass
from codecomp.engine import Engine
from typer.testing import CliRunner
engine = Engine.load(sys.argv[1])
text = open(sys.argv[2], encoding="utf-8").read()
engine.open("file:///cart.js", text, "javascript", 1)
res = engine.complete("file:///cart.js", 17, 9)
cli = CliRunner().invoke(codecomp.cli.app, ["complete", sys.argv[2] + ":18:10", "--model", sys.argv[1], "--json"])
heavy = sorted(m for m in sys.modules if m.split(".")[0] in ("torch", "datasets", "pyarrow"))
print(json.dumps({"engine": type(engine).__name__, "problem": engine.problem, "labels": [c.label for c in res.items],
                  "cli_exit": cli.exit_code, "heavy": heavy}))
"""


@pytest.fixture(scope="module")
def artifact(tmp_path_factory) -> Path:
    pytest.importorskip("torch")
    from test_export import make_artifact

    return make_artifact(tmp_path_factory.mktemp("notorch"), steps=5)


def test_serving_path_imports_no_torch(artifact: Path) -> None:
    sample = REPO / "codecomp" / "samples" / "shopping_cart.js"
    env = dict(os.environ, PYTHONPATH=str(REPO))
    proc = subprocess.run([sys.executable, "-c", SCRIPT, str(artifact), str(sample)], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert report["engine"] == "Engine", report["problem"]
    assert "items" in report["labels"]
    assert report["cli_exit"] == 0
    assert report["heavy"] == [], f"the serving path imported {report['heavy']}"
