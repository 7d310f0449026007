"""minigen.flows.gaussian_nll: the fitted Gaussian a 2-D flow's held-out -log p is read
against."""
import numpy as np
import pytest

from minigen.flows import gaussian_nll


def test_matches_the_density_written_out_through_a_cholesky_factor():
    rng = np.random.default_rng(0)
    train = rng.standard_normal((500, 2)) @ np.array([[2.0, 0.0], [0.7, 0.5]]) + [1.0, -3.0]
    held = rng.standard_normal((50, 2)) * 1.5
    mu, cov = train.mean(0), np.cov(train.T)
    L = np.linalg.cholesky(cov)
    u = np.linalg.solve(L, (held - mu).T)           # Sigma^{-1/2} (x - mu)
    log_p = -0.5 * (u ** 2).sum(0) - np.log(np.diag(L)).sum() - np.log(2 * np.pi)
    assert gaussian_nll(train, held) == pytest.approx(-log_p.mean(), rel=1e-10)


def test_points_far_from_the_training_cloud_cost_more():
    rng = np.random.default_rng(1)
    train = rng.standard_normal((1000, 2))
    assert gaussian_nll(train, train[:100] + 5) > gaussian_nll(train, train[:100]) + 10
