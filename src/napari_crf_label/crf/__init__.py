"""The dense CRF: settings and unaries, the tile CRF, and the engines behind one interface.

``params`` (settings, unary from strokes) -> ``tile`` (kernels of one image
tile, :class:`TileCRF`) -> ``engine`` (the interface) implemented by
``numba_engine`` (a permutohedral lattice of our own, ``lattice``) and
``pydensecrf_engine`` (the optional C++ library).
"""

from .engine import (
    DEFAULT_ENGINE,
    ENGINES,
    Engine,
    EngineUnavailableError,
    Kernel,
    check_engine,
    engine_class,
    engine_ready,
    prepare_engine,
)
from .params import MAX_CRF_PIXELS, CRFParams, CRFSizeError, unary_from_strokes
from .tile import TileCRF, crf_probabilities, drain, tile_kernels

__all__ = ["CRFParams", "CRFSizeError", "DEFAULT_ENGINE", "ENGINES", "Engine", "EngineUnavailableError", "Kernel",
           "MAX_CRF_PIXELS", "TileCRF", "check_engine", "crf_probabilities", "drain", "engine_class", "engine_ready",
           "prepare_engine",
           "tile_kernels", "unary_from_strokes"]
