"""Serving stays private: loading the shipped model and completing writes nothing under the user's home and
leaves onnxruntime's usage telemetry switched off."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

SCRIPT = """
import os
from codecomp.engine import Engine
assert os.environ.get("ORT_DISABLE_TELEMETRY") == "1"
e = Engine.load(None)
e.open("file:///a.cpp", "int counter = 0;\\nint main() { return cou", "cpp", 1)
print(len(e.complete("file:///a.cpp", 1, 23).items))
"""


def test_completion_writes_nothing_in_the_home_folder(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if k != "ORT_DISABLE_TELEMETRY"}
    env.update(HOME=str(home), XDG_CACHE_HOME=str(home / ".cache"))
    res = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, env=env, timeout=120)
    assert res.returncode == 0, res.stderr
    assert int(res.stdout.strip()) > 0
    assert list(home.rglob("*")) == [], f"files written under HOME: {list(home.rglob('*'))}"
