"""The panel's tooltips, in one place."""

from __future__ import annotations

from .guided import SUGGESTED_POINTS

__all__ = ["TOOLTIPS", "CRF_TOOLTIPS"]

TOOLTIPS: dict[str, str] = {
    "image": "The image to label (all its bands feed the CRF).",
    "strokes": "The Labels layer you paint strokes on (value k = class k).",
    "composite": "Which bands are shown as red, green, blue (the CRF always uses every band). "
                 "From the file's metadata when it has any, else common sensors' band orders.",
    "bands": "Band shown as red, green, blue (1-based).",
    "labels_file": "Labels file: one class name a line, as in the original tool.",
    "colors_file": "Colors file: one matplotlib colour name or hex code a line.",
    "load_classes": "Read the labels and colors files and colour the strokes layer by them.",
    "class_names": "Or type class names, separated by commas: water, sand, vegetation.",
    "use_names": "Use the typed names as the classes (asks before renaming painted classes).",
    "class_list": "Click a class to paint it with napari's brush ({next} / {previous}: next / previous class).",
    "method": "features+crf (default): a pixel classifier trained on your strokes, and how near each pixel is to "
              "each class's strokes without crossing an edge, guide the CRF. crf: the CRF on your strokes alone "
              "(try it for a cut-out whose parts are cut off from your strokes by strong edges). features: the "
              "classifier alone (if the CRF flips a class).",
    "reach": "features+crf: how far (CRF pixels of uniform ground) a class's strokes reach before their pull "
             "fades. Raise it when a class is missed far from its strokes; lower it when a class leaks.",
    "window": "Largest tile in image pixels; auto = 1024 pixels at CRF resolution.",
    "overlap": "Context read around each tile, in image pixels; auto = about twice the CRF's appearance kernel "
               "width at CRF resolution (43 pixels for features+crf, 128 for crf).",
    "scale": "Downscale factor for the CRF (like the original -s): 0.25 runs the CRF at a quarter of the size "
             "and scales the result back.",
    "advanced": "Show the tiling (window, overlap) and the CRF's kernel settings.",
    "engine": "The dense CRF engine: numba (the default, built in) or pydensecrf (needs "
              "pip install 'napari-crf-label[pydensecrf]'); both give the same labels.",
    "confidence": "Also show the CRF's confidence (the winning class's probability) as an image layer "
                  "multiplied over the others: dark where the CRF hesitates, which is where more strokes help most.",
    "live": "Live: shortly after you stop painting, show a quick preview of the labels at reduced resolution "
            "(the layer '<image> CRF preview'); Run CRF gives the full resolution. Images over {mp:.0f} MP "
            "cannot preview within a second: unavailable there.",
    "run": "Run the CRF on the image and strokes in the background ({key}).",
    "cancel": "Stop the running CRF or export ({key}); nothing is changed.",
    "outdir": "Folder the outputs are written to (asked for when empty).",
    "export": "Write the .mat, mres figure, report, label PNG (and GeoTIFF) and session into the output folder.",
    "save_session": "Save strokes, classes and settings to a *_session.npz (File > Open brings them back).",
    "restore": "Bring back the strokes autosaved for this image.",
    "guide_start": "Walk the image window by window (the CRF's own tiles, set by Window and Scale), asked for "
                   "a few examples of each class in each; leaving keeps every stroke, starting again resumes.",
    "guide_review": "After a run: walk the windows from the one the CRF was least sure about.",
    "guide_suggest": f"After a run: ring the {SUGGESTED_POINTS} places where the result is least sure (away from its "
                     "class edges and your strokes). Paint a short stroke of the right class on each and run again.",
    "guide_back": "Back to the previous class or window ({key}).",
    "guide_skip": "The asked class does not occur in this window: mark it absent and move on ({key}).",
    "guide_next": "On to the next class, then the next window ({key}).",
    "project_file": "A labelling project (*.json): images, classes, output folder (napari-crf-label project create).",
    "project_open": "Open the project and its first image not yet labelled.",
    "project_folder": "A folder of images (jpg, png, tif) to label one after another.",
    "project_folder_open": "Open the folder's project, making it on first use with the panel's classes "
                           "(outputs in <folder>/labels).",
    "project_export": "Write every labelled image's outputs into the project's output folder (as 'project "
                      "export' does); images unchanged since their export are skipped.",
    "project_images": "The project's images and their status; double-click one to open it.",
    "project_previous": "Save this image's strokes and open the previous image ({key}).",
    "project_next": "Save this image's strokes and open the next image ({key}); an image without strokes opens "
                    "with a draft labelled from the other images' strokes.",
    "guide_coverage": "Stroke pixels per class (rows) in each window (columns, numbered as the prompt numbers "
                      "them; absent: marked absent), each window's state and the seconds spent painting in it.",
}

CRF_TOOLTIPS: dict[str, str] = {
    "gt_prob": "Confidence that a painted pixel belongs to its class (0-1).",
    "sxy_gaussian": "Width (pixels at CRF resolution) of the smoothness kernel.",
    "compat_gaussian": "Weight of the smoothness kernel: removes isolated pixels.",
    "sxy_bilateral": "Spatial reach (pixels at CRF resolution) of the appearance kernel "
                     "(features+crf uses a third of it: its prior brings the long range).",
    "schan": "Colour tolerance of the appearance kernel (0-255 units): larger merges more different colours.",
    "compat_bilateral": "Weight of the appearance kernel: similar nearby colours get the same class "
                        "(features+crf uses half of it: its prior decides, the kernel cleans the edges).",
    "iterations": "Mean-field iterations (features+crf runs half of them: started from its prior, "
                  "it has settled by then).",
}
