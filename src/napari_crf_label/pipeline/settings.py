"""The pipeline's fixed settings: tile sizes, methods, grids and weights of the priors."""

from __future__ import annotations

from collections.abc import Callable

#: Default tile core size at CRF resolution (1 MP): tiles of about 1-2 MP
#: keep the CRF fast, its kernel widths meaningful and memory per worker low.
DEFAULT_WINDOW = 1024
#: Default context read around each core, at CRF resolution, for the CRF's default appearance kernel
#: (``sxy_bilateral`` 60): about twice its spatial width, so cores join without seams. The halo
#: follows the kernel width a run uses (``plan.default_halo``): ``features+crf`` narrows it to a third
#: (20), so its tiles read 43 pixels: a quarter less CRF area per 1024-pixel tile, for labels that
#: agree with a one-tile run about as well as the 128-pixel halo's (benchmarks/RESULTS.md, stop 17).
DEFAULT_HALO = 128
#: Least default halo, at CRF resolution: the pixel classifier's widest Gaussian (sigma 8, read to 3
#: sigma on a grid at most as fine as the CRF's) then still sees real pixels across a core's edge.
HALO_MIN = 32
#: Labelling methods: CRF alone, CRF with a prior from the pixel classifier and the geodesic
#: proximity to the strokes, classifier alone.
METHODS = ("crf", "features+crf", "features")
#: The method a run uses unless told otherwise: the best measured (benchmarks/quality/RESULTS.md).
DEFAULT_METHOD = "features+crf"
#: Largest grid the pixel classifier of the feature methods works on, per tile.
CLASSIFIER_PIXELS = 1_000_000
#: The forest predicts every PREDICT_STEP-th pixel of the classifier's grid along each axis and the
#: probabilities are interpolated between them: prediction was the costliest step of a tile (about
#: 5 s/MP with 4 classes) and the CRF at full resolution draws the boundaries. Grids narrower than
#: PREDICT_STEP_MIN pixels are predicted at every pixel. 3 rather than 2 since stop 14: a re-run's
#: CPU 12 % lower, every row of the quality harness within 0.3 mean IoU (benchmarks/RESULTS.md).
PREDICT_STEP = 3
PREDICT_STEP_MIN = 64
#: Pixel budget of the coarse whole-scene pass that informs every tile of a tiled run.
COARSE_PIXELS = 1_000_000
#: Pixel budget of the whole-scene grid of the geodesic proximity (``features+crf``).
GEODESIC_PIXELS = 1_000_000
#: GDAL's block cache during a streamed run (bytes): its default, 5 % of the machine's memory, held
#: 1.2 GB on a 24 GB machine; a row of tiles' blocks (a 32768-pixel wide RGB raster: about 150 MB)
#: is what the next row's halo reads again.
GDAL_CACHE_BYTES = 256_000_000
#: Added to the classifier's probabilities before they meet the proximity, so
#: that a class the classifier rules out can still win where only it is near.
CLASSIFIER_FLOOR = 1e-3
#: Weight of the samples carried from other images of a project, as a share of this image's own per
#: class (for classes painted here; classes only taught by other images keep full weight).
CARRIED_WEIGHT = 0.5
#: Weight of the coarse pass in the unary of unpainted pixels of tiles that hold strokes
#: (tiles without strokes take it fully).
PRIOR_WEIGHT = 0.5

ProgressCallback = Callable[[int, int], None]
