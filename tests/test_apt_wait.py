"""tests/apt-wait.sh (used by tests/run.sh): apt-get waits, bounded and with a message, while another package
manager holds apt's locks, and reports any other failure at once.  A fake apt-get on PATH plays the locks."""
from __future__ import annotations

import os
import subprocess
from pathlib import Path

SCRIPT = Path(__file__).resolve().parent / "apt-wait.sh"
FAKE = """#!/usr/bin/env bash
n=$(cat "$STATE" 2>/dev/null || echo 0); echo $((n + 1)) > "$STATE"
if [ "$MODE" = locked ] && [ "$n" -lt "$LOCKED_TIMES" ]; then
  echo "E: Could not get lock /var/lib/apt/lists/lock. It is held by process 4242 (apt-get)"; exit 100
fi
if [ "$MODE" = broken ]; then echo "E: Unable to locate package nonexistent"; exit 100; fi
echo "installed $*"
"""


def run(tmp_path: Path, mode: str, locked_times: int = 2, wait_seconds: int = 30) -> tuple[subprocess.CompletedProcess, int]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    fake = bin_dir / "apt-get"
    fake.write_text(FAKE)
    fake.chmod(0o755)
    state = tmp_path / "calls"
    state.unlink(missing_ok=True)
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "STATE": str(state), "MODE": mode,
           "LOCKED_TIMES": str(locked_times), "APT_WAIT_STEP": "0.1", "APT_WAIT_SECONDS": str(wait_seconds)}
    done = subprocess.run(["bash", str(SCRIPT), "install", "-y", "emacs-nox"], env=env, capture_output=True,
                          text=True, timeout=60)
    return done, int(state.read_text())


def test_it_waits_while_apt_is_locked_then_installs(tmp_path: Path) -> None:
    done, calls = run(tmp_path, "locked", locked_times=2)
    assert done.returncode == 0, done.stderr
    assert calls == 3
    assert done.stderr.count("apt is locked by another package manager") == 2
    assert "installed -o DPkg::Lock::Timeout=30 install -y emacs-nox" in done.stdout


def test_other_failures_are_reported_at_once(tmp_path: Path) -> None:
    done, calls = run(tmp_path, "broken")
    assert done.returncode == 1 and calls == 1
    assert "Unable to locate package" in done.stderr and "waiting" not in done.stderr


def test_the_wait_is_bounded(tmp_path: Path) -> None:
    done, calls = run(tmp_path, "locked", locked_times=10_000, wait_seconds=1)
    assert done.returncode == 1
    assert "Could not get lock" in done.stderr
    assert 2 <= calls < 100
