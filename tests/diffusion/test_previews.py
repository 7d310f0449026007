"""minigen.diffusion.X0Preview: x0_hat of fixed images at fixed noise levels."""
import numpy as np
import pytest

import autograd
from minigen.diffusion import X0Preview, linear_schedule, q_sample


def setup(n=3, timesteps=(5, 50, 95), y=None):
    rng = np.random.default_rng(0)
    x0 = autograd.tensor(rng.uniform(-1, 1, (n, 1, 4, 4)).astype(np.float32))
    eps = autograd.tensor(rng.standard_normal((n, 1, 4, 4)).astype(np.float32))
    return linear_schedule(100), x0, eps, X0Preview(linear_schedule(100), x0, eps, timesteps, y)


def test_an_oracle_network_gives_back_the_clean_images_at_every_t():
    schedule, x0, eps, preview = setup()
    k, n = 3, 3

    def oracle(x_t, t):   # the true noise of each row of x_t
        return autograd.cat([eps] * k)
    x_t, hat = preview(oracle, 'eps')
    assert x_t.shape == hat.shape == (k, n, 1, 4, 4)
    want = np.clip((x0.numpy() + 1) / 2, 0, 1)
    for i in range(k):
        np.testing.assert_allclose(hat[i], want, atol=1e-4)
    # x_t row i is q_sample at timesteps[i], shown in [0, 1]
    t = autograd.tensor(np.full(n, 50), dtype=autograd.int64)
    row = np.clip((q_sample(schedule, x0, t, eps).numpy() + 1) / 2, 0, 1)
    np.testing.assert_allclose(x_t[1], row, atol=1e-6)


def test_a_zero_network_is_clipped_and_the_history_keeps_the_first_image():
    _, _, _, preview = setup()
    _, hat = preview(lambda x_t, t: autograd.zeros(x_t.shape), 'x0', step=10)
    np.testing.assert_allclose(hat, 0.5)                    # x0_hat = 0 -> grey
    preview(lambda x_t, t: autograd.zeros(x_t.shape) + 5.0, 'x0', step=20)
    assert sorted(preview.history) == [10, 20]
    np.testing.assert_allclose(preview.history[20], 1.0)    # clipped to 1
    grid, labels = preview.progress_grid()
    assert labels == ['x_t', 'step 10', 'step 20']
    assert grid.shape == (3 * 4, 1, 4, 4)                    # 3 rows of the image + k = 3


def test_class_labels_reach_the_network_once_per_row():
    seen = []

    def net(x_t, t, y):
        seen.append(y.numpy())
        return autograd.zeros(x_t.shape)
    _, _, _, preview = setup(y=autograd.tensor(np.array([0, 1, 2]), dtype=autograd.int64))
    preview(net, 'eps')
    np.testing.assert_array_equal(seen[0], np.tile([0, 1, 2], 3))
    with pytest.raises(TypeError):
        setup()[3](net, 'eps')    # no labels given: the network is called without y
