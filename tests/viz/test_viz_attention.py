"""viz.attention_image: DINO's class-token attention maps under their images."""
import numpy as np
import pytest

from minigen import viz
from minigen.viz.attention import heat


def test_heat_runs_black_red_yellow_white():
    maps = np.array([0.0, 1 / 3, 2 / 3, 1.0]).reshape(4, 1, 1)
    rgb = heat(maps)[:, :, 0, 0]
    np.testing.assert_allclose(rgb, [[0, 0, 0], [1, 0, 0], [1, 1, 0], [1, 1, 1]], atol=1e-12)


def test_a_row_per_head_under_the_images_each_map_stretched():
    rng = np.random.default_rng(0)
    images = rng.uniform(0, 1, (3, 1, 8, 8))
    attention = rng.uniform(0.2, 0.3, (3, 2, 2, 2))
    im = viz.attention_image(images, attention, scale=1)
    same = viz.grid_image(np.zeros((9, 3, 8, 8)), nrow=3, scale=1,
                          row_labels=['image', 'head 1', 'head 2'])
    assert im.size == same.size   # three rows of three 8x8 tiles
    pixels = np.asarray(im, dtype=float)
    assert pixels.max() == 255    # each map stretched: its maximum is white


def test_attention_that_does_not_tile_the_image_is_refused():
    with pytest.raises(ValueError, match='attention_image'):
        viz.attention_image(np.zeros((2, 3, 8, 8)), np.zeros((2, 1, 3, 3)))
