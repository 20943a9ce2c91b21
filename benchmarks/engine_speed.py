"""The two dense CRF engines side by side: lattice build, mean-field step, peak memory, agreement.

Usage: python benchmarks/engine_speed.py [--sizes 1 4] [--classes 2 4 11] [--repeat 3] [--no-compile]

Real photos (``../shared/data/images``): example2.jpg cropped to 1000 x 1000
(1 MP) and orthomosaic.jpg (2048 x 2048, 4.2 MP). Strokes: 250 lines of 30
px per MP, each pixel's class its brightness quantile (no ground truth:
timing only). Everything runs in this one process, engines in turn:

- build: seconds per MP to build one TileCRF (both lattices), best of --repeat;
- step: seconds per MP per mean-field iteration (10 iterations timed one by one,
  mean of the best of --repeat runs);
- the engines' runs alternate (pydensecrf, numba, pydensecrf, ...), so that on a
  shared machine both see the same load;
- peak: rise of the peak RSS (VmHWM) while building and running 10
  iterations, MB per MP, each engine in a fresh subprocess (in this process
  freed memory would be re-used and hide the rise);
- agree / max dq: argmax agreement and largest marginal difference with pydensecrf.

Both engines run on one thread (tiles parallelise as processes: workers.py).
Unless --no-compile, the first-use JIT compile
is timed first in a subprocess with an empty numba cache, then again with the
cache it left (what a user's second run pays).
"""

from __future__ import annotations

import argparse
import gc
import os
import subprocess
import sys
import tempfile
import time

import numpy as np
from PIL import Image

from _shared import SHARED as SHARED_DIR
from napari_crf_label.crf import CRFParams, TileCRF

IMAGES = SHARED_DIR / "data" / "images"
COMPILE = ("import time; t = time.perf_counter(); import numpy as np; from napari_crf_label.crf import TileCRF; "
           "TileCRF(np.zeros((8, 8, 3), np.uint8), 2, engine='numba').infer(np.ones((8, 8), int)); "
           "print(time.perf_counter() - t)")


def photo(mp: float) -> np.ndarray:
    """Return a real RGB photo of about ``mp`` megapixels (1 or 4)."""
    if mp <= 1.5:
        return np.ascontiguousarray(np.array(Image.open(IMAGES / "example2.jpg").convert("RGB"))[:1000, :1000])
    return np.ascontiguousarray(np.array(Image.open(IMAGES / "orthomosaic.jpg").convert("RGB")))


def strokes_for(image: np.ndarray, n: int, seed: int = 0) -> np.ndarray:
    """Return stroke lines whose class is each pixel's brightness quantile (1..n)."""
    gray = image.mean(axis=2)
    classes = np.digitize(gray, np.quantile(gray, np.linspace(0, 1, n + 1)[1:-1])) + 1
    rng = np.random.default_rng(seed)
    h, w = gray.shape
    count = int(250 * h * w / 1e6)
    strokes = np.zeros((h, w), np.int32)
    for y, x in zip(rng.integers(0, h, count), rng.integers(0, w - 30, count)):
        strokes[y, x:x + 30] = classes[y, x:x + 30]
    return strokes


def peak_rise(engine: str, mp: float, n: int) -> int:
    """Return the bytes by which a fresh process's peak RSS rises to build and run one CRF (10 iterations)."""
    out = subprocess.run([sys.executable, __file__, "--memory-child", engine, str(mp), str(n)], capture_output=True,
                         text=True, check=True).stdout
    return int(out.split()[-1])


def memory_child(engine: str, mp: float, n: int) -> None:
    """Print the rise of this process's peak RSS over building and running one CRF."""
    image = photo(mp)
    strokes = strokes_for(image, n)
    TileCRF(np.zeros((8, 8, 3), np.uint8), 2, engine=engine).infer(np.ones((8, 8), int))  # load the engine
    gc.collect()
    before = high_water()
    TileCRF(image, n, CRFParams(), engine).infer(strokes, iterations=10)
    print(high_water() - before)


def high_water() -> int:
    """Return this process's peak resident memory in bytes (VmHWM: unlike ru_maxrss, not inherited at fork)."""
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmHWM in /proc/self/status (Linux only)")


