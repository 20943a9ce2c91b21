"""CPU seconds per stage of the plain streamed run (default method, full resolution) on a mosaic GeoTIFF.

Usage: python benchmarks/stages.py [--mp 16] [--keep DIR] [--threads N]

Builds the mosaic of ``big_raster.py`` (real photos, 4 classes) and runs
``label_raster`` on it with a progress reporter that charges each thread's
CPU time (``time.thread_time``) to the stage of that thread's last
checkpoint: training (the training pass: reading tiles with strokes, their
features at the stroke pixels, the forest), proximity (the scene overview and
the geodesic distances), then per tile features, classifier (prediction),
building the CRF and CRF (its iterations, then the labels' upsampling and
writing, which have no checkpoint of their own). CPU seconds do not depend
much on the other jobs of a shared machine; wall seconds do. Works on the
code before this benchmark's changes too (then everything is one thread).
"""

from __future__ import annotations

import argparse
import collections
import os
import tempfile
import threading
import time
from pathlib import Path

from big_raster import build
from napari_crf_label.labelling import label_raster
from napari_crf_label.progress import reporting


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mp", type=float, default=16)
    parser.add_argument("--keep", type=Path, help="folder for the built rasters (kept between runs)")
    parser.add_argument("--threads", type=int, help="tile threads (default: the run's own default)")
    args = parser.parse_args()
    folder = args.keep or Path(tempfile.mkdtemp(prefix="crf-stages-"))
    folder.mkdir(parents=True, exist_ok=True)
    image_path, strokes_path = build(folder, args.mp)
    cpu: dict[str, float] = collections.defaultdict(float)
    last: dict[int, tuple[str, float]] = {}
    lock = threading.Lock()

    def reporter(stage: str, fraction: float) -> None:
        now, me = time.thread_time(), threading.get_ident()
        with lock:
            if me in last:
                cpu[last[me][0]] += now - last[me][1]
            last[me] = (stage, now)

    kw = {} if args.threads is None else {"threads": args.threads}
    out = folder / "stages_out.tif"
    out.unlink(missing_ok=True)
    t0, c0 = time.perf_counter(), time.process_time()
    with reporting(reporter):
        result = label_raster(image_path, strokes_path, out, classes="c1,c2,c3,c4", overwrite=True, **kw)
    wall, total = time.perf_counter() - t0, time.process_time() - c0
    print(f"{image_path.name}: {result.params['tiles']} tiles, wall {wall:.1f} s, CPU {total:.1f} s "
          f"(load average {os.getloadavg()[0]:.1f}; other jobs share the machine)")
    for stage, seconds in sorted(cpu.items(), key=lambda kv: -kv[1]):
        print(f"  {stage:<18} {seconds:7.1f} CPU s  {seconds / total * 100:5.1f} %")
    print(f"  {'(not in a stage)':<18} {total - sum(cpu.values()):7.1f} CPU s")


if __name__ == "__main__":
    main()
