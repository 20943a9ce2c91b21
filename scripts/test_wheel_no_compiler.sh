#!/usr/bin/env bash
# Build the wheel, install it into a fresh virtual environment with no C or C++ compiler
# reachable, and run the CLI demo there: what napari's plugin installer does on a machine
# without a compiler. Checks the wheel is pure Python and that napari is not needed.
# Usage: scripts/test_wheel_no_compiler.sh [WORKDIR]   (default: a temporary folder, removed afterwards)
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)
python=${PYTHON:-$repo/.venv/bin/python}

work=${1:-}
if [ -z "$work" ]; then
    work=$(mktemp -d)
    trap 'rm -rf "$work"' EXIT
fi
mkdir -p "$work"

# 1. the wheel: built by pip from this checkout, no dependencies
"$python" -m pip wheel -q --no-deps --no-build-isolation -w "$work/dist" "$repo" 2>/dev/null \
    || "$python" -m pip wheel -q --no-deps -w "$work/dist" "$repo"
wheel=$(ls "$work"/dist/napari_crf_label-*.whl)
case "$wheel" in
    *-py3-none-any.whl) echo "wheel: $(basename "$wheel") (pure Python)";;
    *) echo "FAIL: wheel is not py3-none-any: $wheel" >&2; exit 1;;
esac

# 2. a PATH holding only the tools the install needs (the venv's own bin is put first
#    below), and CC/CXX pointing at a command that fails: no compiler can be found
tools="$work/tools"
mkdir -p "$tools"
for t in sh bash env uname ls cat rm mkdir dirname basename mktemp date grep; do
    ln -sf "$(command -v "$t")" "$tools/$t"
done
"$python" -m venv "$work/venv"
export PATH="$work/venv/bin:$tools"
export CC=false CXX=false
unset PYTHONPATH
for compiler in cc gcc c++ g++ clang x86_64-linux-gnu-gcc; do
    if command -v "$compiler" >/dev/null 2>&1; then
        echo "FAIL: a compiler is reachable: $(command -v "$compiler")" >&2; exit 1
    fi
done
echo "no C/C++ compiler on PATH; CC=$CC CXX=$CXX"

# 3. install the wheel as napari's installer would (pip, dependencies from the index)
pip install -q "$wheel"
if python -c "import napari" 2>/dev/null; then
    echo "FAIL: napari was installed as a dependency" >&2; exit 1
fi
if python -c "import pydensecrf" 2>/dev/null; then
    echo "FAIL: pydensecrf was installed as a dependency" >&2; exit 1
fi

# 4. the CLI demo, run twice: the second run must reuse the JIT cache written by the first
out="$work/demo"
start=$(date +%s)
napari-crf-label demo -o "$out" > "$work/demo1.log"
mid=$(date +%s)
napari-crf-label demo -o "$out" --overwrite > "$work/demo2.log"
end=$(date +%s)
echo "demo: first run $((mid - start)) s (includes the JIT compile), second run $((end - mid)) s"
for s in _label.png _label.tif _mres.mat _mres.png _report.txt _session.npz; do
    [ -s "$out/bahamas_landsat$s" ] || { echo "FAIL: missing output bahamas_landsat$s" >&2; exit 1; }
done
python - "$out/bahamas_landsat_label.tif" <<'PY'
import sys

import numpy as np
import rasterio

with rasterio.open(sys.argv[1]) as src:
    labels = src.read(1)
    assert src.crs.to_epsg() == 32618, src.crs
counts = np.bincount(labels.ravel(), minlength=5)
# all four classes present, each a sizeable share, the no-data corner unlabelled
assert counts[0] > 0 and all(counts[k] > 0.03 * labels.size for k in range(1, 5)), counts
print("demo outputs present; label GeoTIFF has all 4 classes:", counts[1:].tolist())
PY
grep -qx "  engine: numba" "$out/bahamas_landsat_report.txt" || { echo "FAIL: report does not name the numba engine" >&2; exit 1; }
echo "OK: installed and ran without a compiler and without napari"
