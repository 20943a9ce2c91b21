"""1 vs 2 worker processes on a 16 MP scene (tiles on a local dask cluster).

Usage: python benchmarks/workers.py [--mp 16] [--workers 2] [--method crf|features+crf|features]

The cluster is started before timing (its start-up is printed apart); both
runs must give identical labels.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from _scenes import synthetic_scene
from napari_crf_label import label_image


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mp", type=float, default=16.0)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--method", default="crf", help="labelling method (default crf, as in RESULTS.md)")
    args = parser.parse_args()
    from dask.distributed import Client, LocalCluster

    image, truth, strokes = synthetic_scene(args.mp)
    print(f"scene {image.shape[1]} x {image.shape[0]} ({image.shape[0] * image.shape[1] / 1e6:.1f} MP)")
    t0 = time.perf_counter()
    serial = label_image(image, strokes, method=args.method)
    t_serial = time.perf_counter() - t0
    accuracy = (serial.labels == truth).mean()
    print(f"1 process:   {t_serial:7.2f} s  ({serial.params['tiles']} tiles, accuracy {accuracy:.3f})")
    t0 = time.perf_counter()
    cluster = LocalCluster(n_workers=args.workers, threads_per_worker=1, processes=True, dashboard_address=None,
                           silence_logs=40)
    client = Client(cluster)
    print(f"cluster start-up: {time.perf_counter() - t0:.2f} s")
    t0 = time.perf_counter()
    parallel = label_image(image, strokes, client=client, method=args.method)
    t_par = time.perf_counter() - t0
    client.close()
    cluster.close()
    print(f"{args.workers} processes: {t_par:7.2f} s  -> speed-up {t_serial / t_par:.2f}x; "
          f"identical labels: {np.array_equal(serial.labels, parallel.labels)}")


if __name__ == "__main__":
    main()
