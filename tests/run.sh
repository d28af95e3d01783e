#!/usr/bin/env bash
# Set up everything the test suite needs on a fresh machine, then run it.
#   bash tests/run.sh            # Python suite + VS Code extension unit tests + real-editor checks
# Environment:
#   VENV=.venv                   where the virtual environment lives (created if missing)
#   TORCH_SPEC=torch==2.13.0     the torch requirement installed before the project
#   PIP_EXTRA=                   extra pip arguments for the torch install.  Empty: PyPI's wheel, which on Linux
#                                is the CUDA build (several GB).  The CPU build:
#                                PIP_EXTRA='--index-url https://download.pytorch.org/whl/cpu'
#                                (README, "GPU and multi-GPU training", for CUDA builds)
#   SKIP_VSCODE_E2E=1            skip the code-server end-to-end test
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}
TORCH_SPEC=${TORCH_SPEC:-torch==2.13.0}
t0=$SECONDS
phase() { echo "== $1 ($((SECONDS - t0)) s)"; }

phase "system packages for the editor checks"
need=()
command -v emacs >/dev/null 2>&1 || need+=(emacs-nox elpa-eglot)
[ -d /usr/share/emacs/site-lisp/elpa/eglot-1.9 ] || ls -d /usr/share/emacs/site-lisp/elpa/eglot* >/dev/null 2>&1 || need+=(elpa-eglot)
if [ ${#need[@]} -gt 0 ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  # tests/apt-wait.sh waits (bounded, with a message) while another package manager holds apt's locks.
  apt_get() { bash tests/apt-wait.sh "$@"; }
  apt_get update -qq && DEBIAN_FRONTEND=noninteractive apt_get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

phase "python environment"
[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
"$VENV/bin/python" -m pip install -q --upgrade pip
# torch first, deliberately: its build (PyPI's by default, or the one PIP_EXTRA points at) is chosen here, and
# the `train` extra's pin on the version keeps it.
"$VENV/bin/python" -m pip install -q ${PIP_EXTRA:-} "$TORCH_SPEC"
"$VENV/bin/python" -m pip install -q -e '.[train,dev]'

phase "python tests"
set +e
"$VENV/bin/python" -m pytest -q -p no:cacheprovider "$@"
rc=$?
set -e
if [ $rc -eq 5 ]; then echo "pytest collected no tests: that is a failure"; exit 1; fi
[ $rc -eq 0 ] || exit $rc

if [ -f vscode-extension/scripts/ci-e2e.sh ] && [ -z "${SKIP_VSCODE_E2E:-}" ]; then
  phase "VS Code extension: unit tests, package, end-to-end in code-server"
  PATH="$PWD/$VENV/bin:$PATH" bash vscode-extension/scripts/ci-e2e.sh
fi
phase "done"
