"""The spectral contrastive loss (minigen/contrastive/spectral.py): against a NumPy loop over
its definition (norms capped at sqrt(mu)), its value at orthonormal coinciding views, its
gradients by central differences, and SimCLR trained with it."""
import numpy as np
import pytest
from hypothesis import assume, given, settings, strategies as st

import autograd
from autograd.testing import assert_gradients_close
from minigen.contrastive.encoders import ResNetEncoder
from minigen.contrastive.simclr import SimCLR
from minigen.contrastive.spectral import spectral_contrastive_loss


def spectral_reference(z1, z2, mu):
    """-2/N sum_i z1_i.z2_i + 1/(N(N-1)) sum_{i != j} (z1_i.z2_j)^2, over mu, each row
    first shrunk to a norm of at most sqrt(mu)."""
    def cap(z):
        return np.array([r * min(1.0, np.sqrt(mu) / np.linalg.norm(r)) for r in z])
    z1, z2 = cap(z1), cap(z2)
    n = len(z1)
    positive = sum(z1[i] @ z2[i] for i in range(n)) / n
    negative = sum((z1[i] @ z2[j]) ** 2 for i in range(n) for j in range(n) if i != j)
    return (-2 * positive + negative / (n * (n - 1))) / mu


@pytest.mark.parametrize('mu', [0.5, 1.0, 4.0])
def test_spectral_loss_matches_numpy(mu):
    rng = np.random.default_rng(0)
    z1 = rng.standard_normal((6, 4)) * rng.uniform(0.2, 2, (6, 1))   # norms on both sides
    z2 = rng.standard_normal((6, 4)) * rng.uniform(0.2, 2, (6, 1))
    got = spectral_contrastive_loss(autograd.tensor(z1), autograd.tensor(z2), mu).item()
    assert got == pytest.approx(spectral_reference(z1, z2, mu), rel=1e-10)


def test_orthonormal_coinciding_views_reach_minus_two():
    """Identical unit positives, orthogonal negatives: -2 + 0, the smallest value for unit
    embeddings."""
    z = autograd.tensor(np.eye(4, 6))
    assert spectral_contrastive_loss(z, z).item() == pytest.approx(-2.0, abs=1e-12)


def _away_from_the_cap(z, mu):
    """Rows whose norm is not within 5% of sqrt(mu), where the cap has its kink."""
    norms = np.linalg.norm(z, axis=1)
    return np.all(np.abs(norms - np.sqrt(mu)) > 0.05 * np.sqrt(mu))


@settings(max_examples=10)
@given(n=st.integers(2, 4), d=st.integers(1, 4), mu=st.sampled_from([0.5, 1.0, 3.0]),
       seed=st.integers(0, 999))
def test_spectral_loss_gradients_match_central_differences(n, d, mu, seed):
    rng = np.random.default_rng(seed)
    z1, z2 = (rng.standard_normal((n, d)) * rng.uniform(0.2, 2, (n, 1)) for _ in range(2))
    assume(_away_from_the_cap(z1, mu) and _away_from_the_cap(z2, mu))
    assert_gradients_close(lambda a, b: spectral_contrastive_loss(a, b, mu),
                           autograd.tensor(z1), autograd.tensor(z2))


def test_spectral_loss_refuses_bad_input():
    with pytest.raises(ValueError, match='spectral_contrastive_loss'):
        spectral_contrastive_loss(autograd.randn(3, 4), autograd.randn(2, 4))
    with pytest.raises(ValueError, match='N >= 2'):
        spectral_contrastive_loss(autograd.randn(1, 4), autograd.randn(1, 4))
    with pytest.raises(ValueError, match='mu must be > 0'):
        spectral_contrastive_loss(autograd.randn(3, 4), autograd.randn(3, 4), mu=0)


def test_simclr_trains_with_the_spectral_loss():
    autograd.manual_seed(0)
    model = SimCLR(ResNetEncoder(1, widths=(4,), groups=2), proj_dim=3, loss='spectral')
    x1, x2 = autograd.randn(4, 1, 6, 6), autograd.randn(4, 1, 6, 6)
    _, z = model(autograd.cat([x1, x2], axis=0))
    loss = model.loss(x1, x2)
    assert loss.item() == pytest.approx(spectral_reference(z.numpy()[:4].astype(np.float64),
                                                           z.numpy()[4:].astype(np.float64),
                                                           1.0), rel=1e-4, abs=1e-6)
    loss.backward()
    assert all(p.grad is not None for p in model.parameters())
    with pytest.raises(ValueError, match="loss must be 'nt_xent' or 'spectral'"):
        SimCLR(ResNetEncoder(1, widths=(4,), groups=2), loss='infonce')
