"""Failure behaviour, round two (issue 14): each test names the cause it covers."""

from __future__ import annotations

import numpy as np
import pytest
import rasterio
from affine import Affine
from PIL import Image

from napari_crf_label import InputError, StrokesError, label_image, read_image, read_strokes
from napari_crf_label.cli import main

from .conftest import two_region_scene


def _cli(capsys, *argv) -> tuple[int, str]:
    """Run the CLI as typed; return (exit code, stderr)."""
    code = main([str(a) for a in argv])
    return code, capsys.readouterr().err


def _one_error_line(err: str) -> str:
    """Return the one error line of a failed run (and check there is exactly one, without a traceback)."""
    lines = [line for line in err.splitlines() if line.startswith("napari-crf-label: error:")]
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


@pytest.fixture
def scene(tmp_path):
    """A PNG scene and its strokes (uint8 PNG) in tmp_path."""
    image, truth, strokes = two_region_scene()
    Image.fromarray(image).save(tmp_path / "scene.png")
    Image.fromarray(strokes.astype(np.uint8)).save(tmp_path / "strokes.png")
    return tmp_path / "scene.png", tmp_path / "strokes.png", strokes, truth


UTM = Affine(10, 0, 5e5, 0, -10, 4e6)


def _geotiff(path, array, transform=UTM, crs="EPSG:32618", **extra):
    """Write an (H, W) or (C, H, W) array as a GeoTIFF."""
    bands = array[None] if array.ndim == 2 else array
    with rasterio.open(path, "w", driver="GTiff", width=bands.shape[2], height=bands.shape[1], count=bands.shape[0],
                       dtype=bands.dtype, crs=crs, transform=transform, **extra) as dst:
        dst.write(bands)
    return path


# ------------------------------------------------------- 4: checked before the cast
@pytest.mark.parametrize("values, message", [
    (np.float32([1.5, 2.5]), "whole class numbers .* found 1.5"),
    (np.float32([np.nan, 1]), "NaN or infinite"),
    (np.uint32([4294967295, 1]), "value 4294967295 is not a class"),
])
def test_strokes_checked_in_their_own_dtype(tmp_path, capsys, scene, values, message):
    image_path, _, strokes, _ = scene
    bad = strokes.astype(values.dtype)
    bad[bad == 1], bad[0, 0] = values[1], values[0]
    with pytest.raises(StrokesError, match=message):
        label_image(read_image(image_path), bad)
    path = _geotiff(tmp_path / "bad.tif", bad, crs=None, transform=Affine.identity())
    code, err = _cli(capsys, "run", image_path, "--strokes", path)
    assert code == 2 and "bad.tif" in _one_error_line(err)
    assert message.split(" ")[0] in err


def test_whole_float_strokes_are_classes(scene):
    image_path, _, strokes, truth = scene
    r = label_image(read_image(image_path), strokes.astype(np.float64))
    assert (r.labels == truth).mean() > 0.98


# ------------------------------------------------------- 12: palette PNG strokes
def test_palette_png_strokes_are_indices(tmp_path, capsys, scene):
    image_path, _, strokes, truth = scene
    pal = Image.fromarray(strokes.astype(np.uint8), "P")
    pal.putpalette([0, 0, 0, 255, 0, 0, 0, 0, 255] + [0] * (256 * 3 - 9))
    pal.save(tmp_path / "pal.png")
    assert np.array_equal(read_strokes(tmp_path / "pal.png"), strokes)
    code, err = _cli(capsys, "run", image_path, "--strokes", tmp_path / "pal.png", "-o", tmp_path / "out")
    assert code == 0, err
    assert np.array_equal(np.array(Image.open(tmp_path / "out" / "scene_label.png")) > 0, truth > 0)


# ------------------------------------------------------- 11: lossy stroke files
def test_jpeg_strokes_refused(tmp_path, capsys, scene):
    image_path, _, strokes, _ = scene
    Image.fromarray((strokes * 100).astype(np.uint8)).save(tmp_path / "s.jpg", quality=90)
    with pytest.raises(StrokesError, match="JPEG strokes are refused"):
        read_strokes(tmp_path / "s.jpg")
    code, err = _cli(capsys, "run", image_path, "--strokes", tmp_path / "s.jpg")
    assert code == 2 and "lossy" in _one_error_line(err)
    _geotiff(tmp_path / "sj.tif", strokes.astype(np.uint8), crs=None, transform=Affine.identity(),
             compress="jpeg")
    with pytest.raises(StrokesError, match="lossy"):
        read_strokes(tmp_path / "sj.tif")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.jpg", "scene.png", "sj.tif", "strokes.png"]


