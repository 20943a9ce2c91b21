from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from napari_crf_label.classes import (
    MAX_CLASSES,
    ClassFileError,
    ClassSet,
    default_colors,
    read_class_files,
    renamed_colors,
)


def write(tmp_path: Path, name: str, content: str | bytes) -> Path:
    p = tmp_path / name
    p.write_bytes(content if isinstance(content, bytes) else content.encode())
    return p


def test_real_monterey_files_15_classes_no_trailing_newline(shared_data):
    files = shared_data / "class_files"
    assert not (files / "monterey_label_colors.txt").read_bytes().endswith(b"\n")
    cs = read_class_files(files / "monterey_labels.txt", files / "monterey_label_colors.txt")
    assert len(cs) == 15
    assert cs.names[0] == "agricultural" and cs.names[-1] == "wetsand"
    assert cs.colors[0] == "#556B2F" and cs.colors[-1] == "#FFD700"
    rgb = cs.rgb_uint8()
    assert rgb[0].tolist() == [0x55, 0x6B, 0x2F]  # hex
    assert rgb[1].tolist() == [255, 0, 0]  # 'r'
    assert rgb[6].tolist() == [255, 255, 255]  # 'w'
    assert rgb[8].tolist() == [128, 128, 128]  # 'gray'


def test_real_elwha_files(shared_data):
    files = shared_data / "class_files"
    cs = read_class_files(files / "elwha_labels.txt", files / "elwha_label_colors.txt")
    assert cs.names == ("sediment", "road", "wood", "terrain", "veg", "water")
    assert cs.rgb_uint8()[-1].tolist() == [0, 0, 255]


def test_mismatched_lengths_names_both_files(tmp_path):
    labels = write(tmp_path, "labels.txt", "a\nb\nc\n")
    colors = write(tmp_path, "colors.txt", "r\ng\n")
    with pytest.raises(ClassFileError, match=r"labels\.txt has 3 classes but .*colors\.txt has 2 colors"):
        read_class_files(labels, colors)


def test_unknown_color_names_file_and_line(tmp_path):
    labels = write(tmp_path, "labels.txt", "a\nb\n")
    colors = write(tmp_path, "colors.txt", "r\nnotacolour\n")
    with pytest.raises(ClassFileError, match=r"colors\.txt, line 2: unknown color 'notacolour'"):
        read_class_files(labels, colors)


def test_duplicate_names(tmp_path):
    labels = write(tmp_path, "labels.txt", "sand\nwater\nsand\n")
    with pytest.raises(ClassFileError, match=r"labels\.txt, line 3: duplicate class name 'sand'.*line 1"):
        read_class_files(labels)


def test_blank_line_between_entries(tmp_path):
    labels = write(tmp_path, "labels.txt", "sand\n\nwater\n")
    with pytest.raises(ClassFileError, match=r"line 2: blank line"):
        read_class_files(labels)


def test_trailing_blank_lines_crlf_and_bom_are_fine(tmp_path):
    labels = write(tmp_path, "labels.txt", b"\xef\xbb\xbfsand\r\nwater\r\n\r\n")
    colors = write(tmp_path, "colors.txt", "y\n#0000ff\n\n")
    cs = read_class_files(labels, colors)
    assert cs.names == ("sand", "water")
    assert cs.rgb_uint8().tolist() == [[191, 191, 0], [0, 0, 255]]


def test_non_utf8_reports_line(tmp_path):
    labels = write(tmp_path, "labels.txt", b"sand\nwat\xe9r\n")
    with pytest.raises(ClassFileError, match=r"line 2: not valid UTF-8"):
        read_class_files(labels)


def test_missing_file(tmp_path):
    with pytest.raises(ClassFileError, match="file not found"):
        read_class_files(tmp_path / "nope.txt")


def test_empty_file(tmp_path):
    with pytest.raises(ClassFileError, match="no classes"):
        read_class_files(write(tmp_path, "labels.txt", "\n\n"))


