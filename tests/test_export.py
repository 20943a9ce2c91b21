import numpy as np
import pytest
import rasterio
from affine import Affine
from PIL import Image
from scipy.io import loadmat

from napari_crf_label import ClassSet, InputError, OutputExistsError, export_all, label_image, read_image
from napari_crf_label.export import atomic_path

from .conftest import two_region_scene


@pytest.fixture
def labelled(tmp_path):
    image, truth, strokes = two_region_scene()
    path = tmp_path / "my scene.v2.final.png"
    Image.fromarray(image).save(path)
    data = read_image(path)
    result = label_image(data, strokes, classes=ClassSet.from_names(["dark sand", "bright"], ["#556B2F", "w"]))
    return data, result, truth


def test_all_outputs_written_and_readable(tmp_path, labelled):
    data, result, truth = labelled
    out = tmp_path / "out"
    out.mkdir()
    paths = export_all(result, data, out, annotation_seconds=73.25)
    names = sorted(p.name for p in out.iterdir())
    assert names == sorted([
        "my scene.v2.final_mres.mat", "my scene.v2.final_mres.png", "my scene.v2.final_report.txt",
        "my scene.v2.final_label.png", "my scene.v2.final_session.npz"])

    # the tutorial's snippet: loadmat, then sparse / class / labels
    dat = loadmat(paths["mat"])
    assert {"sparse", "class", "preds", "labels"} <= set(dat)
    assert dat["sparse"].dtype == np.int32 and np.array_equal(dat["sparse"], result.strokes)
    assert dat["class"].dtype == np.int32 and np.array_equal(dat["class"], result.labels.astype(np.int32) - 1)
    assert (dat["class"] == truth - 1).mean() > 0.99
    assert dat["preds"].shape == (*truth.shape, 2)
    # the probabilities, rounded: zlib kept 80 % of their float32 noise (a 9 MP scene's .mat was 118 MB, trial 29)
    exact = np.moveaxis(result.probabilities, 0, -1)
    assert np.abs(dat["preds"] - exact).max() <= 0.5 / 4096 + 1e-7
    assert [s.strip() for s in dat["labels"]] == ["dark sand", "bright"]

    label_png = np.array(Image.open(paths["label_png"]))
    assert label_png.dtype == np.uint8 and set(np.unique(label_png)) == {1, 2}  # indices, not stretched
    assert np.array_equal(label_png, result.labels)

    fig = Image.open(paths["figure"])
    assert fig.size[0] > 3 * 300 and fig.size[0] > fig.size[1]

    report = paths["report"].read_text()
    assert "my scene.v2.final.png" in report
    assert f"pixels: {truth.size} total" in report
    assert "dark sand: 0.4500 (45.00%)" in report
    assert "annotation time: 73.2 s" in report
    assert "processing time:" in report and "gt_prob: 0.9" in report
    # unset tiling is the default, and the core and halo lines say what it was (not "window: None")
    assert "  window: default" in report and "  overlap: default" in report and "  core: " in report
    assert "\n\nprocessing time:" in report  # apart from the window coverage above it
    assert "holdout_scores: with_proximity " in report  # the check's two scores, not a Python dict


def test_existing_files_not_overwritten_unless_asked(tmp_path, labelled):
    data, result, _ = labelled
    first = export_all(result, data, tmp_path)
    first["report"].write_text("user's own edits")
    with pytest.raises(OutputExistsError, match="_report.txt.*; pass overwrite=True to replace them"):
        export_all(result, data, tmp_path)
    assert first["report"].read_text() == "user's own edits"
    export_all(result, data, tmp_path, overwrite=True)
    assert first["report"].read_text().startswith("napari-crf-label report")
    assert not [p for p in tmp_path.iterdir() if ".part" in p.name]


def test_atomic_write_leaves_nothing_on_failure(tmp_path):
    target = tmp_path / "x.txt"
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("disk full")
    assert list(tmp_path.iterdir()) == []


def test_geotiff_output_keeps_crs_and_transform(tmp_path):
    image, truth, strokes = two_region_scene()
    transform = Affine(0.5, 0.05, 394500.0, 0.03, -0.5, 3871680.0)
    src = tmp_path / "scene.tif"
    with rasterio.open(src, "w", driver="GTiff", width=200, height=120, count=3, dtype="uint8",
                       crs="EPSG:6347", transform=transform) as dst:
        dst.write(np.moveaxis(image, -1, 0))
    data = read_image(src)
    result = label_image(data, strokes)
    paths = export_all(result, data, tmp_path)
    with rasterio.open(paths["label_tif"]) as lab:
        assert lab.crs == data.crs and lab.transform == transform
        assert lab.dtypes == ("uint8",) and lab.nodata == 0
        assert np.array_equal(lab.read(1), result.labels)
        # GIS programs show the classes in their colours, by name
        table = lab.colormap(1)
        assert table[0][3] == 0
        for value, rgb in enumerate(result.classes.rgb_uint8(), start=1):
            assert table[value] == (*rgb, 255)
        assert lab.tags(1)["CLASS_1"] == result.classes.names[0]
        assert lab.tags(1)["CLASS_2"] == result.classes.names[1]


def test_real_geotiff_roundtrip(tmp_path, shared_data):
    data = read_image(shared_data / "geotiff" / "RGB.byte.tif")
    strokes = np.zeros(data.shape, np.int32)
    strokes[300:320, 100:104] = 1  # sea, west of the island
    strokes[350:360, 560:620] = 2  # deep water east
    result = label_image(data, strokes, scale=0.5)
    paths = export_all(result, data, tmp_path)
    with rasterio.open(paths["label_tif"]) as lab, rasterio.open(shared_data / "geotiff" / "RGB.byte.tif") as src:
        assert lab.crs == src.crs and lab.transform == src.transform and lab.shape == src.shape
        out = lab.read(1)
    assert out[0, 0] == 0  # nodata corner stays unlabelled
    assert np.all(out[data.valid] > 0)


