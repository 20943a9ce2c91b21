import numpy as np
import pytest
from PIL import Image

from napari_crf_label.classes import ClassSet
from napari_crf_label.session import Session, SessionError, load_session, save_session
from napari_crf_label.strokes import StrokesError, downscale_strokes, read_strokes, validate_strokes


def test_validate_returns_int32():
    s = np.zeros((4, 5), np.uint8)
    s[1, 1] = 2
    out = validate_strokes(s, (4, 5), 3)
    assert out.dtype == np.int32 and out[1, 1] == 2


@pytest.mark.parametrize("strokes, shape, n, message", [
    (np.zeros((4, 5)), (4, 5), 2, "no strokes"),
    (np.ones((4, 6), int), (4, 5), 2, r"6 x 4 pixels \(width x height\) but the image is 5 x 4"),
    (np.full((4, 5), 3), (4, 5), 2, "class 3 but only 2 classes"),
    (np.full((4, 5), -1), (4, 5), 2, "negative"),
    (np.ones((4, 5, 3), int), (4, 5), 2, "2-D"),
    (np.full((4, 5), 1.5), (4, 5), 2, "whole class numbers"),
])
def test_validate_errors(strokes, shape, n, message):
    with pytest.raises(StrokesError, match=message):
        validate_strokes(strokes, shape, n)


def test_read_png_and_tiff(tmp_path):
    s = np.zeros((6, 7), np.uint8)
    s[2, 3] = 4
    Image.fromarray(s).save(tmp_path / "s.png")
    Image.fromarray(s).save(tmp_path / "s.tif")
    assert np.array_equal(read_strokes(tmp_path / "s.png"), s)
    assert np.array_equal(read_strokes(tmp_path / "s.tif"), s)
    Image.fromarray(np.zeros((6, 7, 3), np.uint8)).save(tmp_path / "rgb.png")
    with pytest.raises(StrokesError, match="single-band"):
        read_strokes(tmp_path / "rgb.png")
    with pytest.raises(StrokesError, match="not found"):
        read_strokes(tmp_path / "none.png")


def test_session_roundtrip_and_as_strokes(tmp_path):
    s = np.zeros((6, 7), np.int32)
    s[0, 0], s[5, 6] = 1, 2
    cs = ClassSet.from_names(["sand", "water"], ["y", "b"])
    path = save_session(tmp_path / "a b.c_session.npz", Session(s, cs, {"scale": 0.5}, "/x/a b.c.jpg"))
    back = load_session(path)
    assert np.array_equal(back.strokes, s)
    assert back.classes == cs and back.params == {"scale": 0.5} and back.image_path == "/x/a b.c.jpg"
    assert np.array_equal(read_strokes(path), s)


def test_corrupt_session_reported_and_kept(tmp_path):
    bad = tmp_path / "bad_session.npz"
    bad.write_bytes(b"PK\x03\x04garbage")
    with pytest.raises(SessionError, match="not a readable session"):
        load_session(bad)
    assert bad.read_bytes() == b"PK\x03\x04garbage"


def test_downscale_keeps_thin_strokes():
    s = np.zeros((100, 100), np.int32)
    s[10, :] = 1  # one-pixel line
    s[:, 77] = 2
    small = downscale_strokes(s, (20, 20))
    assert (small == 1).sum() >= 19  # the horizontal line survives (one cell lost where lines cross)
    assert (small == 2).sum() == 20
    assert small[2, 5] == 1 and small[15, 15] == 2
