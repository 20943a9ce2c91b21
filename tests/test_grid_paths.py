"""Grid path distances: the same values as skimage's MCP_Geometric on a real image, by either algorithm."""

import numpy as np
import pytest
from skimage.graph import MCP_Geometric

from napari_crf_label import grid_paths
from napari_crf_label.geodesic import edge_costs
from napari_crf_label.image_io import read_image
from napari_crf_label.sample import sample_files
from napari_crf_label.strokes import read_strokes


@pytest.fixture(scope="module")
def sample_costs_and_strokes() -> tuple[np.ndarray, np.ndarray]:
    """The bundled Landsat sample's edge costs (the geodesic's) and its painted strokes."""
    files = sample_files()
    image = read_image(files.image)
    return edge_costs(image.array, 120000.0), read_strokes(files.strokes, image)


@pytest.mark.parametrize("max_sweeps", [grid_paths.MAX_SWEEPS, 1])  # 1: the Dijkstra finishes
def test_distances_equal_skimage_mcp_geometric_on_the_sample(sample_costs_and_strokes, monkeypatch, max_sweeps):
    costs, strokes = sample_costs_and_strokes
    monkeypatch.setattr(grid_paths, "MAX_SWEEPS", max_sweeps)
    for k in np.unique(strokes[strokes > 0]):
        starts = np.argwhere(strokes == k)
        expected, _ = MCP_Geometric(costs).find_costs(starts)
        np.testing.assert_array_equal(grid_paths.grid_distances(costs, starts), expected)


def test_a_winding_path_needs_the_dijkstra_and_gets_skimages_values():
    # upright walls with gaps at alternate ends: the cheap way right goes down, up, down... (a round of sweeps per turn)
    costs = np.ones((60, 200))
    for i, col in enumerate(range(10, 200, 10)):
        costs[:, col] = 1e9
        gap = slice(57, 60) if i % 2 == 0 else slice(0, 3)
        costs[gap, col] = 1.0
    assert not grid_paths._sweep(np.where(np.arange(costs.size).reshape(costs.shape) == 0, 0.0, np.inf), costs, 2)
    expected, _ = MCP_Geometric(costs).find_costs([[0, 0]])
    np.testing.assert_array_equal(grid_paths.grid_distances(costs, [[0, 0]]), expected)
    assert expected[0, -1] > 19 * 55  # the path really winds


def test_no_starts_leaves_every_pixel_unreached():
    assert np.isinf(grid_paths.grid_distances(np.ones((3, 4)), np.zeros((0, 2), int))).all()