def test_too_many_classes(tmp_path):
    labels = write(tmp_path, "labels.txt", "\n".join(f"c{i}" for i in range(MAX_CLASSES + 1)))
    with pytest.raises(ClassFileError, match="256 classes, at most 255"):
        read_class_files(labels)


def test_from_names_default_palette_distinct():
    cs = ClassSet.from_names("water, sand ,veg")
    assert cs.names == ("water", "sand", "veg")
    assert len({tuple(c) for c in cs.rgb_uint8().tolist()}) == 3


def test_from_names_colours_follow_usual_names():
    """Typed names get the colours a user expects (sand is not blue), distinct, the rest from the palette."""
    cs = ClassSet.from_names("water, sand, vegetation, cloud, road, building, land")
    assert cs.colors == ("#1f77b4", "#e9c46a", "#2ca02c", "#ffffff", "#808080", "#d62728", "#a0522d")
    assert ClassSet.from_names("deep_water, shallow_water, Green-Veg").colors == ("#000080", "#17becf", "#2ca02c")
    twice = ClassSet.from_names("water, lake, dark, bright")  # a taken colour goes to the palette
    assert twice.colors[0] == "#1f77b4" and len(set(twice.colors)) == 4
    assert ClassSet.from_names("a, b").colors == ("#1f77b4", "#ff7f0e")  # unknown names: the palette, as before
    assert "#1f77b4" not in default_colors(["water", "x"], avoid=("tab:blue",))


def test_from_names_rejects_blank_and_mismatch():
    with pytest.raises(ClassFileError, match="blank"):
        ClassSet.from_names("water,,veg")
    with pytest.raises(ClassFileError, match="2 class names but 1 colors"):
        ClassSet.from_names(["a", "b"], ["r"])


names = st.lists(st.text(alphabet=st.characters(blacklist_categories=("Cc", "Cs", "Zl", "Zp", "Zs")),
                         min_size=1, max_size=12), min_size=1, max_size=20, unique=True)


@given(names=names, trailing_newline=st.booleans())
def test_roundtrip_property(tmp_path_factory, names, trailing_newline):
    tmp = tmp_path_factory.mktemp("cls")
    colors = ["#%06x" % (i * 9973 % 0xFFFFFF) for i in range(len(names))]
    end = "\n" if trailing_newline else ""
    labels = write(tmp, "l.txt", "\n".join(names) + end)
    cols = write(tmp, "c.txt", "\n".join(colors) + end)
    cs = read_class_files(labels, cols)
    assert cs.names == tuple(names)
    assert np.array_equal(cs.rgb_uint8(), np.array([[int(c[i:i + 2], 16) for i in (1, 3, 5)] for c in colors]))


def test_typed_names_keep_their_colours_and_a_usual_new_name_takes_its_own():
    """Trial 40 typed "water, land, cloud" over five classes: cloud came out in road's grey."""
    survey = ClassSet.from_names("water, land, road, building, vegetation")
    colors = renamed_colors(survey.names, survey.colors, ["water", "land", "cloud"])
    assert colors == [survey.colors[0], survey.colors[1], "#ffffff"]
    # a rename to a name without a usual colour keeps the place's colour; a name moved keeps its own
    custom = ClassSet.from_names(["veg1", "bare"], ["#123456", "#654321"])
    assert renamed_colors(custom.names, custom.colors, ["zone A", "bare"]) == ["#123456", "#654321"]
    assert renamed_colors(custom.names, custom.colors, ["bare", "veg1", "x"])[:2] == ["#654321", "#123456"]
    # every colour distinct, the new ones too
    mixed = renamed_colors(survey.names, survey.colors, ["road", "sea", "lake", "building", "thing"])
    assert len(set(mixed)) == 5 and mixed[0] == survey.colors[2] and mixed[3] == survey.colors[3]


def test_a_painted_class_renamed_keeps_the_colour_on_screen():
    survey = ClassSet.from_names(["dark", "bright", "haze"], ["#111111", "#eeeeee", "#777777"])
    colors = renamed_colors(survey.names, survey.colors, ["water", "sand", "cloud"], painted={1, 2})
    assert colors == ["#111111", "#eeeeee", "#ffffff"]