def test_missing_outdir_is_created_and_removed_again_if_the_export_fails(tmp_path, labelled, monkeypatch):
    data, result, _ = labelled
    # the README's example exports into "out/" (trial 31: the API refused a folder the CLI and panel create)
    paths = export_all(result, data, tmp_path / "new" / "out")
    assert all(p.parent == tmp_path / "new" / "out" and p.is_file() for p in paths.values())
    (tmp_path / "a file").write_text("mine")
    with pytest.raises(InputError, match="is a file, not a folder"):
        export_all(result, data, tmp_path / "a file")
    assert (tmp_path / "a file").read_text() == "mine"

    def full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("napari_crf_label.io.export.write_figure", full)
    with pytest.raises(OSError, match="No space"):
        export_all(result, data, tmp_path / "other" / "out")
    assert not (tmp_path / "other").exists()  # the folders it made go with the failed export


def test_figure_keeps_thin_strokes_of_a_large_image(tmp_path):
    """A 1 px stroke on a 3201 px image is drawn (plain 1-in-3 subsampling drops all of it)."""
    from napari_crf_label.image_io import as_image_data
    from napari_crf_label.io.export import write_figure
    from napari_crf_label.pipeline import LabelResult

    h = w = 3201
    image = np.full((h, w, 3), 128, np.uint8)
    strokes = np.zeros((h, w), np.int32)
    strokes[1000, 200:3000] = 1  # rows and columns off the 1-in-3 grid
    strokes[400:2800, 2000] = 2
    labels = np.where(np.arange(w)[None, :] < 1600, 1, 2).astype(np.uint8).repeat(h, axis=0)
    classes = ClassSet.from_names(["red", "blue"], ["#ff0000", "#0000ff"])
    result = LabelResult(labels, np.zeros((2, 1, 1), np.float32), classes, strokes)
    write_figure(tmp_path / "f.png", as_image_data(image), result)
    fig = np.asarray(Image.open(tmp_path / "f.png").convert("RGB")).astype(int)
    middle = fig[:, fig.shape[1] // 3: 2 * fig.shape[1] // 3]  # the strokes panel (and its colour bar)
    blended_red = (np.abs(middle - [191, 64, 64]).max(axis=2) < 12).sum()
    blended_blue = (np.abs(middle - [64, 64, 191]).max(axis=2) < 12).sum()
    assert blended_red > 500 and blended_blue > 500, (blended_red, blended_blue)
    # the colour bars show the class colours at full strength, as the colour file gives them
    assert (np.abs(middle - [255, 0, 0]).max(axis=2) < 12).sum() > 500


def test_figure_outlines_strokes_that_look_like_what_they_are_painted_on(tmp_path):
    """A white cloud stroke over a white cloud shows (a black ring), a navy one on dark water too (white)."""
    from napari_crf_label.image_io import as_image_data
    from napari_crf_label.io.export import stroke_outlines, write_figure
    from napari_crf_label.pipeline import LabelResult

    classes = ClassSet.from_names(["cloud", "deep_water"], ["w", "navy"])
    strokes = np.zeros((40, 40), np.int32)
    strokes[10:12, 5:15] = 1
    strokes[30:32, 5:15] = 2
    ring = stroke_outlines(strokes, classes.rgba(), 1)
    assert np.all(ring[9, 5:15] == [0, 0, 0, 1]) and np.all(ring[29, 5:15] == [1, 1, 1, 1])
    assert np.all(ring[strokes > 0, 3] == 0) and ring[20, 20, 3] == 0  # on the strokes and far away: nothing

    image = np.full((600, 600, 3), 250, np.uint8)  # all cloud
    strokes = np.zeros((600, 600), np.int32)
    strokes[290:310, 150:450] = 1
    result = LabelResult(np.ones((600, 600), np.uint8), np.zeros((2, 1, 1), np.float32), classes, strokes)
    write_figure(tmp_path / "f.png", as_image_data(image), result)
    fig = np.asarray(Image.open(tmp_path / "f.png").convert("RGB")).astype(int)
    h, w = fig.shape[:2]
    panels = [fig[int(0.3 * h):int(0.7 * h), int((k + 0.05) * w / 3):int((k + 0.55) * w / 3)] for k in (0, 1)]
    dark = [(panel.max(axis=2) < 60).sum() for panel in panels]
    assert dark[0] == 0 and dark[1] > 200, dark  # the image panel is all white; the strokes panel rings the stroke


def test_the_mat_of_a_photo_is_a_small_part_of_its_probabilities_size(tmp_path):
    # float32 probabilities compressed to 80 % of their size: 6.9 of 8.6 MB for a 0.5 MP photo of 4 classes
    from scipy.io import savemat

    from napari_crf_label.io.export import write_mat

    image, _, strokes = two_region_scene(height=300, width=400)
    result = label_image(image, strokes, classes=["a", "b"])
    path = write_mat(tmp_path / "x_mres.mat", result)
    savemat(tmp_path / "raw.mat", {"preds": np.moveaxis(result.probabilities, 0, -1).astype(np.float32)},
            do_compression=True)
    assert path.stat().st_size < 0.3 * (tmp_path / "raw.mat").stat().st_size
