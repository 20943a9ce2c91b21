"""The one small interface every dense CRF engine implements, and the registry of engines.

An engine is built once per tile from its pairwise kernels (the costly
part: the permutohedral lattices) and then runs mean-field inference many
times, with new unaries and optionally from earlier marginals (a warm
start), yielding after every iteration so that callers can cancel and show
progress. Every engine has pydensecrf's semantics: Gaussian kernels with
diagonal (identity) precision over features already divided by their
widths, symmetric normalisation (``NORMALIZE_SYMMETRIC``), Potts
compatibility (a positive weight rewards equal labels), the message
``-unary + sum_k w_k D_k K_k D_k Q`` and a softmax over classes.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Generator, Sequence
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from ..errors import InputError

__all__ = ["DEFAULT_ENGINE", "ENGINES", "Engine", "EngineUnavailableError", "Kernel", "check_engine",
           "engine_class", "engine_ready", "prepare_engine"]

#: Engine names, the default first.
ENGINES = ("numba", "pydensecrf")
#: The engine a run uses unless told otherwise: the faster one (benchmarks/engine_speed.py).
DEFAULT_ENGINE = "numba"


class EngineUnavailableError(InputError):
    """The chosen engine's package is not installed."""


@dataclass(frozen=True)
class Kernel:
    """A Gaussian kernel ``exp(-|f_i - f_j|^2 / 2)`` over per-pixel features, with its Potts weight.

    Attributes
    ----------
    features : ndarray of float32, shape (D, P)
        Feature vectors of the P pixels, already divided by the kernel widths.
    weight : float
        Potts compatibility (> 0 pulls neighbours towards the same class).
    key : tuple, optional
        Names the features when they follow from a few numbers (a position
        kernel's tile shape and width): kernels with equal keys have equal
        features, and an engine may build their structure once and share it.
    """

    features: np.ndarray
    weight: float
    key: tuple | None = None


class Engine(ABC):
    """Mean-field inference of a dense CRF whose kernels are fixed at construction.

    Parameters
    ----------
    kernels : sequence of Kernel
        The pairwise kernels, all over the same P pixels (may be empty).
    n_classes : int
        Number of classes N.
    n_pixels : int
        Number of pixels P.
    """

    #: The engine's name in :data:`ENGINES`.
    name: ClassVar[str]

    def __init__(self, kernels: Sequence[Kernel], n_classes: int, n_pixels: int) -> None:
        self.n_classes = int(n_classes)
        self.n_pixels = int(n_pixels)
        for kernel in kernels:
            if kernel.features.shape[1] != self.n_pixels:
                raise ValueError(f"kernel over {kernel.features.shape[1]} pixels, expected {self.n_pixels}")

    @abstractmethod
    def iter_infer(self, unary: np.ndarray, iterations: int, init: np.ndarray | None = None
                   ) -> Generator[None, None, np.ndarray]:
        """Run mean field, yielding after each iteration; return the marginals.

        Parameters
        ----------
        unary : ndarray of float32, shape (N, P)
            Negative-log class probabilities per pixel.
        iterations : int
            Mean-field iterations.
        init : ndarray of float32, shape (N, P), optional
            Marginals to start from (a warm start); default: softmax of ``-unary``.

        Returns
        -------
        ndarray of float32, shape (N, P)
            Class marginals (the generator's return value).
        """


def check_engine(name: str) -> None:
    """Raise InputError unless ``name`` is an engine that can run here."""
    engine_class(name)


def engine_class(name: str) -> type[Engine]:
    """Return the engine class called ``name`` (importing its package only now).

    Raises
    ------
    InputError
        For an unknown name; EngineUnavailableError when its package is missing.
    """
    if name == "numba":
        try:
            from .numba_engine import NumbaEngine
        except ImportError as exc:  # numba is a core dependency: a broken install
            raise EngineUnavailableError(f"the numba engine cannot load ({exc}); reinstall numba") from None
        return NumbaEngine
    if name == "pydensecrf":
        try:
            from .pydensecrf_engine import PydensecrfEngine
        except ImportError:
            raise EngineUnavailableError(
                "engine 'pydensecrf' needs the pydensecrf2 package: pip install 'napari-crf-label[pydensecrf]' "
                "(it builds from source and needs a C++ compiler)") from None
        return PydensecrfEngine
    raise InputError(f"engine must be one of {', '.join(ENGINES)}, got {name!r}")


def engine_ready(name: str) -> bool:
    """Return False when engine ``name`` must compile before its first CRF (numba, first run on a machine)."""
    if engine_class(name).name != "numba":
        return True
    from .numba_engine import is_compiled

    return is_compiled()


def prepare_engine(name: str) -> None:
    """Make engine ``name`` ready to run: compile it now, or load it from numba's disk cache."""
    if engine_class(name).name == "numba":
        from .numba_engine import prepare

        prepare()