def time_engine(engine: str, image: np.ndarray, strokes: np.ndarray, n: int) -> tuple[float, list[float]]:
    """Return one run's build seconds and per-iteration step seconds (10 iterations, the first left out)."""
    gc.collect()
    t0 = time.perf_counter()
    crf = TileCRF(image, n, CRFParams(), engine)
    build = time.perf_counter() - t0
    gen = crf.iter_infer(strokes, iterations=10)
    per = []
    while True:
        t0 = time.perf_counter()
        try:
            next(gen)
        except StopIteration:
            break
        per.append(time.perf_counter() - t0)
    return build, per[1:]  # the first also computes the unary and the start


def time_engines(engines: tuple[str, ...], image: np.ndarray, strokes: np.ndarray, n: int, repeat: int) -> dict:
    """Return {engine: build s, step s per iteration, marginals}, the engines' runs taken in turn.

    Alternating the engines run by run (rather than all runs of one, then the
    other) gives both the same share of a shared machine's load; build is the
    best run, step the mean over the iterations of each one's best run.
    """
    out = {e: {"q": TileCRF(image, n, CRFParams(), e).infer(strokes, iterations=10), "builds": [], "steps": []}
           for e in engines}
    for _ in range(repeat):
        for e in engines:
            build, steps = time_engine(e, image, strokes, n)
            out[e]["builds"].append(build)
            out[e]["steps"].append(steps)
    for r in out.values():
        r["build"] = min(r.pop("builds"))
        r["step"] = float(np.mean(np.min(r.pop("steps"), axis=0)))
    return out


def compile_times() -> tuple[float, float]:
    """Return seconds to a first result in a fresh process with an empty numba cache, then with that cache."""
    with tempfile.TemporaryDirectory() as cache:
        env = {**os.environ, "NUMBA_CACHE_DIR": cache}
        runs = [float(subprocess.run([sys.executable, "-c", COMPILE], env=env, capture_output=True, text=True,
                                     check=True).stdout) for _ in range(2)]
    return runs[0], runs[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=float, nargs="+", default=[1.0, 4.0])
    parser.add_argument("--classes", type=int, nargs="+", default=[2, 4, 11])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--no-compile", action="store_true")
    parser.add_argument("--memory-child", nargs=3, metavar=("ENGINE", "MP", "N"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.memory_child:
        engine, mp, n = args.memory_child
        memory_child(engine, float(mp), int(n))
        return
    if not args.no_compile:
        cold, warm = compile_times()
        print(f"numba first use: {cold:.1f} s with an empty cache, {warm:.1f} s with the cache on disk")
    TileCRF(np.zeros((8, 8, 3), np.uint8), 2, engine="numba").infer(np.ones((8, 8), int))  # compile outside timings
    print(f"{'MP':>4} {'N':>3} {'engine':<10} {'build s/MP':>10} {'step s/MP/it':>12} "
          f"{'peak MB/MP':>10} {'agree %':>8} {'max dq':>8}")
    for mp in args.sizes:
        image = photo(mp)
        size = image.shape[0] * image.shape[1] / 1e6
        for n in args.classes:
            strokes = strokes_for(image, n)
            timed = time_engines(("pydensecrf", "numba"), image, strokes, n, args.repeat)
            ref = timed["pydensecrf"]
            rows = [("pydensecrf", ref), ("numba", timed["numba"])]
            for engine, r in rows:
                r["peak"] = peak_rise(engine, mp, n)
                agree = 100 * (r["q"].argmax(0) == ref["q"].argmax(0)).mean()
                dq = float(np.abs(r["q"] - ref["q"]).max())
                print(f"{size:4.1f} {n:3d} {engine:<10} {r['build'] / size:10.3f} "
                      f"{r['step'] / size:12.4f} {r['peak'] / 1e6 / size:10.0f} {agree:8.3f} {dq:8.1e}", flush=True)
            one = rows[1][1]
            print(f"{'':4} {'':3} numba/pydensecrf: build x{one['build'] / ref['build']:.2f}, "
                  f"step x{one['step'] / ref['step']:.2f}, peak x{one['peak'] / max(ref['peak'], 1):.2f}", flush=True)


if __name__ == "__main__":
    main()
