import numpy as np
import pytest

from napari_crf_label.crf import (
    ENGINES,
    MAX_CRF_PIXELS,
    CRFParams,
    CRFSizeError,
    TileCRF,
    crf_probabilities,
    unary_from_strokes,
)
from napari_crf_label.errors import InputError

from .conftest import two_region_scene


def test_unary_from_strokes_matches_gt_prob():
    s = np.array([[0, 1], [3, 0]], np.int32)
    u = unary_from_strokes(s, 3, 0.9)
    assert u.dtype == np.float32 and u.shape == (3, 4) and u.flags.c_contiguous
    p = np.exp(-u)
    assert np.allclose(p[:, 0], 1 / 3)
    assert np.allclose(p[:, 1], [0.9, 0.05, 0.05])
    assert np.allclose(p[:, 2], [0.05, 0.05, 0.9])


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("bands", [1, 3, 6])
def test_crf_separates_regions_for_any_band_count(bands, engine):
    image, truth, strokes = two_region_scene()
    image = np.ascontiguousarray(np.repeat(image[..., :1], bands, axis=2))
    q = crf_probabilities(image, strokes, 2, CRFParams(), engine=engine)
    assert q.shape == (2, *truth.shape) and q.dtype == np.float32
    assert np.allclose(q.sum(axis=0), 1, atol=1e-4)
    assert (q.argmax(0) + 1 == truth).mean() > 0.99


@pytest.mark.parametrize("engine", ENGINES)
def test_width_and_height_not_swapped(engine):
    # a non-square tile with strokes only at the top and bottom: a swapped
    # width/height would scramble rows and columns
    image = np.zeros((40, 90, 3), np.uint8)
    image[20:] = 200
    strokes = np.zeros((40, 90), np.int32)
    strokes[5, 10:80] = 1
    strokes[35, 10:80] = 2
    lab = crf_probabilities(image, strokes, 2, engine=engine).argmax(0) + 1
    assert (lab[:20] == 1).mean() > 0.98 and (lab[20:] == 2).mean() > 0.98


@pytest.mark.parametrize("engine", ENGINES)
def test_prior_used_for_unpainted_pixels(engine):
    image = np.full((30, 30, 3), 100, np.uint8)
    strokes = np.zeros((30, 30), np.int32)
    strokes[0, 0] = 1
    prior = np.zeros((2, 30, 30), np.float32)
    prior[1] = 0.95
    prior[0] = 0.05
    lab = crf_probabilities(image, strokes, 2, prior=prior, engine=engine).argmax(0)
    assert (lab == 1).mean() > 0.9


@pytest.mark.parametrize("engine", ENGINES)
def test_size_guard_raises_before_any_engine_runs(monkeypatch, engine):
    import napari_crf_label.crf.params as params

    monkeypatch.setattr(params, "MAX_CRF_PIXELS", 100)
    with pytest.raises(CRFSizeError, match="exceeds the safe limit"):
        crf_probabilities(np.zeros((11, 10, 3), np.uint8), np.ones((11, 10), np.int32), 2, engine=engine)
    assert MAX_CRF_PIXELS < 358_000_000


def test_unknown_engine_is_a_clear_input_error():
    with pytest.raises(InputError, match="engine must be one of numba, pydensecrf"):
        TileCRF(np.zeros((4, 4, 3), np.uint8), 2, engine="cuda")


def test_missing_pydensecrf_names_the_extra(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "pydensecrf", None)  # import fails as if not installed
    monkeypatch.delitem(sys.modules, "napari_crf_label.crf.pydensecrf_engine", raising=False)
    with pytest.raises(InputError, match=r"napari-crf-label\[pydensecrf\]"):
        TileCRF(np.zeros((4, 4, 3), np.uint8), 2, engine="pydensecrf")


@pytest.mark.parametrize("engine", ENGINES)
def test_warm_start_continues_from_given_marginals(engine):
    image, truth, strokes = two_region_scene()
    crf = TileCRF(image, 2, engine=engine)
    five = crf.infer(strokes, iterations=5)
    ten = crf.infer(strokes, iterations=10)
    n_yields, q = _run(crf.iter_infer(strokes, iterations=5, init=five))
    assert n_yields == 5
    assert np.abs(q - ten).max() < 1e-5  # 5 + 5 iterations == 10 iterations


def _run(gen):
    """Run a generator to its end; return (number of yields, return value)."""
    n = 0
    while True:
        try:
            next(gen)
        except StopIteration as stop:
            return n, stop.value
        n += 1


@pytest.mark.parametrize("name", ["gt_prob", "sxy_gaussian", "compat_gaussian", "sxy_bilateral", "schan",
                                  "compat_bilateral"])
@pytest.mark.parametrize("value", [float("inf"), float("nan"), -float("inf")])
def test_params_built_directly_refuse_non_finite_numbers(name, value):
    from napari_crf_label.errors import InputError

    with pytest.raises(InputError, match=f"{name} must be"):
        CRFParams(**{name: value})