# ------------------------------------------------------- 6: multi-band strokes, streamed or not
@pytest.mark.parametrize("stream", [False, True])
def test_multiband_strokes_refused_streamed_or_not(tmp_path, capsys, stream):
    image, _, strokes = two_region_scene()
    img = _geotiff(tmp_path / "img.tif", np.moveaxis(image, -1, 0))
    st = _geotiff(tmp_path / "st.tif", np.stack([strokes.astype(np.uint8)] * 3))
    code, err = _cli(capsys, "run", img, "--strokes", st, *(["--stream"] if stream else []))
    assert code == 2 and "single-band label image" in _one_error_line(err) and "got 3 bands" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["img.tif", "st.tif"]


# ------------------------------------------------------- 5: strokes on another map grid
@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("grid, message", [
    ({"transform": Affine(10, 0, 5e5 + 500, 0, -10, 4e6)}, "another map grid"),
    ({"crs": "EPSG:32619"}, "strokes are in EPSG:32619 but the image in EPSG:32618"),
])
def test_strokes_on_another_grid_refused(tmp_path, capsys, stream, grid, message):
    image, _, strokes = two_region_scene()
    img = _geotiff(tmp_path / "img.tif", np.moveaxis(image, -1, 0))
    st = _geotiff(tmp_path / "st.tif", strokes.astype(np.uint8), **grid)
    code, err = _cli(capsys, "run", img, "--strokes", st, *(["--stream"] if stream else []))
    assert code == 2 and message in _one_error_line(err)
    same = _geotiff(tmp_path / "same.tif", strokes.astype(np.uint8))
    assert np.array_equal(read_strokes(same, like=read_image(img)), strokes)


# ------------------------------------------------------- 13: never write over an input
def test_overwrite_never_replaces_an_input(tmp_path, capsys, scene):
    image_path, strokes_path, _, _ = scene
    named = strokes_path.rename(tmp_path / "scene_label.png")  # strokes where the dense label would go
    before = named.read_bytes()
    code, err = _cli(capsys, "run", image_path, "--strokes", named, "--overwrite")
    assert code == 2 and "is an input of this run and is never written over" in _one_error_line(err)
    assert named.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["scene.png", "scene_label.png"]


# ------------------------------------------------------- 19: no -o folder left by a failed run
def test_failed_run_removes_the_folders_it_made(tmp_path, capsys, scene):
    image_path, strokes_path, _, _ = scene
    code, err = _cli(capsys, "run", image_path, "--strokes", strokes_path, "-o", tmp_path / "a" / "b",
                     "--classes", "only")  # strokes hold class 2: refused after the folder check
    assert code == 2 and "only 1 classes are defined" in _one_error_line(err)
    assert not (tmp_path / "a").exists()
    (tmp_path / "kept").mkdir()
    code, _ = _cli(capsys, "run", image_path, "--strokes", strokes_path, "-o", tmp_path / "kept", "--classes", "x")
    assert code == 2 and (tmp_path / "kept").is_dir()  # an existing folder is never removed


# ------------------------------------------------------- 20: existing outputs refused before the work
def test_existing_outputs_refused_before_the_run(tmp_path, capsys, scene, monkeypatch):
    image_path, strokes_path, _, _ = scene
    (tmp_path / "scene_report.txt").write_text("mine")

    def no_run(*args, **kwargs):
        raise AssertionError("labelling started although an output exists")

    monkeypatch.setattr("napari_crf_label.cli.label_image", no_run)
    code, err = _cli(capsys, "run", image_path, "--strokes", strokes_path)
    assert code == 2 and "scene_report.txt" in _one_error_line(err) and "--overwrite" in err
    assert (tmp_path / "scene_report.txt").read_text() == "mine"


