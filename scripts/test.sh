#!/usr/bin/env bash
# Install everything the tests need on a fresh Debian/Ubuntu machine and run them.
# System packages: Xvfb and Mesa give napari's Qt/OpenGL canvas a virtual screen.
set -euo pipefail
cd "$(dirname "$0")/.."

apt_packages=(xvfb xauth libgl1-mesa-dri libegl1 libxkbcommon-x11-0 libxcb-cursor0 libxcb-icccm4
              libxcb-image0 libxcb-keysyms1 libxcb-randr0 libxcb-render-util0 libxcb-shape0
              libxcb-xinerama0 libxcb-xfixes0 libdbus-1-3 libfontconfig1)
missing=()
for p in "${apt_packages[@]}"; do
    dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

python3 -m venv .venv
.venv/bin/pip install -q --upgrade pip
.venv/bin/pip install -q -e '.[test]'
.venv/bin/ruff check src tests benchmarks
xvfb-run -a -s "-screen 0 1600x1200x24" .venv/bin/pytest "$@"
# the wheel is pure Python and installs and runs where no C/C++ compiler is reachable
./scripts/test_wheel_no_compiler.sh
