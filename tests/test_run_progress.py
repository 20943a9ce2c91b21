"""The panel's stage text and bar during a run, from reports of several threads (no viewer needed)."""

from __future__ import annotations

from napari_crf_label._run_progress import PREVIEW_TEXT, RunProgress


def test_the_preview_is_named_while_the_prior_thread_reports_beside_it():
    progress = RunProgress()
    assert progress.on_stage("preview", 0.0) == (PREVIEW_TEXT, None)
    assert progress.on_stage("proximity", 0.5) is None
    text, bar = progress.on_stage("training", 0.5)  # the full run, after its preview
    assert text == "training: 50%" and 0 < bar < 0.4


def test_an_earlier_stage_is_named_again_only_once_the_one_named_is_complete():
    progress = RunProgress()
    assert progress.on_stage("proximity", 0.75)[0] == "proximity: 75%"
    assert progress.on_stage("training", 0.75)[0] is None  # beside an unfinished proximity: not named
    assert progress.on_stage("proximity", 1.0)[0] == "proximity: 100%"
    # named again after the proximity, it says why: not a step back (trial 31 read "proximity" then "training")
    assert progress.on_stage("training", 0.8)[0] == "training: 80% (proximity done)"
    assert progress.on_stage("proximity", 1.0) is None  # ended: its last step reports again, not named back
    assert progress.on_stage("training", 0.9)[0] == "training: 90% (proximity done)"
    assert progress.on_stage("features", 1.0)[0] == "features: 100%"
    assert progress.on_stage("proximity", 0.5) is None  # never back from the tiles


def test_tiles_side_by_side_name_the_one_furthest_on_and_the_bar_follows_the_tiles():
    progress = RunProgress()
    first = progress.on_tiles(0, 4)
    assert first == 0.4 and progress.on_tiles(0, 4) is None  # the same count moves nothing
    text, bar = progress.on_stage("CRF", 0.6)
    assert text == "CRF: 60% (tile 1 of 4)" and first < bar < 0.4 + 0.6 / 4
    assert progress.on_stage("features", 0.1) is None  # another tile, behind the one named
    assert progress.on_stage("CRF", 0.8)[0] == "CRF: 80% (tile 1 of 4)"
    after = progress.on_tiles(1, 4)  # the first tile ended: the other one leads now
    assert after > bar
    assert progress.on_stage("features", 0.9)[0] == "features: 90% (tile 2 of 4)"


def test_an_export_names_every_stage_with_its_own_fraction():
    progress = RunProgress(exporting=True)
    assert progress.on_stage("writing", 0.5) == ("writing: 50%", 0.5)
    assert progress.on_stage("figure", 0.25) == ("figure: 25%", 0.25)


def test_a_stage_the_bar_does_not_know_is_named_without_moving_the_bar():
    assert RunProgress().on_stage("compiling", 0.5) == ("compiling: 50%", None)


def test_the_bar_moves_with_both_stages_before_the_tiles_named_or_not():
    # trial 29: on a 9 MP GeoTIFF the training and the proximity took 3.1 s of a 5.4 s run, while the bar, which
    # gave them 10 %, stood at "10 % in all" (and a report not named moved nothing)
    progress = RunProgress()
    bars = [progress.on_stage("proximity", 0.5)[1]]
    text, bar = progress.on_stage("training", 0.5)  # beside an unfinished proximity: not named, the bar moves
    assert text is None and bar == 0.4 * (0.5 + 0.5) / 2
    bars.append(bar)
    for stage, fraction in (("proximity", 1.0), ("training", 0.8), ("training", 1.0)):
        bars.append(progress.on_stage(stage, fraction)[1])
    assert bars == sorted(bars) and bars[-1] == 0.4  # both done: the tiles start where the bar stands
    assert progress.on_tiles(0, 2) == 0.4


def test_a_run_that_trains_nothing_moves_the_bar_with_its_proximity_alone():
    progress = RunProgress()
    assert progress.on_stage("proximity", 1.0) == ("proximity: 100%", 0.4)
