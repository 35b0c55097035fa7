#!/usr/bin/env bash
# Set up legwake on a fresh Debian / Raspberry Pi OS machine: system packages,
# a virtual environment in .venv, and the project with its test tools.
# Safe to run again: it installs only what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

# chromium and chromium-driver: the browser tests of the HTML report (tests/browser.py).
apt_packages=(mosquitto python3-venv python3-dev gcc chromium chromium-driver)
missing=()
for pkg in "${apt_packages[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if ((${#missing[@]})); then
    sudo_cmd=()
    [[ $(id -u) -eq 0 ]] || sudo_cmd=(sudo)
    echo "Installing system packages: ${missing[*]}"
    "${sudo_cmd[@]}" apt-get update
    DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y --no-install-recommends "${missing[@]}"
fi

python="${PYTHON:-python3}"
[[ -x .venv/bin/python ]] || "$python" -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e '.[dashboard,test]'
# The nerve model's kernels compiled ahead of time (the live agent then loads no LLVM).
.venv/bin/python -c 'from edge.model.aot import build; build()'
echo "legwake is set up: run scripts/test.sh for the tests, .venv/bin/legwake --help for the command line."
