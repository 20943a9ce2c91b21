"""Composites offered for multi-band images: the file's metadata first, then common sensors."""

import pytest

from napari_crf_label.bands import band_label, composites, saved_bands


def test_file_colour_interpretation_comes_first():
    offered = composites(4, ["blue", "green", "red", "undefined"])
    assert offered[0] == ("the file's colours", (2, 1, 0))


def test_band_descriptions_give_natural_colour_and_colour_infrared():
    offered = dict(composites(5, band_names=["Blue", "Green", "Red", "Red edge", "NIR"]))
    assert offered["natural colour (band names)"] == (2, 1, 0)
    assert offered["colour infrared (band names)"] == (4, 2, 1)
    # "Red edge" must not be taken for red: red is found only when one band matches
    assert "natural colour (band names)" not in dict(composites(3, band_names=["Red", "Red", "Blue"]))


@pytest.mark.parametrize("n, natural, infrared", [(6, (2, 1, 0), (3, 2, 1)), (7, (3, 2, 1), (4, 3, 2)),
                                                  (12, (3, 2, 1), (7, 3, 2)), (13, (3, 2, 1), (7, 3, 2))])
def test_sensor_presets_by_band_count(n, natural, infrared):
    offered = composites(n)
    assert offered[0][1] == natural and offered[0][0].startswith("natural colour")
    assert infrared in [bands for _, bands in offered]
    assert all(max(bands) < n for _, bands in offered)


@pytest.mark.parametrize("n, shortwave", [(6, (4, 3, 2)), (7, (5, 4, 3)), (8, (5, 4, 3)), (12, (10, 7, 3)),
                                           (13, (11, 7, 3))])
def test_landsat_and_sentinel_offer_shortwave_infrared(n, shortwave):
    # SWIR 1, NIR, red (Landsat 5-4-3 / 6-5-4): trial 34 typed it into the R, G, B boxes to see water, sand, plants
    offered = dict(composites(n))
    assert [bands for name, bands in offered.items() if name.startswith("shortwave infrared")] == [shortwave]


def test_grey_and_two_band_images_and_the_fallback():
    assert composites(1) == [("band 1 (grey)", (0,))]
    assert [bands for _, bands in composites(2)] == [(0,), (1,)]
    assert composites(5) == [("bands 1, 2, 3", (0, 1, 2))]
    with pytest.raises(ValueError):
        composites(0)


def test_band_label():
    assert band_label(3) == "B4" and band_label(3, ["", "", "", "NIR"]) == "B4 (NIR)"


def test_saved_bands_are_taken_only_as_a_composite_of_the_image():
    assert saved_bands([4, 3, 2], 6) == (4, 3, 2) and saved_bands([0], 1) == (0,)
    # another image's bands, or no composite at all
    for bands in ([4, 3, 6], [1, 2], None, "432", [True, 0, 1], [1.0, 2, 3]):
        assert saved_bands(bands, 6) is None
