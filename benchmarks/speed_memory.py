"""Seconds and peak memory of ``label_image`` on 1, 4 and 16 MP synthetic scenes.

Usage: python benchmarks/speed_memory.py [--sizes 1 4 16] [--classes 4] [label_image options as JSON]

Each size runs in a fresh process so that peak RSS (``ru_maxrss``) belongs
to that run alone; the figure printed is the peak minus the process's RSS
just before ``label_image`` (scene construction excluded).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys

CHILD = r"""
import json, resource, sys, time
import numpy as np
from scipy import ndimage
from napari_crf_label import label_image

mp, n, opts = float(sys.argv[1]), int(sys.argv[2]), json.loads(sys.argv[3])
side = int(round((mp * 1e6) ** 0.5))
rng = np.random.default_rng(0)
# smooth random regions of n classes, each with its own colour, plus noise
field = ndimage.zoom(rng.random((n, 12, 12)), (1, side / 12, side / 12), order=1)[:, :side, :side]
truth = field.argmax(0) + 1
palette = rng.integers(30, 225, (n + 1, 3))
image = np.clip(palette[truth] + rng.normal(0, 15, (side, side, 3)), 0, 255).astype(np.uint8)
strokes = np.zeros_like(truth)
ys, xs = rng.integers(0, side, 4000), rng.integers(0, side - 30, 4000)
for y, x in zip(ys, xs):
    strokes[y, x:x + 30] = truth[y, x:x + 30]
del field
rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
t0 = time.perf_counter()
r = label_image(image, strokes, **opts)
t = time.perf_counter() - t0
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
acc = float((r.labels == truth).mean())
print(json.dumps({"mp": side * side / 1e6, "seconds": t, "peak_gb": (peak - rss0) / 1e6 if peak > rss0 else 0.0,
                  "total_peak_gb": peak / 1e6, "tiles": r.params["tiles"], "accuracy": acc}))
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=float, nargs="+", default=[1, 4, 16])
    parser.add_argument("--classes", type=int, default=4)
    parser.add_argument("--options", default="{}", help='label_image keywords as JSON, e.g. \'{"scale": 0.5}\'')
    args = parser.parse_args()
    options = json.dumps({"method": "crf", **json.loads(args.options)})  # RESULTS.md figures: CRF alone
    print(f"label_image, {args.classes} classes, options {options}")
    print(f"{'MP':>6} {'seconds':>8} {'s/MP':>6} {'peak GB (run)':>14} "
          f"{'peak GB (process)':>18} {'tiles':>6} {'acc':>6}")
    for mp in args.sizes:
        out = subprocess.run([sys.executable, "-c", CHILD, str(mp), str(args.classes), options],
                             capture_output=True, text=True, check=True)
        r = json.loads(out.stdout.strip().splitlines()[-1])
        print(f"{r['mp']:6.1f} {r['seconds']:8.2f} {r['seconds'] / r['mp']:6.2f} {r['peak_gb']:14.2f} "
              f"{r['total_peak_gb']:18.2f} {r['tiles']:6d} {r['accuracy']:6.3f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
