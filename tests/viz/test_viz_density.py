"""minigen/viz/density.py: the heat map puts the highest value brightest and keeps row 0 at
the top; curves land where their coordinates say; bad inputs are refused."""
import numpy as np
import pytest

from minigen.viz import curves_image, density_image


def test_density_image_is_brightest_at_the_highest_value_with_row_0_on_top():
    values = np.zeros((10, 10))
    values[0, 9] = 5.0  # top right
    im = density_image(values, size=100)
    assert im.shape == (1, 3, 100, 100) and im.dtype == np.float32
    brightness = im[0].sum(0)
    assert brightness[:10, 90:].mean() > brightness[90:, :10].mean() + 1


def test_curves_image_draws_a_curve_where_its_points_are():
    line = np.stack([np.linspace(-1, 1, 50), np.full(50, 0.5)], -1)[None]  # y = 0.5, y up
    im = curves_image(line, lim=1.0, size=101)
    ink = im[0].sum(0) < 2.9
    rows = np.flatnonzero(ink.any(axis=1))
    assert rows.min() >= 23 and rows.max() <= 27  # y = 0.5 is a quarter of the way down


def test_bad_inputs_are_refused():
    with pytest.raises(ValueError, match="density_image: expected finite values"):
        density_image(np.array([[np.nan, 0.0], [0.0, 0.0]]))
    with pytest.raises(ValueError, match=r"curves_image: expected curves \(L, P, 2\)"):
        curves_image(np.zeros((3, 2)), lim=1.0)
