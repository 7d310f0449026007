"""minigen/energy/langevin.py: the input gradient against central differences, Langevin
dynamics on a Gaussian energy reaching the stationary mean and variance of the discretised
chain, and annealed Langevin with the exact score of a noised Gaussian reaching the data."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import autograd
from autograd import gradcheck, gradgradcheck
from minigen.energy import (EnergyConvNet, EnergyMLP, annealed_langevin, energy_grad,
                            geometric_sigmas, langevin_dynamics)


def randomized(net, seed=0, spread=0.3):
    """The net in float64 with every parameter moved by N(0, spread^2)."""
    net = net.double()
    rng = np.random.default_rng(seed)
    for p in net.parameters():
        p.data[...] = p.data + spread * rng.standard_normal(p.shape)
    return net


@settings(max_examples=8, deadline=None)
@given(batch=st.integers(1, 4), dim=st.integers(1, 3), seed=st.integers(0, 100))
def test_energy_grad_of_an_mlp_matches_central_differences(batch, dim, seed):
    energy = randomized(EnergyMLP(dim, 6, 2), seed)
    x = autograd.tensor(np.random.default_rng(seed).standard_normal((batch, dim)),
                        requires_grad=True)
    gradcheck(energy, (x,))  # dE/dx through the engine, random upstream, float64
    # energy_grad returns each sample's dE_b/dx_b: central differences of E_b per coordinate
    g = energy_grad(energy, x.detach()).numpy()
    h, numeric = 1e-6, np.zeros((batch, dim))
    for j in range(dim):
        step = np.zeros((batch, dim))
        step[:, j] = h
        with autograd.no_grad():
            numeric[:, j] = (energy(autograd.tensor(x.numpy() + step)).numpy()
                             - energy(autograd.tensor(x.numpy() - step)).numpy()) / (2 * h)
    np.testing.assert_allclose(g, numeric, rtol=1e-5, atol=1e-7)


def test_energy_grad_through_a_conv_energy_passes_gradcheck_and_gradgradcheck():
    energy = randomized(EnergyConvNet(1, 6, 2), seed=1)
    x = autograd.tensor(np.random.default_rng(1).uniform(0, 1, (2, 1, 6, 6)),
                        requires_grad=True)
    gradcheck(lambda v: energy_grad(energy, v, create_graph=True), (x,))
    gradgradcheck(energy, (x,))


def test_energy_grad_leaves_the_parameters_grad_untouched():
    energy = EnergyMLP(2, 8, 1)
    energy_grad(energy, autograd.randn(5, 2))
    assert all(p.grad is None for p in energy.parameters())


def test_energy_grad_refuses_an_energy_that_is_not_one_value_per_sample():
    with pytest.raises(ValueError, match='energy_grad: the energy must return one value'):
        energy_grad(lambda x: (x * x).sum(), autograd.randn(3, 2))


def gaussian_energy(mu, s):
    """E(x) = sum_d (x_d - mu_d)^2 / (2 s_d^2), whose exp(-E) is N(mu, diag(s^2))."""
    mu_t, s_t = autograd.tensor(mu), autograd.tensor(s)
    return lambda x: (((x - mu_t) / s_t) ** 2).sum(axis=1) * 0.5


def test_langevin_on_a_gaussian_energy_reaches_its_mean_and_the_chains_variance():
    """x <- x - (h/2)(x - mu)/s^2 + sqrt(h) z is stationary at mean mu and variance
    s^2 / (1 - h / (4 s^2)) (langevin.py's docstring): 4,000 chains, 300 steps."""
    autograd.manual_seed(0)
    mu, s, h = np.array([1.5, -2.0]), np.array([0.5, 1.0]), 0.05
    x = langevin_dynamics(gaussian_energy(mu, s), autograd.zeros(4000, 2, dtype=np.float64),
                          300, h).numpy()
    stationary = s ** 2 / (1 - h / (4 * s ** 2))
    se_mean = np.sqrt(stationary / 4000)
    np.testing.assert_array_less(np.abs(x.mean(0) - mu), 4 * se_mean)
    np.testing.assert_allclose(x.var(0), stationary, rtol=0.07)
    # the first dimension's bias (+5.3% for h = 0.05, s = 0.5) is resolved from s^2 itself
    assert x.var(0)[0] > s[0] ** 2 * 1.01


def test_langevin_decoupled_noise_and_clamp():
    """noise_std 0 is gradient descent on E (to mu); clamp keeps the chain in its box."""
    mu, s = np.array([0.3, 5.0]), np.array([1.0, 1.0])
    trajectory = []
    x = langevin_dynamics(gaussian_energy(mu, s), autograd.zeros(3, 2, dtype=np.float64), 200,
                          0.5, noise_std=0.0, clamp=(-1.0, 1.0), trajectory=trajectory).numpy()
    np.testing.assert_allclose(x, np.broadcast_to([0.3, 1.0], (3, 2)), atol=1e-6)
    assert len(trajectory) == 201


def test_annealed_langevin_with_the_exact_score_follows_the_algorithm_in_law():
    """For data N(mu, s^2) the score of the data noised at sigma is -(x - mu) / V, V = s^2 +
    sigma^2, so each step (2) maps mean and variance exactly: m <- m - (alpha / 2)(m - mu) /
    V, v <- (1 - alpha / (2 V))^2 v + alpha, and the denoising step (3) scales x - mu by s^2
    / (s^2 + sigma_L^2). 20,000 chains from U(-5, 5) end with that law (alpha_i = eps
    sigma_i^2 / sigma_L^2), close to the data's own."""
    autograd.manual_seed(1)
    mu, s, eps, steps = 2.0, 0.3, 0.005, 50
    sigmas = geometric_sigmas(3.0, 0.1, 8)
    sig_t = autograd.tensor(sigmas)

    def score(x, i):
        return -(x - mu) / (s ** 2 + sig_t[i].reshape(-1, 1) ** 2)
    x = annealed_langevin(score, autograd.rand(20000, 1, dtype=np.float64) * 10 - 5, sigmas,
                          steps, eps).numpy()
    m, v = 0.0, 100 / 12
    for sigma in sigmas:
        alpha, big_v = eps * sigma ** 2 / sigmas[-1] ** 2, s ** 2 + sigma ** 2
        for _ in range(steps):
            m, v = m - alpha / 2 * (m - mu) / big_v, (1 - alpha / (2 * big_v)) ** 2 * v + alpha
    c = s ** 2 / (s ** 2 + sigmas[-1] ** 2)
    m, v = mu + c * (m - mu), c ** 2 * v
    assert abs(x.mean() - m) < 4 * np.sqrt(v / len(x))
    assert abs(x.var() / v - 1) < 0.04
    assert abs(m - mu) < 0.01 and abs(v / s ** 2 - 1) < 0.15


def test_geometric_sigmas_have_a_constant_ratio_and_refuse_bad_ladders():
    sigmas = geometric_sigmas(1.0, 0.01, 10)
    assert sigmas[0] == pytest.approx(1.0) and sigmas[-1] == pytest.approx(0.01)
    np.testing.assert_allclose(sigmas[1:] / sigmas[:-1], 0.01 ** (1 / 9))
    with pytest.raises(ValueError, match='geometric_sigmas'):
        geometric_sigmas(0.01, 1.0, 10)
