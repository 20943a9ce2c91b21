"""Everything that writes to disk: atomic staging, the exports, sessions.

- :mod:`.atomic`: staged, all-or-nothing, no-replace writes and clean-up on signals;
- :mod:`.export`: the outputs of a run (``export_all``);
- :mod:`.session`: saved sessions and autosaves;
- :mod:`.raster`: the streamed label GeoTIFF, written window by window.

Reading images and strokes stays in :mod:`napari_crf_label.image_io` and
:mod:`napari_crf_label.strokes`. Nothing here imports the pipeline
(:mod:`napari_crf_label.pipeline`), so there is no import circle.
"""