# ------------------------------------------------------- 18: long stems
def test_long_stem_whose_outputs_fit_is_written(tmp_path, capsys, scene):
    image_path, strokes_path, _, _ = scene
    long = image_path.rename(tmp_path / ("x" * 235 + ".png"))
    code, err = _cli(capsys, "run", long, "--strokes", strokes_path, "-o", tmp_path / "out")
    assert code == 0, err
    assert len(list((tmp_path / "out").iterdir())) == 5
    assert not [p for p in (tmp_path / "out").iterdir() if p.name.startswith(".")]
    longer = long.rename(tmp_path / ("y" * 250 + ".png"))  # <stem>_session.npz would not fit
    code, err = _cli(capsys, "run", longer, "--strokes", strokes_path, "-o", tmp_path / "out2")
    assert code == 2 and "longer than the 255 the folder allows" in _one_error_line(err)
    assert not (tmp_path / "out2").exists()


# ------------------------------------------------------- 9: one line, not a traceback
def test_complex_tiff_is_one_line(tmp_path, capsys, scene):
    _, strokes_path, _, _ = scene
    path = _geotiff(tmp_path / "c.tif", np.ones((120, 200), np.complex64), crs=None, transform=Affine.identity())
    code, err = _cli(capsys, "run", path, "--strokes", strokes_path)
    assert code == 2 and "complex-valued pixels (complex64) are not supported" in _one_error_line(err)


@pytest.mark.parametrize("argv, message", [
    (["-s", "1e-310"], "scale 1e-310 shrinks the 200 x 120 image below one pixel"),
    (["--scheduler", "foo"], "cannot reach the dask scheduler 'foo'"),
])
def test_bad_run_options_are_one_line(capsys, scene, argv, message):
    image_path, strokes_path, _, _ = scene
    code, err = _cli(capsys, "run", image_path, "--strokes", strokes_path, *argv)
    assert code == 2 and message in _one_error_line(err)
    assert sorted(p.name for p in image_path.parent.iterdir()) == ["scene.png", "strokes.png"]


def test_boolean_image_is_labelled():
    image, truth, strokes = two_region_scene()
    r = label_image(image[..., 0] > 120, strokes)  # a mask image: True right of the boundary
    assert (r.labels == truth).mean() > 0.99


# ------------------------------------------------------- 10: every numeric parameter finite and in range
@pytest.mark.parametrize("option", ["--compat-bilateral", "--gt-prob", "--schan", "--reach", "-s"])
@pytest.mark.parametrize("value", ["inf", "nan"])
def test_non_finite_parameters_refused(capsys, scene, option, value):
    image_path, strokes_path, _, _ = scene
    code, err = _cli(capsys, "run", image_path, "--strokes", strokes_path, option, value)
    line = _one_error_line(err)
    assert code == 2 and "must be" in line and option.strip("-").replace("-", "_") in line.replace("scale", "s")
    with pytest.raises(InputError, match="compat_bilateral must be a finite number"):
        label_image(read_image(image_path), read_strokes(strokes_path), compat_bilateral=float(value))


# ------------------------------------------------------- 21: hex colours without '#'
def test_hex_colours_without_hash_are_hex(tmp_path, capsys, scene):
    from napari_crf_label import read_class_files

    (tmp_path / "labels.txt").write_text("water\nsand\n")
    (tmp_path / "colors.txt").write_text("000001\n1e0000\n")
    classes = read_class_files(tmp_path / "labels.txt", tmp_path / "colors.txt")
    assert classes.colors == ("#000001", "#1e0000")
    assert classes.rgb_uint8().tolist() == [[0, 0, 1], [30, 0, 0]]
    image_path, strokes_path, _, _ = scene
    code, err = _cli(capsys, "run", image_path, "--strokes", strokes_path, "--labels", tmp_path / "labels.txt",
                     "--colors", tmp_path / "colors.txt", "-o", tmp_path / "out")
    assert code == 0, err
    from napari_crf_label.session import load_session

    assert load_session(tmp_path / "out" / "scene_session.npz").classes.colors == ("#000001", "#1e0000")


