#!/usr/bin/env bash
# Builds, unit-tests and packages the codecomp VS Code extension, then runs its end-to-end test in real
# VS Code (code-server from npm) driven by Playwright in Debian's Chromium.
#
# Runs as root on a fresh Debian machine with Node 20 and npm; installs what it needs from Debian's and npm's
# registries (and PyPI when the repository has no virtual environment). Idempotent: npm downloads and the
# code-server native build are cached under vscode-extension/e2e/node_modules/ (git-ignored), so a second run
# only rebuilds the extension and runs the tests.
#
# Environment:
#   CODECOMP_E2E_PYTHON  interpreter that has codecomp installed (default: the python of $VENV, .venv or
#                        .venv-ci at the repo root that can import lsp_server, else a virtual environment made
#                        under vscode-extension/e2e/.pyvenv/ with the package's serving dependencies)
#   CODECOMP_E2E_OUT     folder for screenshots and logs (default: vscode-extension/e2e/out/)
set -euo pipefail

EXT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
REPO_DIR="$(cd "$EXT_DIR/.." && pwd)"
E2E_DIR="$EXT_DIR/e2e"
CODE_SERVER_VERSION="4.100.3"
SCRIPT_START=$(date +%s)
PHASE_START=$SCRIPT_START
PHASE_NAME=""
TIMINGS=()

phase() {
  local now
  now=$(date +%s)
  if [[ -n "$PHASE_NAME" ]]; then
    TIMINGS+=("$(printf '%-28s %4ds' "$PHASE_NAME" $((now - PHASE_START)))")
    echo "== ci-e2e: $PHASE_NAME took $((now - PHASE_START))s"
  fi
  PHASE_NAME="$1"
  PHASE_START=$now
  [[ -n "$PHASE_NAME" ]] && echo "== ci-e2e: $PHASE_NAME"
  return 0
}

summary() {
  local rc=$?
  phase ""
  echo "== ci-e2e: phase timings"
  for t in "${TIMINGS[@]}"; do echo "   $t"; done
  echo "== ci-e2e: total $(( $(date +%s) - SCRIPT_START ))s, exit code $rc"
}
trap summary EXIT

need_cmd() {
  command -v "$1" >/dev/null 2>&1 || { echo "ci-e2e: '$1' is required but not installed" >&2; exit 1; }
}
need_cmd node
need_cmd npm
if [[ "$(node -p 'process.versions.node.split(".")[0]')" != "20" ]]; then
  echo "ci-e2e: code-server $CODE_SERVER_VERSION needs Node 20, found $(node --version)" >&2
  exit 1
fi

# ---------------------------------------------------------------------------------------------------------
phase "apt packages"
APT_PACKAGES=(libkrb5-dev libxkbfile-dev libsecret-1-dev libx11-dev pkg-config ripgrep chromium make g++ python3 python3-venv)
missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]} > 0)); then
  echo "installing: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  apt-get install -y -q --no-install-recommends "${missing[@]}"
else
  echo "all present"
fi

# ---------------------------------------------------------------------------------------------------------
phase "extension: npm install"
cd "$EXT_DIR"
# npm ci wipes node_modules; skip it while the lock file is the one that node_modules was made from.
LOCK_SUM="$(sha256sum package-lock.json | cut -d' ' -f1)"
if [[ -f node_modules/.codecomp-lock-sha256 && "$(cat node_modules/.codecomp-lock-sha256)" == "$LOCK_SUM" ]]; then
  echo "cached (node_modules matches package-lock.json)"
else
  npm ci --no-audit --no-fund
  echo "$LOCK_SUM" > node_modules/.codecomp-lock-sha256
fi

phase "extension: unit tests"
npm test

phase "extension: package .vsix"
rm -f codecomp.vsix
npm run package </dev/null
test -s "$EXT_DIR/codecomp.vsix"

