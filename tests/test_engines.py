"""The dense CRF engines: the numba lattice against brute force, and both engines against each other on real images."""

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from napari_crf_label.crf import CRFParams, TileCRF
from napari_crf_label.crf.lattice import PermutohedralLattice

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks" / "quality"))
from simulate import simulate_strokes  # noqa: E402

from grabcut_quality import grabcut_iou, load_grabcut  # noqa: E402


@pytest.fixture
def pydensecrf():
    """Skip unless the pydensecrf extra is installed (the test extra brings it)."""
    return pytest.importorskip("pydensecrf", reason="engine agreement needs the pydensecrf extra")


def _features(d: int, seed: int = 0) -> np.ndarray:
    """Return (d, 720) features of a 24 x 30 grid: position / 1.5 (d = 2), or position / 4 + 3 noisy bands."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:24, 0:30].astype(np.float32)
    position = np.stack([xx.ravel(), yy.ravel()])
    if d == 2:
        return (position / 1.5).astype(np.float32)
    bands = rng.integers(0, 3, (3, position.shape[1])).astype(np.float32)
    return np.concatenate([position / 4, bands]).astype(np.float32)


def _gaussian_average(features: np.ndarray, values: np.ndarray, width: float = 1.0) -> np.ndarray:
    """Return the exact ``sum_j k_ij v_j / sum_j k_ij`` with k = exp(-|f_i - f_j|^2 / (2 width^2))."""
    d2 = ((features[:, :, None] - features[:, None, :]) ** 2).sum(0)
    k = np.exp(-d2 / (2 * width**2))
    return k @ values / k.sum(1)[:, None]


@pytest.mark.parametrize("d", [2, 5])
def test_lattice_filters_with_a_unit_gaussian(d):
    features = _features(d)
    values = np.random.default_rng(1).random((features.shape[1], 2)).astype(np.float32)
    lattice = PermutohedralLattice(features)
    average = lattice.filter(values) / lattice.filter(np.ones((features.shape[1], 1), np.float32))
    errors = {w: np.abs(average - _gaussian_average(features, values, w)).mean() for w in (0.85, 1.0, 1.2)}
    # the lattice approximates the Gaussian (a few % per pixel): closest at the stated width
    assert errors[1.0] < 0.007
    assert errors[1.0] < errors[0.85] and errors[1.0] < errors[1.2]


def test_lattice_hash_grows_and_kernel_is_nearly_symmetric():
    # scattered points in 6-D create far more vertices than points: the hash table must grow
    rng = np.random.default_rng(2)
    features = (rng.random((6, 3000)) * 40).astype(np.float32)
    lattice = PermutohedralLattice(features)
    assert lattice.n_vertices > 2 * features.shape[1]
    u, v = rng.random((2, features.shape[1], 1)).astype(np.float32)
    uv, vu = float(u[:, 0] @ lattice.filter(v)[:, 0]), float(v[:, 0] @ lattice.filter(u)[:, 0])
    assert abs(uv - vu) < 1e-3 * abs(uv)
    # isolated points only see themselves: K v = alpha-scaled v, never a neighbour's value
    assert np.allclose(lattice.filter(u) / lattice.filter(np.ones_like(u)), u, atol=1e-4)


def _agreement(image: np.ndarray, strokes: np.ndarray, n: int) -> tuple[float, float]:
    """Return (argmax agreement, largest marginal difference) of the two engines on one image."""
    q = {e: TileCRF(image, n, CRFParams(), e).infer(strokes) for e in ("numba", "pydensecrf")}
    return (q["numba"].argmax(0) == q["pydensecrf"].argmax(0)).mean(), float(np.abs(q["numba"] - q["pydensecrf"]).max())


def test_engines_agree_on_grabcut_with_human_strokes(shared_data, pydensecrf):
    for name, image, strokes, _ in load_grabcut(shared_data / "eval" / "grabcut"):
        agree, diff = _agreement(image, strokes, 2)
        assert agree >= 0.999 and diff <= 1e-3, (name, agree, diff)


def test_engines_agree_on_dubai_with_simulated_strokes(shared_data, pydensecrf):
    folder = shared_data / "eval" / "dubai"
    for path in sorted((folder / "images").glob("*.jpg"))[::3]:
        image = np.array(Image.open(path).convert("RGB"))
        mask = np.array(Image.open(folder / "masks" / f"{path.stem}.png")).astype(np.int32)
        truth = np.where(mask < 5, mask + 1, 0)
        strokes = simulate_strokes(truth, 0.01, seed=0)
        agree, diff = _agreement(image, strokes, 5)
        assert agree >= 0.999 and diff <= 1e-3, (path.stem, agree, diff)


def test_grabcut_mean_iou_same_with_either_engine(shared_data, pydensecrf):
    from napari_crf_label import label_image

    scores = {"numba": [], "pydensecrf": []}
    for _, image, strokes, mask in load_grabcut(shared_data / "eval" / "grabcut"):
        for engine, s in scores.items():
            result = label_image(image, strokes, classes=["fg", "bg"], method="crf", engine=engine)
            s.append(grabcut_iou(result.labels, strokes, mask))
    assert abs(np.mean(scores["numba"]) - np.mean(scores["pydensecrf"])) <= 0.1
    assert np.mean(scores["numba"]) >= 88


def test_cli_prepares_the_engine_on_first_use_only(tmp_path):
    import os
    import subprocess

    # an empty numba cache stands for a first run on a new machine
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path / "numba-cache")}
    runs = []
    for out in ("first", "second"):
        proc = subprocess.run([sys.executable, "-m", "napari_crf_label.cli", "demo", "-o", str(tmp_path / out)],
                              env=env, capture_output=True, text=True, timeout=600)
        assert proc.returncode == 0, proc.stderr
        runs.append(proc.stderr)
    assert "preparing the CRF engine (first run only" in runs[0]
    assert "preparing the CRF engine" not in runs[1]  # compiled code came from the disk cache
    assert any((tmp_path / "numba-cache").rglob("*.nbi"))
    assert (tmp_path / "second" / "bahamas_landsat_label.tif").is_file()


def test_packed_and_generic_vertex_hashes_give_the_same_filter(monkeypatch):
    from napari_crf_label.crf import lattice as lattice_module

    features = _features(5)
    values = np.random.default_rng(3).random((features.shape[1], 3)).astype(np.float32)
    packed = PermutohedralLattice(features).filter(values)
    monkeypatch.setattr(lattice_module, "_PACK_BITS", 0)  # as for features too wide to pack into 63 bits
    generic = PermutohedralLattice(features)
    assert np.array_equal(generic.filter(values), packed)
    # and the generic hash on a lattice that truly cannot be packed: huge feature ranges
    wide = np.random.default_rng(4).random((6, 500)).astype(np.float32) * 1e6
    monkeypatch.setattr(lattice_module, "_PACK_BITS", 63)
    lattice = PermutohedralLattice(wide)
    assert np.allclose(lattice.filter(np.ones((500, 1), np.float32)) / lattice.filter(np.ones((500, 1))), 1)


@pytest.mark.parametrize("switched_off", [{"compat_gaussian": 0}, {"compat_bilateral": 0},
                                          {"compat_gaussian": 0, "compat_bilateral": 0}])
@pytest.mark.parametrize("n", [2, 3])
def test_engines_agree_with_a_kernel_switched_off(pydensecrf, switched_off, n):
    from .conftest import two_region_scene

    image, _, strokes = two_region_scene()
    strokes = np.where(strokes == 2, n, strokes)  # classes 1 and n painted, the rest from the kernels only
    params = CRFParams(**switched_off)
    q = {e: TileCRF(image, n, params, e).infer(strokes) for e in ("numba", "pydensecrf")}
    assert np.abs(q["numba"] - q["pydensecrf"]).max() < 1e-5


def test_cli_engine_option(tmp_path, capsys, monkeypatch):
    from napari_crf_label.cli import main

    from .conftest import two_region_scene

    image, truth, strokes = two_region_scene()
    Image.fromarray(image).save(tmp_path / "scene.png")
    Image.fromarray(strokes.astype(np.uint8)).save(tmp_path / "strokes.png")
    labels = {}
    for engine in ("numba", "pydensecrf"):
        out = tmp_path / engine
        args = ["run", str(tmp_path / "scene.png"), "--strokes", str(tmp_path / "strokes.png"), "-o", str(out),
                "--method", "crf", "--engine", engine]
        if engine == "pydensecrf" and importlib.util.find_spec("pydensecrf") is None:
            pytest.skip("the pydensecrf extra is not installed")
        assert main(args) == 0
        assert f"  engine: {engine}\n" in (out / "scene_report.txt").read_text()
        labels[engine] = np.array(Image.open(out / "scene_label.png"))
    assert np.array_equal(labels["numba"], labels["pydensecrf"])
    # without the extra: one clear line, exit code 2, no output files
    monkeypatch.setitem(sys.modules, "pydensecrf", None)
    monkeypatch.delitem(sys.modules, "napari_crf_label.crf.pydensecrf_engine", raising=False)
    capsys.readouterr()
    out = tmp_path / "missing"
    assert main(["run", str(tmp_path / "scene.png"), "--strokes", str(tmp_path / "strokes.png"), "-o", str(out),
                 "--engine", "pydensecrf"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("napari-crf-label: error: engine 'pydensecrf' needs the pydensecrf2 package")
    assert "\n" not in err
    assert not out.exists() or not any(out.iterdir())


def _glibc_x86() -> bool:
    """True where the numba engine rounds exactly as pydensecrf (glibc's expf, x86-64: see crf/simd.py)."""
    import platform

    return sys.platform == "linux" and platform.machine() in ("x86_64", "AMD64")


@pytest.mark.parametrize("n", [2, 3, 4, 6, 11, 16, 17])
def test_engines_agree_for_every_row_width(shared_data, pydensecrf, n):
    # every kernel path of the numba engine: 2, 4 and 8 classes (blocks of 8 pixels), 16 (a pixel at a time),
    # 17 (more than 16: the general path); classes from brightness quantiles, strokes on a real photo
    image = np.array(Image.open(shared_data / "images" / "example2.jpg").convert("RGB"))[:203, :157]
    gray = image.mean(axis=2)
    classes = np.digitize(gray, np.quantile(gray, np.linspace(0, 1, n + 1)[1:-1])) + 1
    strokes = np.zeros(gray.shape, np.int32)
    strokes[::9, ::7] = classes[::9, ::7]
    q = {e: TileCRF(image, n, CRFParams(), e).infer(strokes) for e in ("numba", "pydensecrf")}
    if _glibc_x86():
        assert np.array_equal(q["numba"], q["pydensecrf"])  # same float operations in the same order
    assert np.abs(q["numba"] - q["pydensecrf"]).max() <= 1e-3
    assert (q["numba"].argmax(0) == q["pydensecrf"].argmax(0)).mean() >= 0.999


@pytest.mark.parametrize("shape", [(1, 1), (2, 3), (1, 9), (5, 7)])
def test_engines_agree_on_images_smaller_than_a_block(pydensecrf, shape):
    # fewer pixels than a block of 8 (or not a multiple of it): the general path, and the overlapping last block
    rng = np.random.default_rng(5)
    image = rng.integers(0, 255, (*shape, 3)).astype(np.uint8)
    for n in (2, 5):
        strokes = rng.integers(0, n + 1, shape)
        q = {e: TileCRF(image, n, CRFParams(), e).infer(strokes) for e in ("numba", "pydensecrf")}
        # (not always bit-identical here: one of these images differs by 1e-11 after 8 iterations, as it did
        # before the vector kernels)
        assert np.abs(q["numba"] - q["pydensecrf"]).max() <= 1e-6


def test_vector_expf_rounds_as_libm():
    from numba import njit

    from napari_crf_label.crf import simd

    @njit
    def vector(x, out):
        for i in range(0, x.size, 4):
            simd.expf4(out, i, x, i, np.float32(0.0))

    @njit
    def libm(x, out):
        for i in range(x.size):
            out[i] = np.exp(x[i])

    rng = np.random.default_rng(6)
    edges = [0.0, -1e-9, -87.4, -103.9, -104.0, -1e30]  # 1, denormal results, 0
    x = np.concatenate([-rng.random(400_000) * 110, -rng.random(400_000) * 3, edges])
    x = x.astype(np.float32)[: x.size // 4 * 4]
    ours, theirs = np.empty_like(x), np.empty_like(x)
    vector(x, ours)
    libm(x, theirs)
    if _glibc_x86():
        assert np.array_equal(ours.view(np.int32), theirs.view(np.int32))
    assert np.allclose(ours, theirs, rtol=3e-7, atol=1e-38)
