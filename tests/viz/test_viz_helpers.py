"""minigen.viz's demo helpers: titled panels side by side, the loss curve with its running
mean, and 2-D points on a fixed canvas."""
import numpy as np
import pytest
from PIL import Image

from minigen.viz import panels_image, points_image, running_mean, save_loss_curve, save_panels


def test_panels_sit_side_by_side_under_their_titles(tmp_path):
    a = Image.new('RGB', (30, 20), (255, 0, 0))
    b = np.zeros((4, 3, 8, 8), np.float32)                # a batch becomes a grid first
    im = panels_image([a, b], ['red', 'black'], nrow=2, gap=10)
    grid_w = im.width - 30 - 10
    assert grid_w > 16 and im.height >= 20 + 22
    assert im.getpixel((15, 22 + 10)) == (255, 0, 0)      # the first panel below its title
    assert im.getpixel((35, 30)) == (255, 255, 255)       # the gap
    assert im.crop((0, 0, 30, 20)).getextrema() != ((255, 255),) * 3  # a title was drawn
    save_panels([a, a], ['x', 'y'], tmp_path / 'p.png')
    with Image.open(tmp_path / 'p.png') as saved:
        assert saved.format == 'PNG' and saved.width == 70
    with pytest.raises(ValueError, match='one title per panel'):
        panels_image([a, a], ['only one'])


def test_running_mean_and_loss_curve(tmp_path):
    x, mean = running_mean([1, 2, 3, 4, 5], 2)
    np.testing.assert_array_equal(x, [1, 2, 3, 4])
    np.testing.assert_allclose(mean, [1.5, 2.5, 3.5, 4.5])
    assert running_mean([1, 2], 5) is None
    save_loss_curve(np.linspace(1, 0.1, 120), tmp_path / 'loss.png', window=50)
    save_loss_curve([0.5, 0.4], tmp_path / 'short.png', window=50)  # too short to smooth
    for name in ('loss.png', 'short.png'):
        with Image.open(tmp_path / name) as im:
            assert im.format == 'PNG'


def test_points_land_where_their_coordinates_say():
    img = points_image(np.array([[0.0, 0.0], [5.0, 5.0]]), lim=1.0, size=101)
    assert img.shape == (1, 3, 101, 101) and img.dtype == np.float32
    assert img.min() >= 0 and img.max() <= 1
    assert img[0, :, 50, 50].max() < 0.9                # the origin is drawn in the middle
    assert np.all(img[0, :, 1:5, 95:100] == 1)           # (5, 5) is off the canvas: left out
    with pytest.raises(ValueError, match=r'\(N, 2\)'):
        points_image(np.zeros((3, 3)), lim=1.0)
