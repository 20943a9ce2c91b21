"""Engine "pydensecrf": the C++ dense CRF of Kraehenbuehl & Koltun via pydensecrf2 (an optional extra).

pydensecrf pitfalls handled here: unaries are float32 C-contiguous
(n_labels, n_pixels); features float32 C-contiguous; one call must stay
well below ~358 MP (its C++ index arithmetic aborts the whole process
above; :data:`~napari_crf_label.crf.params.MAX_CRF_PIXELS` guards it).
"""

from __future__ import annotations

from collections.abc import Generator, Sequence

import numpy as np
import pydensecrf.densecrf as dcrf
from pydensecrf import eigen

from .engine import Engine, Kernel

__all__ = ["PydensecrfEngine"]


class PydensecrfEngine(Engine):
    """pydensecrf's ``DenseCRF`` with one diagonal, symmetrically normalised Potts term per kernel."""

    name = "pydensecrf"

    def __init__(self, kernels: Sequence[Kernel], n_classes: int, n_pixels: int) -> None:
        super().__init__(kernels, n_classes, n_pixels)
        self._crf = dcrf.DenseCRF(self.n_pixels, self.n_classes)
        for kernel in kernels:
            self._crf.addPairwiseEnergy(np.ascontiguousarray(kernel.features, dtype=np.float32),
                                        compat=float(kernel.weight), kernel=dcrf.DIAG_KERNEL,
                                        normalization=dcrf.NORMALIZE_SYMMETRIC)

    def iter_infer(self, unary: np.ndarray, iterations: int, init: np.ndarray | None = None
                   ) -> Generator[None, None, np.ndarray]:
        """Run mean field, yielding after each iteration; return the (N, P) marginals."""
        self._crf.setUnaryEnergy(np.ascontiguousarray(unary, dtype=np.float32))
        q, tmp1, tmp2 = self._crf.startInference()
        if init is not None:
            q = eigen.matrixXf(np.ascontiguousarray(init, dtype=np.float32))
        for _ in range(int(iterations)):
            self._crf.stepInference(q, tmp1, tmp2)
            yield
        return np.array(q, dtype=np.float32)
