"""What a project's earlier images teach the next: mean IoU of image k with few strokes, carried vs alone.

Images of one sequence with human ground truth are labelled in order
through the project code the panel and ``napari-crf-label project`` use
(:mod:`napari_crf_label.dataset`): each image gets 0.25 % simulated strokes
(the harness's simulator) and its classifier is trained on its own strokes
plus the samples of every earlier image. Printed per image k: the draft
(before any stroke on k, from the earlier images alone), k with 0.25 %
carried, k alone with 0.25 % and alone with 1 %. Target: from the 5th image
on, carried 0.25 % at least matches alone 1 %.

Usage: python project_gain.py [--sets camvid dubai] [--images 10] [--shared ../../../shared]
"""

from __future__ import annotations

import argparse
import tempfile
import warnings
from pathlib import Path

import numpy as np
from _eval import SHARED
from PIL import Image
from run import score
from simulate import simulate_strokes

from napari_crf_label.classes import ClassSet
from napari_crf_label.dataset import draft_labels, label_in_project
from napari_crf_label.image_io import as_image_data
from napari_crf_label.io.project import create_project
from napari_crf_label.pipeline import label_image

HERE = Path(__file__).resolve().parent


def sequence(name: str, root: Path, count: int) -> tuple[list[tuple[Path, np.ndarray, np.ndarray, np.ndarray]], int]:
    """Return the first ``count`` (image path, image, truth 1..N, ignore mask) of a set, in order; and N."""
    folder = root / "data" / "eval" / name
    items = []
    if name == "camvid":  # 11 classes; 11 = unlabelled
        for img in sorted((folder / "images").glob("*.png"))[:count]:
            mask = np.array(Image.open(folder / "masks" / img.name)).astype(np.int32)
            items.append((img, np.array(Image.open(img).convert("RGB")), mask + 1, mask == 11))
        return items, 11
    if name == "dubai":  # water, land, road, building, vegetation; 5 and 255 are not annotated
        for img in sorted((folder / "images").glob("*.jpg"))[:count]:
            mask = np.array(Image.open(folder / "masks" / f"{img.stem}.png")).astype(np.int32)
            ignore = mask > 4
            items.append((img, np.array(Image.open(img).convert("RGB")), np.where(ignore, 0, mask + 1), ignore))
        return items, 5
    raise ValueError(f"unknown set {name}")


def miou(labels: np.ndarray, truth: np.ndarray, ignore: np.ndarray, strokes: np.ndarray, n: int) -> float:
    """Return the mean IoU in percent (ignored and painted pixels excluded)."""
    return score(labels, truth, ignore, strokes, n)[1]


def run_set(name: str, root: Path, count: int, sparse: float, dense: float, reach: float | None = None
            ) -> list[tuple[float, ...]]:
    """Label a set's sequence in order as a project; return per image (draft, carried, alone, alone dense)."""
    items, n = sequence(name, root, count)
    classes = ClassSet.from_names([f"c{k}" for k in range(1, n + 1)])
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        settings = {} if reach is None else {"reach": reach}
        project = create_project(Path(tmp) / "p.json", [p for p, *_ in items], classes, Path(tmp) / "out", settings)
        for k, (_, image, truth, ignore) in enumerate(items):
            data = as_image_data(image)
            few = simulate_strokes(np.where(ignore, 0, truth), sparse, seed=k)
            many = simulate_strokes(np.where(ignore, 0, truth), dense, seed=k)
            names = list(classes.names)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                draft = draft_labels(project, k, data)
                project.set_strokes(k, few)
                carried = label_in_project(project, k, data, few)
                alone = label_image(image, few, classes=names)
                alone_dense = label_image(image, many, classes=names)
            row = (miou(draft.labels, truth, ignore, few, n) if draft is not None else float("nan"),
                   miou(carried.labels, truth, ignore, few, n), miou(alone.labels, truth, ignore, few, n),
                   miou(alone_dense.labels, truth, ignore, many, n))
            rows.append(row)
            print(f"{name:7} {k + 1:3d}  " + "  ".join(f"{v:8.1f}" for v in row), flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sets", nargs="+", default=["camvid", "dubai"])
    parser.add_argument("--images", type=int, default=10, help="first images of each sequence (default 10)")
    parser.add_argument("--sparse", type=float, default=0.0025, help="stroke budget of each image (0.25 %%)")
    parser.add_argument("--dense", type=float, default=0.01, help="budget of the lone comparison (1 %%)")
    parser.add_argument("--reach", type=float, help="the project's reach (default: the method's default)")
    parser.add_argument("--shared", type=Path, default=SHARED)
    args = parser.parse_args()
    print(f"mean IoU (%), default method; strokes {args.sparse:.2%} per image, alone also {args.dense:.0%}")
    print(f"{'set':7} {'k':>3}  {'draft':>8}  {'carried':>8}  {'alone':>8}  {'alone 1%':>8}")
    for name in args.sets:
        rows = np.array(run_set(name, args.shared, args.images, args.sparse, args.dense, args.reach))
        late = rows[4:] if len(rows) > 4 else rows
        print(f"{name:7} 5th+  " + "  ".join(f"{v:8.1f}" for v in np.nanmean(late, axis=0)))
        print(f"{name:7} all   " + "  ".join(f"{v:8.1f}" for v in np.nanmean(rows, axis=0)))


if __name__ == "__main__":
    main()
