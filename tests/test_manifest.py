import importlib

from npe2 import PluginManifest


def test_manifest_is_valid_and_complete():
    manifest = PluginManifest.from_distribution("napari-crf-label")  # validates the schema
    contributions = manifest.contributions
    assert [w.display_name for w in contributions.widgets] == ["CRF labelling"]
    assert {e for w in contributions.writers for e in w.filename_extensions} == {".png", ".tif", ".tiff", ".npz"}
    assert "*_session.npz" in contributions.readers[0].filename_patterns
    assert [s.key for s in contributions.sample_data] == ["bahamas"]
    # found by napari's plugin installer, and the panel also sits under Layers > Segment
    assert manifest.visibility == "public"
    assert {str(c) for c in manifest.categories} == {"Annotation", "Segmentation"}
    assert [m.command for m in contributions.menus["napari/layers/segment"]] == ["napari-crf-label.widget"]
    for command in contributions.commands:
        module, _, attr = command.python_name.partition(":")
        assert callable(getattr(importlib.import_module(module), attr)), command.id


def test_panel_opens_from_layers_segment_menu(make_napari_viewer):
    from napari._app_model import get_app_model

    viewer = make_napari_viewer()
    items = get_app_model().menus.get_menu("napari/layers/segment")
    ours = [i for i in items if getattr(getattr(i, "command", None), "id", "") == "napari-crf-label.widget"]
    assert len(ours) == 1
    get_app_model().commands.execute_command("napari-crf-label.widget").result()  # what clicking the entry does
    docks = [d for d in viewer.window._dock_widgets.values() if "CRF labelling" in d.name]
    assert len(docks) == 1
