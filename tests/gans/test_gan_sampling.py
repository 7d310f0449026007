"""minigen/gans/sampling.py: samples in [0, 1] in eval mode, interpolations that start and
end at the endpoints' samples, class grids whose columns share their noise."""
import numpy as np

import autograd
from minigen.gans import DCGANGenerator
from minigen.gans.sampling import class_grid, interpolate, sample


def generator(num_classes=None):
    autograd.manual_seed(0)
    return DCGANGenerator(8, 16, 1, ngf=4, num_classes=num_classes)


def test_sample_is_in_0_1_batched_like_unbatched_and_leaves_train_mode():
    G = generator()
    z = autograd.randn(7, 8)
    x = sample(G, z, batch=3)
    assert x.shape == (7, 1, 16, 16) and 0 <= x.min() <= x.max() <= 1
    np.testing.assert_allclose(x, sample(G, z), rtol=1e-5, atol=1e-6)  # eval mode: no batch stats
    assert G.training


def test_interpolate_runs_from_z_a_to_z_b():
    G = generator()
    z_a, z_b = autograd.randn(3, 8), autograd.randn(3, 8)
    strips = interpolate(G, z_a, z_b, steps=5)
    assert strips.shape == (3, 5, 1, 16, 16)
    np.testing.assert_allclose(strips[:, 0], sample(G, z_a), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(strips[:, -1], sample(G, z_b), rtol=1e-5, atol=1e-6)


def test_class_grid_row_k_is_class_k_and_column_j_keeps_its_noise():
    G = generator(num_classes=3)
    z = autograd.randn(4, 8)
    grid = class_grid(G, z, 3)
    assert grid.shape == (12, 1, 16, 16)
    for k in range(3):
        y = autograd.tensor(np.full(4, k))
        np.testing.assert_allclose(grid[4 * k:4 * k + 4], sample(G, z, y), rtol=1e-5, atol=1e-6)