# ------------------------------------------------------- 16: strokes dropped by a nodata value that is real data
@pytest.mark.parametrize("stream", [False, True])
def test_strokes_on_a_nodata_value_are_named(tmp_path, capsys, stream):
    image, truth, strokes = two_region_scene()
    bands = np.moveaxis(image, -1, 0).copy()
    dark = strokes == 1
    bands[:, dark] = 0  # the class-1 strokes lie on real black pixels, and 0 is the nodata value
    img = _geotiff(tmp_path / "img.tif", bands, nodata=0)
    st = _geotiff(tmp_path / "st.tif", strokes.astype(np.uint8))
    opt = ["--stream"] if stream else []
    code, err = _cli(capsys, "run", img, "--strokes", st, "-o", tmp_path / "out", "--classes", "dark,bright", *opt)
    assert code == 0, err
    n1 = int(dark.sum())
    assert (f"warning: stroke pixels on pixels equal to the nodata value 0 in every band were dropped: "
            f"dark {n1} of {n1}") in err
    assert "no strokes for class(es) dark" in err
    bands[:, strokes == 2] = 0
    img2 = _geotiff(tmp_path / "img2.tif", bands, nodata=0)
    code, err = _cli(capsys, "run", img2, "--strokes", st, "-o", tmp_path / "out2", *opt)
    assert code == 2
    assert "all strokes lie on no-data: " in _one_error_line(err) and f"class1 {n1} of {n1}, class2" in err
    assert not (tmp_path / "out2").exists()


# ------------------------------------------------------- 17: an all-NaN band
def test_all_nan_band_is_named(tmp_path, capsys, scene):
    from napari_crf_label._reader import read_tiff

    _, strokes_path, _, _ = scene
    image, _, _ = two_region_scene()
    bands = np.moveaxis(image, -1, 0).astype(np.float32)
    bands[1] = np.nan
    path = _geotiff(tmp_path / "nan.tif", bands)
    code, err = _cli(capsys, "run", path, "--strokes", strokes_path)
    assert code == 2 and "nan.tif: band(s) 2 of 3 are all NaN" in _one_error_line(err)
    with pytest.raises(InputError, match="band.s. 2 of 3 are all NaN"):
        read_tiff(str(path))  # the napari reader: napari shows the message as a notification
    with pytest.raises(InputError, match="band.s. 2 of 3 are all NaN"):
        label_image(np.moveaxis(bands, 0, -1), read_strokes(strokes_path))


# ------------------------------------------------------- 7: georeferencing kept, whatever its form
@pytest.mark.parametrize("stream", [False, True])
def test_transform_without_crs_and_gcps_only_are_kept(tmp_path, capsys, stream):
    from rasterio.control import GroundControlPoint

    image, truth, strokes = two_region_scene()
    bands = np.moveaxis(image, -1, 0)
    st = _geotiff(tmp_path / "st.tif", strokes.astype(np.uint8), crs=None, transform=Affine.identity())
    img = _geotiff(tmp_path / "notcrs.tif", bands, crs=None)
    opt = ["--stream"] if stream else []
    code, err = _cli(capsys, "run", img, "--strokes", st, "-o", tmp_path / "a", *opt)
    assert code == 0, err
    if not stream:
        assert "warning: notcrs.tif has a map transform but no CRS" in err
    with rasterio.open(tmp_path / "a" / "notcrs_label.tif") as lab:
        assert lab.transform == UTM and lab.crs is None
        assert (lab.read(1) == truth).mean() > 0.98
    gcps = [GroundControlPoint(row=r, col=c, x=5e5 + 10 * c, y=4e6 - 10 * r) for r, c in [(0, 0), (0, 199), (119, 0)]]
    gcp_img = tmp_path / "gcp.tif"
    with rasterio.open(gcp_img, "w", driver="GTiff", width=200, height=120, count=3, dtype="uint8") as dst:
        dst.write(bands)
        dst.gcps = (gcps, rasterio.crs.CRS.from_epsg(32618))
    code, err = _cli(capsys, "run", gcp_img, "--strokes", st, "-o", tmp_path / "b", *opt)
    assert code == 0, err
    with rasterio.open(tmp_path / "b" / "gcp_label.tif") as lab:
        points, crs = lab.gcps
        assert crs.to_epsg() == 32618 and [(p.row, p.col, p.x, p.y) for p in points] == [
            (p.row, p.col, p.x, p.y) for p in gcps]


