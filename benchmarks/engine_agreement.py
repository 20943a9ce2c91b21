"""How closely the two CRF engines agree on real images, at the default settings.

Usage: python benchmarks/engine_agreement.py [SHARED_DATA]

GrabCut (13 images, the human strokes ``strokes_sparse``, 2 classes) and
Dubai (36 aerial images, strokes simulated at 1 % by quality/simulate.py,
5 classes): one TileCRF per image and engine with CRFParams(); prints the
share of pixels with the same argmax and the largest marginal difference,
worst image first. Then the GrabCut mean IoU of label_image with each engine
(method crf and the default method).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent / "quality"))
from simulate import simulate_strokes  # noqa: E402

from _shared import SHARED as SHARED_DIR
from grabcut_quality import evaluate, load_grabcut  # noqa: E402
from napari_crf_label.crf import CRFParams, TileCRF  # noqa: E402


def compare(image: np.ndarray, strokes: np.ndarray, n: int) -> tuple[float, float]:
    """Return (argmax agreement in %, largest marginal difference) of the two engines."""
    q = {e: TileCRF(image, n, CRFParams(), e).infer(strokes) for e in ("numba", "pydensecrf")}
    agree = 100 * (q["numba"].argmax(0) == q["pydensecrf"].argmax(0)).mean()
    return agree, float(np.abs(q["numba"] - q["pydensecrf"]).max())


def dubai(folder: Path):
    """Yield (name, image, strokes) of the Dubai set with simulated 1 % strokes (5 classes)."""
    for path in sorted((folder / "images").glob("*.jpg")):
        mask = np.array(Image.open(folder / "masks" / f"{path.stem}.png")).astype(np.int32)
        truth = np.where(mask < 5, mask + 1, 0)
        yield path.stem, np.array(Image.open(path).convert("RGB")), simulate_strokes(truth, 0.01, seed=0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("shared_data", nargs="?", type=Path,
                        default=SHARED_DIR / "data")
    args = parser.parse_args()
    eval_dir = args.shared_data / "eval"
    sets = {"grabcut": (((name, im, s) for name, im, s, _ in load_grabcut(eval_dir / "grabcut")), 2),
            "dubai": (dubai(eval_dir / "dubai"), 5)}
    for name, (items, n) in sets.items():
        rows = [(stem, *compare(image, strokes, n)) for stem, image, strokes in items]
        worst = min(rows, key=lambda r: r[1])
        print(f"{name}: {len(rows)} images, {n} classes: argmax agreement min {worst[1]:.3f} % ({worst[0]}), "
              f"mean {np.mean([r[1] for r in rows]):.4f} %; largest marginal difference "
              f"{max(r[2] for r in rows):.1e}")
    for method in ("crf", "features+crf"):
        scores = {e: np.mean(list(evaluate(eval_dir / "grabcut", method=method, engine=e).values()))
                  for e in ("numba", "pydensecrf")}
        print(f"GrabCut mean IoU, method {method}: numba {scores['numba']:.2f}, pydensecrf {scores['pydensecrf']:.2f}")


if __name__ == "__main__":
    main()