# ---------------------------------------------------------------------------------------------------------
phase "code-server + playwright"
STAMP="$E2E_DIR/node_modules/.codecomp-e2e-ready-$CODE_SERVER_VERSION"
cd "$E2E_DIR"
E2E_LOCK_SUM="$(sha256sum package.json package-lock.json | sha256sum | cut -d' ' -f1)"
if [[ ! -f "$STAMP" || "$(cat "$STAMP")" != "$E2E_LOCK_SUM" ]]; then
  # Install scripts are off: code-server's own postinstall would try a full native build, and we do its
  # steps by hand below with the rebuilds that matter for running headless.
  npm ci --ignore-scripts --no-audit --no-fund
  CS="$E2E_DIR/node_modules/code-server"
  # argon2 (password hashing, unused with --auth none but loaded at start) is hoisted to the e2e folder.
  npm rebuild argon2
  (
    cd "$CS/lib/vscode"
    npm install --omit=dev --ignore-scripts --no-audit --no-fund
    npm rebuild kerberos @parcel/watcher @vscode/spdlog @vscode/deviceid native-watchdog
    # node-pty's install script fails on a compile_commands.json step (it wants to fetch node-gyp) after
    # pty.node is built; the module works, so only the built file decides.
    npm rebuild node-pty >node-pty-rebuild.log 2>&1 || true
    test -f node_modules/node-pty/build/Release/pty.node || { cat node-pty-rebuild.log; exit 1; }
    # ripgrep's package would download its binary; use Debian's.
    mkdir -p node_modules/@vscode/ripgrep/bin
    cp /usr/bin/rg node_modules/@vscode/ripgrep/bin/
    # What code-server's postinstall.sh does after the install.
    rm -rf node_modules.asar && ln -s node_modules node_modules.asar
    (cd bin/remote-cli && rm -f code-server && ln -s code-linux.sh code-server)
    (cd bin/helpers && rm -f browser.sh && ln -s browser-linux.sh browser.sh)
    (cd extensions && npm install --omit=dev --no-audit --no-fund)
  )
  echo "$E2E_LOCK_SUM" > "$STAMP"
else
  echo "cached ($STAMP)"
fi

# ---------------------------------------------------------------------------------------------------------
phase "python server"
PY="${CODECOMP_E2E_PYTHON:-}"
if [[ -z "$PY" ]]; then
  # A virtual environment the caller already made ($VENV, relative to the repository root), else .venv.
  for candidate in ${VENV:+"$VENV"} .venv .venv-ci; do
    [[ "$candidate" = /* ]] || candidate="$REPO_DIR/$candidate"
    if [[ -x "$candidate/bin/python" ]] && "$candidate/bin/python" -c "import lsp_server" 2>/dev/null; then
      PY="$candidate/bin/python"
      break
    fi
  done
fi
if [[ -z "$PY" ]]; then
  # No ready environment: install the serving set of the repository (no training extras, no torch).
  VENV_E2E="$E2E_DIR/.pyvenv"
  [[ -x "$VENV_E2E/bin/python" ]] || python3 -m venv "$VENV_E2E"
  "$VENV_E2E/bin/python" -m pip install -q --upgrade pip
  "$VENV_E2E/bin/python" -m pip install -q -e "$REPO_DIR"
  PY="$VENV_E2E/bin/python"
fi
"$PY" -c "import lsp_server" || { echo "ci-e2e: $PY cannot import lsp_server" >&2; exit 1; }
echo "server python: $PY"

# ---------------------------------------------------------------------------------------------------------
phase "end-to-end test"
export CODECOMP_E2E_PYTHON="$PY"
export CODECOMP_E2E_VSIX="$EXT_DIR/codecomp.vsix"
export CODECOMP_E2E_OUT="${CODECOMP_E2E_OUT:-$E2E_DIR/out}"
node --test --test-reporter=spec "$E2E_DIR/run-e2e.mjs"