# ------------------------------------------------------- 1: very tall or wide images
@pytest.mark.parametrize("shape", [(60, 1), (2000, 10), (10, 2000)])
def test_tall_and_wide_images_have_a_bounded_figure(tmp_path, capsys, shape):
    h, w = shape
    image = np.zeros((h, w, 3), np.uint8)
    strokes = np.zeros((h, w), np.uint8)
    if h > w:
        image[h // 2:] = 200
        strokes[2:6, 0], strokes[-6:-2, 0] = 1, 2
    else:
        image[:, w // 2:] = 200
        strokes[0, 2:6], strokes[0, -6:-2] = 1, 2
    Image.fromarray(image).save(tmp_path / "thin.png")
    Image.fromarray(strokes).save(tmp_path / "s.png")
    code, err = _cli(capsys, "run", tmp_path / "thin.png", "--strokes", tmp_path / "s.png", "-o", tmp_path / "out")
    assert code == 0, err
    with Image.open(tmp_path / "out" / "thin_mres.png") as fig:
        assert fig.size[0] <= 2250 and fig.size[1] <= 1800
    labels = np.array(Image.open(tmp_path / "out" / "thin_label.png"))
    assert np.array_equal(labels, np.where(image[..., 0] > 100, 2, 1))


# ------------------------------------------------------- 22: class names beyond the figure's font
def test_class_name_glyphs_fall_back_or_warn_once(tmp_path, capsys, scene):
    from matplotlib import font_manager
    from matplotlib.ft2font import FT2Font

    image_path, strokes_path, _, _ = scene
    # U+1D81 is not in DejaVu Sans but in STIXGeneral (shipped with matplotlib): a fallback font, no warning
    code, err = _cli(capsys, "run", image_path, "--strokes", strokes_path, "--classes", "dᶁrk,bright",
                     "-o", tmp_path / "a")
    assert code == 0, err
    assert "warning" not in err.lower() and "Glyph" not in err
    # a private-use character no font has: one line, not one raw warning per glyph
    code, err = _cli(capsys, "run", image_path, "--strokes", strokes_path, "--classes", "\ue000\ue001,bright",
                     "-o", tmp_path / "b")
    assert code == 0, err
    assert "Glyph" not in err
    has = any(0xE000 in FT2Font(f.fname).get_charmap() for f in font_manager.fontManager.ttflist
              if "Last Resort" not in f.name)
    lines = [line for line in err.splitlines() if "no installed font has" in line]
    assert len(lines) == (0 if has else 1)


# ------------------------------------------------------- 14: session paths relative to the session file
def test_session_finds_its_own_image_from_anywhere(tmp_path, capsys, scene, monkeypatch):
    from napari_crf_label._reader import read_session

    image_path, strokes_path, strokes, _ = scene
    monkeypatch.chdir(tmp_path)
    code, err = _cli(capsys, "run", "scene.png", "--strokes", "strokes.png", "-o", "out")  # relative, as typed
    assert code == 0, err
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    Image.fromarray(np.zeros((120, 200, 3), np.uint8)).save(elsewhere / "scene.png")  # a different scene.png
    monkeypatch.chdir(elsewhere)
    layers = read_session(str(tmp_path / "out" / "scene_session.npz"))
    assert [kind for _, _, kind in layers] == ["image", "labels"]
    assert np.array_equal(layers[0][0], np.array(Image.open(image_path)))  # the session's own image
    assert np.array_equal(layers[1][0], strokes)
    image_path.rename(tmp_path / "moved.png")
    with pytest.warns(UserWarning, match="its image .*scene.png was not found; only the strokes were loaded"):
        layers = read_session(str(tmp_path / "out" / "scene_session.npz"))
    assert [kind for _, _, kind in layers] == ["labels"]


# ------------------------------------------------------- 2: all-or-nothing export, also with --overwrite
def _snapshot(folder):
    """Return {name: bytes} of every file in a folder (hidden temporaries included)."""
    return {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()}


def test_overwrite_export_is_all_or_nothing(tmp_path, capsys, scene, monkeypatch):
    image_path, strokes_path, strokes, _ = scene
    out = tmp_path / "out"
    assert _cli(capsys, "run", image_path, "--strokes", strokes_path, "-o", out)[0] == 0
    (out / "scene_report.txt").unlink()
    (out / "scene_report.txt").mkdir()  # a folder where the report goes
    before = _snapshot(out)
    code, err = _cli(capsys, "run", image_path, "--strokes", strokes_path, "-o", out, "--overwrite", "--gt-prob", "0.8")
    assert code == 2 and "scene_report.txt is a folder" in _one_error_line(err)
    assert _snapshot(out) == before
    (out / "scene_report.txt").rmdir()
    assert _cli(capsys, "run", image_path, "--strokes", strokes_path, "-o", out, "--overwrite")[0] == 0
    before = _snapshot(out)

    import napari_crf_label.io.atomic as atomic

    keep, calls = atomic._keep_aside, []

    def fails_fourth(target, tmp):  # the disk fills up while the fourth file is placed
        calls.append(target)
        if len(calls) == 4:
            raise OSError(28, "No space left on device")
        return keep(target, tmp)

    monkeypatch.setattr(atomic, "_keep_aside", fails_fourth)
    code, err = _cli(capsys, "run", image_path, "--strokes", strokes_path, "-o", out, "--overwrite", "--gt-prob", "0.8")
    assert code == 2 and "No space left on device" in _one_error_line(err)
    assert len(calls) == 4 and _snapshot(out) == before  # the three placed files were put back; no temporaries


# ------------------------------------------------------- 15: concurrent exports
def test_concurrent_exports_one_wins_whole(tmp_path, monkeypatch):
    import threading

    from napari_crf_label import export_all
    from napari_crf_label.io import atomic
    from napari_crf_label.session import load_session

    image, _, strokes = two_region_scene()
    data = read_image_from(image, tmp_path)
    result = label_image(data, strokes)
    out = tmp_path / "out"
    out.mkdir()
    barrier = threading.Barrier(2)
    commit = atomic.Staging.commit

    def late_commit(self):  # both exports have passed their checks and staged every file
        if len(self._pending) > 1:
            barrier.wait(timeout=30)
        commit(self)

    monkeypatch.setattr(atomic.Staging, "commit", late_commit)
    outcome = {}

    def run(seconds):
        try:
            export_all(result, data, out, annotation_seconds=seconds)
            outcome[seconds] = "ok"
        except FileExistsError as exc:
            outcome[seconds] = exc

    threads = [threading.Thread(target=run, args=(s,)) for s in (1.0, 2.0)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    winners = [s for s, o in outcome.items() if o == "ok"]
    assert len(winners) == 1, outcome
    loser = outcome[3.0 - winners[0]]
    assert "appeared while writing" in str(loser) or "exist" in str(loser)
    names = sorted(p.name for p in out.iterdir())
    assert names == sorted(["scene_mres.mat", "scene_mres.png", "scene_report.txt", "scene_label.png",
                            "scene_session.npz"])  # no temporaries
    assert f"annotation time: {winners[0]:.1f} s" in (out / "scene_report.txt").read_text()
    assert load_session(out / "scene_session.npz").params["annotation_seconds"] == winners[0]


def read_image_from(image, folder):
    """Save an array as folder/scene.png and read it back."""
    Image.fromarray(image).save(folder / "scene.png")
    return read_image(folder / "scene.png")


# ------------------------------------------------------- 3: SIGTERM cleans up like Ctrl-C
_SLOW_EXPORT = """
import sys, time
import napari_crf_label.io.export as export
from napari_crf_label.cli import main
write_report = export.write_report
def slow(*args, **kwargs):
    path = write_report(*args, **kwargs)
    print("EXPORTING", file=sys.stderr, flush=True)
    time.sleep(60)
    return path
export.write_report = slow
sys.exit(main(sys.argv[1:]))
"""


def _run_until(argv, marker, tmp_path, script=None):
    """Start the CLI, wait for ``marker`` on stderr, send SIGTERM; return (exit code, stderr)."""
    import signal
    import subprocess
    import sys
    import time

    cmd = [sys.executable, "-c", script, *argv] if script else [sys.executable, "-m", "napari_crf_label.cli", *argv]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path)
    err, deadline = "", time.time() + 120
    while marker not in err and time.time() < deadline and proc.poll() is None:
        err += proc.stderr.read(1)
    assert marker in err, err
    proc.send_signal(signal.SIGTERM)
    _, rest = proc.communicate(timeout=60)
    return proc.returncode, err + rest


def test_sigterm_during_export_leaves_nothing(tmp_path, scene):
    image_path, strokes_path, _, _ = scene
    code, err = _run_until(["run", str(image_path), "--strokes", str(strokes_path), "-o", str(tmp_path / "out")],
                           "EXPORTING", tmp_path, _SLOW_EXPORT)
    assert code == 143 and "napari-crf-label: terminated (SIGTERM)" in err and "Traceback" not in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["scene.png", "strokes.png"]  # -o folder removed too


def test_sigterm_during_stream_leaves_nothing(tmp_path):
    image, _, strokes = two_region_scene(height=900, width=900, boundary=450)
    _geotiff(tmp_path / "big.tif", np.moveaxis(image, -1, 0))
    _geotiff(tmp_path / "big_st.tif", strokes.astype(np.uint8))
    code, err = _run_until(["run", "big.tif", "--strokes", "big_st.tif", "--stream", "-w", "300",
                            "--method", "crf", "--iterations", "200"], "CRF tiles 1/", tmp_path)
    assert code == 143 and "terminated" in err and "Traceback" not in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["big.tif", "big_st.tif"]


# ------------------------------------------------------- 8: multi-page TIFFs
def test_multipage_tiff_pages_become_bands(tmp_path, capsys, scene):
    import tifffile

    from napari_crf_label._reader import read_tiff

    _, strokes_path, strokes, truth = scene
    image, _, _ = two_region_scene()
    path = tmp_path / "pages.tif"
    noise = np.random.default_rng(1).integers(0, 255, truth.shape, dtype=np.uint8)
    for page in (noise, noise[::-1], image[..., 0]):  # only page 3 tells the regions apart
        tifffile.imwrite(path, page, append=True)
    data = read_image(path)
    assert data.array.shape == (120, 200, 3) and np.array_equal(data.array[..., 2], image[..., 0])
    layer_image = read_tiff(str(path))[0][1]["metadata"]["napari_crf_label"]["image"]
    assert layer_image.array.shape == (120, 200, 3)  # the napari reader keeps every page
    code, err = _cli(capsys, "run", path, "--strokes", strokes_path, "-o", tmp_path / "out", "--method", "crf")
    assert code == 0, err
    assert "3 band(s)" in (tmp_path / "out" / "pages_report.txt").read_text()
    assert (np.array(Image.open(tmp_path / "out" / "pages_label.png")) == truth).mean() > 0.95


def test_multipage_tiff_of_different_sizes_refused(tmp_path, capsys, scene):
    import tifffile

    from napari_crf_label._reader import read_tiff

    _, strokes_path, _, _ = scene
    path = tmp_path / "mixed.tif"
    tifffile.imwrite(path, np.zeros((120, 200), np.uint8), append=True)
    tifffile.imwrite(path, np.zeros((60, 100), np.uint8), append=True)
    code, err = _cli(capsys, "run", path, "--strokes", strokes_path)
    assert code == 2 and "mixed.tif: 2 pages of different sizes or types" in _one_error_line(err)
    with pytest.raises(InputError, match="save the page to label as its own TIFF"):
        read_tiff(str(path))
    stacked = tmp_path / "stacked.tif"
    for _ in range(2):
        tifffile.imwrite(stacked, np.zeros((120, 200), np.uint8), append=True)
    code, err = _cli(capsys, "run", stacked, "--strokes", strokes_path, "--stream")
    assert code == 2 and "(--stream reads one page)" in _one_error_line(err)


def test_no_replace_without_hard_links(tmp_path, monkeypatch):
    """On file systems without hard links (FAT, some shares) placing falls back to renameat2(RENAME_NOREPLACE)."""
    import errno
    import os

    from napari_crf_label import OutputExistsError
    from napari_crf_label.io.atomic import Staging, _place_no_replace

    def no_links(*args, **kwargs):
        raise OSError(errno.EPERM, "Operation not permitted")

    monkeypatch.setattr(os, "link", no_links)
    first, second = Staging(), Staging()
    first.path(tmp_path / "a.txt").write_text("first")
    second.path(tmp_path / "a.txt").write_text("second")  # both checked while a.txt did not exist
    first.commit()
    with pytest.raises(OutputExistsError):
        second.commit()
    assert (tmp_path / "a.txt").read_text() == "first"
    assert [p.name for p in tmp_path.iterdir()] == ["a.txt"]
    # the placing itself never replaces, even when a file appears after every check
    (tmp_path / "b.txt").write_text("mine")
    (tmp_path / "tmp").write_text("new")
    with pytest.raises(FileExistsError):
        _place_no_replace(tmp_path / "tmp", tmp_path / "b.txt")
    assert (tmp_path / "b.txt").read_text() == "mine"
    (tmp_path / "tmp").unlink()
    (tmp_path / "b.txt").unlink()
    with Staging(overwrite=True) as again:  # replacing still works (the old file is moved aside, then back on error)
        again.path(tmp_path / "a.txt").write_text("third")
    assert (tmp_path / "a.txt").read_text() == "third" and [p.name for p in tmp_path.iterdir()] == ["a.txt"]


def test_api_never_writes_over_inputs(tmp_path):
    from napari_crf_label import export_all
    from napari_crf_label.pipeline import label_raster

    image, _, strokes = two_region_scene()
    Image.fromarray(image).save(tmp_path / "x_label.png")  # the image is named like an output of stem "x"
    data = read_image(tmp_path / "x_label.png")
    result = label_image(data, strokes)
    with pytest.raises(InputError, match="x_label.png is an input of this run"):
        export_all(result, data, tmp_path, "x", overwrite=True)
    img = _geotiff(tmp_path / "img.tif", np.moveaxis(image, -1, 0))
    st = _geotiff(tmp_path / "st.tif", strokes.astype(np.uint8))
    before = st.read_bytes()
    with pytest.raises(InputError, match="st.tif is an input of this run"):
        label_raster(img, st, st, overwrite=True)
    assert st.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["img.tif", "st.tif", "x_label.png"]


def test_session_with_bad_strokes_is_refused_by_the_reader(tmp_path):
    """Beyond the list: a hand-made session goes through the same stroke check as files and arrays."""
    import json

    from napari_crf_label._reader import read_session

    path = tmp_path / "hand_session.npz"
    np.savez(path, strokes=np.array([[0, 1.5], [2, 0]]), class_names=np.array(["a", "b"]),
             class_colors=np.array(["r", "g"]), params=np.array(json.dumps({})), image_path=np.array(""),
             format_version=np.array(2))
    with pytest.raises(StrokesError, match="hand_session.npz: strokes: values must be whole class numbers"):
        read_session(str(path))


# ------------------------------------------------------- the no-data pass of a streamed run
@pytest.mark.parametrize("nodata", [None, 0])
def test_the_nodata_pass_reads_the_image_only_where_it_can_matter(tmp_path, monkeypatch, nodata):
    from napari_crf_label.sources import RasterSource

    rng = np.random.default_rng(0)
    bands = rng.integers(1, 255, (3, 300, 200), dtype=np.uint8)
    strokes = np.zeros((300, 200), np.uint8)
    strokes[250:260, 20:80] = 1  # strokes only near the bottom
    bands[:, 250:252, 20:40] = 0  # and some of them on black pixels
    extra = {} if nodata is None else {"nodata": nodata}
    source = RasterSource(_geotiff(tmp_path / "img.tif", bands, **extra), _geotiff(tmp_path / "st.tif", strokes),
                          chunk=100)  # row bands of 50 rows
    reads = []
    original = RasterSource._read_raw
    monkeypatch.setattr(RasterSource, "_read_raw", lambda self, tile: reads.append(tile) or original(self, tile))
    dropped = source.nodata_strokes(1)
    if nodata is None:  # no pixel can be no-data: nothing is read, nothing dropped
        assert reads == [] and dropped.tolist() == [0]
    else:  # the one row band with strokes is read, and its strokes on black pixels counted
        assert [(t.y0, t.y1) for t in reads] == [(250, 300)] and dropped.tolist() == [40]
