"""Gallery of the default method's best and worst image per set and stroke style (held-out half).

Usage (from benchmarks/quality/): python gallery.py [--sets dubai camvid grabcut] [--split odd]
                                                  [--out gallery] [--height 150]

For every set and stroke style of ``run.py`` (1 % strokes, the human
strokes where a set has them) the default method labels each image of the
half; the images with the lowest and highest mean IoU are drawn as one
strip: image | strokes on the image | result | error map (green right, red
wrong, grey ignored or painted), each panel ``--height`` pixels high.
Only sets whose licence allows redistribution get pictures (Dubai, CC0);
CamVid and GrabCut come without a stated licence in the shared data's
README, so for them ``index.md`` names the images and scores only.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _eval import EVAL  # noqa: E402
from run import class_count, half, load_set, make_strokes, score  # noqa: E402

from napari_crf_label import label_image  # noqa: E402

#: Sets whose images may be redistributed (licence in the data's README).
PICTURES = {"dubai": "CC0 1.0 (Humans in the Loop, MBRSC imagery)"}
STYLES = ("simulator", "skeleton", "skipping", "human")


def palette(n: int) -> np.ndarray:
    """Return (n + 1, 3) uint8 colours: black for 0, then distinct hues."""
    import colorsys

    cols = [(0, 0, 0)] + [tuple(int(255 * v) for v in colorsys.hsv_to_rgb(k / n, 0.8, 0.95)) for k in range(n)]
    return np.array(cols, np.uint8)


def strip(image: np.ndarray, strokes: np.ndarray, labels: np.ndarray, truth: np.ndarray, ignore: np.ndarray,
          n: int, height: int) -> Image.Image:
    """Return image | strokes | result | error map side by side, each ``height`` pixels high."""
    cols = palette(n)
    painted = image.copy()
    from scipy.ndimage import grey_dilation

    grown = grey_dilation(strokes, size=(5, 5))  # strokes stay visible after the downscale
    painted[grown > 0] = cols[grown[grown > 0]]
    error = np.where((labels == truth)[..., None], np.uint8([40, 170, 40]), np.uint8([220, 40, 40]))
    error[ignore | (strokes > 0)] = (128, 128, 128)
    width = round(image.shape[1] * height / image.shape[0])
    panels = [Image.fromarray(a).resize((width, height), Image.BILINEAR if k == 0 else Image.NEAREST)
              for k, a in enumerate([image, painted, cols[labels], error])]
    out = Image.new("RGB", (4 * width + 12, height), (255, 255, 255))
    for k, p in enumerate(panels):
        out.paste(p, (k * (width + 4), 0))
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=EVAL)
    parser.add_argument("--sets", nargs="*", default=["dubai", "camvid", "grabcut"])
    parser.add_argument("--split", choices=["all", "even", "odd"], default="odd")
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "gallery")
    parser.add_argument("--height", type=int, default=150)
    parser.add_argument("--limit", type=int)
    args = parser.parse_args()
    args.out.mkdir(exist_ok=True)
    for set_name in args.sets:
        lines = []
        items = half(list(load_set(set_name, args.data)), args.split)[: args.limit]
        n = class_count(items)
        for style in STYLES:
            if style == "human" and items[0][4] is None:
                continue
            results = []
            for i, (name, image, truth, ignore, human) in enumerate(items):
                strokes = human if style == "human" else make_strokes(style, np.where(ignore, 0, truth), 0.01, i,
                                                                      0.5)
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    labels = label_image(image, strokes, classes=[f"c{k}" for k in range(1, n + 1)]).labels
                results.append((score(labels, truth, ignore, strokes, n)[1], name, image, strokes, labels, truth,
                                ignore))
            results.sort(key=lambda r: r[0])
            lines.append(f"## {set_name}, {style} strokes (mean IoU over {len(results)} images "
                         f"{np.mean([r[0] for r in results]):.1f})")
            lines.append("")
            for which, r in (("worst", results[0]), ("best", results[-1])):
                lines.append(f"- {which}: `{r[1]}`, mean IoU {r[0]:.1f}")
                if set_name in PICTURES:
                    path = args.out / f"{set_name}_{style}_{which}.png"
                    strip(r[2], r[3], r[4], r[5], r[6], n, args.height).quantize(64).save(path, optimize=True)
                    lines.append(f"  ![{set_name} {style} {which}]({path.name})")
            if set_name not in PICTURES:
                lines.append("- no pictures: the shared data's README states no licence for these images")
            lines.append("")
            print(f"{set_name} {style}: worst {results[0][1]} {results[0][0]:.1f}, best {results[-1][1]} "
                  f"{results[-1][0]:.1f}", flush=True)
        (args.out / f"{set_name}.md").write_text("\n".join(lines))
    write_index(args.out, args.split)
    return 0


def write_index(out: Path, split: str) -> None:
    """Write index.md from every set's section (``<set>.md``), so sets can be drawn in separate runs."""
    lines = ["# Gallery: the default method's worst and best image per set and stroke style", "",
             f"`python gallery.py` ({split} half, 1 % strokes or the human strokes). Each strip: image | strokes | "
             "result | error map (green right, red wrong, grey ignored or painted).", ""]
    for section in sorted(out.glob("*.md")):
        if section.name != "index.md":
            lines.append(section.read_text())
    lines.append("Licences: " + "; ".join(f"{k}: {v}" for k, v in PICTURES.items()) + ".")
    (out / "index.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    sys.exit(main())
