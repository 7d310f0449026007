"""Toy 2-D distributions: shapes, determinism and the statistics each one promises."""
import numpy as np
import pytest
from hypothesis import given, strategies as st

from minigen.data.toy2d import toy2d, modes, NAMES


@given(name=st.sampled_from(NAMES), n=st.integers(0, 300), seed=st.integers(0, 2 ** 32 - 1))
def test_points_are_float32_pairs_with_int_labels_and_repeat_by_seed(name, n, seed):
    x, y = toy2d(name, n, seed)
    assert x.shape == (n, 2) and x.dtype == np.float32 and y.shape == (n,) and y.dtype == np.int64
    x2, y2 = toy2d(name, n, seed)
    np.testing.assert_array_equal(x, x2)
    np.testing.assert_array_equal(y, y2)
    assert np.all(np.abs(x) < 6)


@pytest.mark.parametrize('name,std', [('8gaussians', 0.25), ('25gaussians', 0.1)])
def test_mixture_components_have_their_mean_and_std(name, std):
    x, y = toy2d(name, 20_000, seed=1)
    centers = modes(name)
    assert set(np.unique(y)) == set(range(len(centers)))
    for k, c in enumerate(centers):
        pts = x[y == k]
        np.testing.assert_allclose(pts.mean(0), c, atol=5 * std / np.sqrt(len(pts)))
        np.testing.assert_allclose(pts.std(0), std, rtol=0.1)


def test_rings_points_lie_on_their_ring_in_proportion_to_length():
    x, y = toy2d('rings', 20_000, seed=2)
    radius = np.hypot(*x.T)
    for k in range(4):
        err = radius[y == k] - (k + 1)
        assert abs(err.mean()) < 0.01 and abs(err.std() - 0.08) < 0.01
    np.testing.assert_allclose(np.bincount(y) / len(y), np.arange(1, 5) / 10, atol=0.02)


def test_checkerboard_points_fill_only_the_black_squares_uniformly():
    x, y = toy2d('checkerboard', 16_000, seed=3)
    col, row = np.floor(x[:, 0] / 2), np.floor(x[:, 1] / 2)
    assert np.all((col + row) % 2 == 0) and np.all(np.abs(x) <= 4)
    counts = np.bincount(y, minlength=16)
    assert (counts > 0).sum() == 8 and counts[counts > 0].min() > 0.9 * 2000


def test_moons_lie_on_their_unit_half_circles():
    x, y = toy2d('moons', 10_000, seed=4)
    p = x / 2 + [0.5, 0.25]                      # undo the centring and the scale
    radius = np.where(y == 0, np.hypot(p[:, 0], p[:, 1]), np.hypot(p[:, 0] - 1, p[:, 1] - 0.5))
    assert abs(radius.mean() - 1) < 0.01 and radius.std() < 0.15
    assert np.mean(np.where(y == 0, p[:, 1] > 0, p[:, 1] < 0.5)) > 0.8   # upper / lower halves


def test_swissroll_radius_grows_with_its_quarter_label():
    x, y = toy2d('swissroll', 8_000, seed=5)
    radius = np.hypot(*x.T)
    means = [radius[y == k].mean() for k in range(4)]
    assert np.all(np.diff(means) > 0.5) and set(np.unique(y)) == {0, 1, 2, 3}


def test_unknown_names_are_clear_errors():
    with pytest.raises(ValueError, match="toy2d: unknown distribution 'spiral'"):
        toy2d('spiral', 10)
    with pytest.raises(ValueError, match='modes'):
        modes('rings')
    with pytest.raises(ValueError, match='non-negative'):
        toy2d('moons', -3)
