"""minigen/energy/score_matching.py: the DSM loss's minimiser on Gaussian data is the true
score of the noised data (closed form), the sigma^2 weighting turns it into the regression
on the noise, the DDPM eps <-> score identity holds numerically on a Gaussian, and a tiny
score model lowers its loss."""
import numpy as np
import pytest

import autograd
from minigen import nn
from minigen.diffusion import linear_schedule, q_sample
from minigen.energy import (NoiseConditionalScore, ScoreMLP, dsm_loss, eps_from_score,
                            geometric_sigmas, score_from_eps, unet_score)
from minigen.optim import Adam


class AffineScore(nn.Module):
    """s(x, i) = a_i x + b_i per level i: the family holding every Gaussian's score."""

    def __init__(self, levels):
        super().__init__()
        self.a = nn.Parameter(autograd.zeros(levels, dtype=np.float64).data)
        self.b = nn.Parameter(autograd.zeros(levels, dtype=np.float64).data)

    def forward(self, x, i):
        return self.a[i].reshape(-1, 1) * x + self.b[i].reshape(-1, 1)


def test_the_dsm_minimiser_on_gaussian_data_is_the_score_of_the_noised_data():
    """Data N(mu, s^2): q_sigma = N(mu, s^2 + sigma^2), its score -(x - mu) / (s^2 +
    sigma^2), i.e. a = -1 / (s^2 + sigma^2), b = mu / (s^2 + sigma^2) at every level."""
    autograd.manual_seed(0)
    mu, s = 1.0, 0.5
    sigmas = geometric_sigmas(1.0, 0.2, 3)
    model = AffineScore(3)
    opt = Adam(model.parameters(), lr=0.05)
    x = autograd.tensor(mu + s * np.random.default_rng(0).standard_normal((20000, 1)))
    for _ in range(400):
        loss = dsm_loss(model, x, sigmas)
        opt.zero_grad()
        loss.backward()
        opt.step()
    variance = s ** 2 + sigmas ** 2
    np.testing.assert_allclose(model.a.numpy(), -1 / variance, rtol=0.05)
    np.testing.assert_allclose(model.b.numpy(), mu / variance, rtol=0.05)


def test_the_weighted_dsm_loss_is_the_regression_on_the_noise():
    """sigma^2 l = 1/2 ||sigma s(x_tilde) + z||^2: with s = net / sigma the loss is
    1/2 ||net(x + sigma z) + z||^2, recomputed here from the same z."""
    sigmas = np.array([2.0, 0.5])
    net = ScoreMLP(3, 8, 1).double()
    model = NoiseConditionalScore(net, sigmas)
    x = autograd.tensor(np.random.default_rng(0).standard_normal((5, 3)))
    levels = autograd.tensor(np.array([0, 1, 1, 0, 1]))
    autograd.manual_seed(3)
    loss = dsm_loss(model, x, sigmas, levels, reduction='none').numpy()
    autograd.manual_seed(3)
    z = autograd.randn_like(x).numpy()
    sigma = sigmas[levels.numpy()][:, None]
    with autograd.no_grad():
        eps_pred = net(autograd.tensor(x.numpy() + sigma * z), levels).numpy()
    np.testing.assert_allclose(loss, 0.5 * ((eps_pred + z) ** 2).sum(1), rtol=1e-10)


def test_ddpm_eps_is_the_score_scaled_by_minus_sqrt_one_minus_alpha_bar():
    """x_0 ~ N(mu, s^2), x_t = sqrt(ab) x_0 + sqrt(1 - ab) eps (the project's q_sample): the
    best eps predictor E[eps | x_t], fitted by least squares on 200,000 samples, mapped by
    score_from_eps, is the closed-form score of q_t = N(sqrt(ab) mu, ab s^2 + 1 - ab); and
    eps_from_score maps the closed-form score back onto the fitted predictor."""
    mu, s = 1.5, 0.4
    schedule = linear_schedule(1000)
    rng = np.random.default_rng(0)
    for t in (50, 300, 800):
        ab = float(schedule.alpha_bar[t])
        x0 = autograd.tensor(mu + s * rng.standard_normal((200000, 1)))
        eps = autograd.tensor(rng.standard_normal((200000, 1)))
        x_t = q_sample(schedule, x0, autograd.tensor(np.full(200000, t)), eps).numpy()[:, 0]
        slope, intercept = np.polyfit(x_t, eps.numpy()[:, 0], 1)  # E[eps | x_t] is affine
        grid = np.linspace(-1, 3, 9) * np.sqrt(ab)
        eps_hat = autograd.tensor(slope * grid + intercept)
        true_score = -(grid - np.sqrt(ab) * mu) / (ab * s ** 2 + 1 - ab)
        np.testing.assert_allclose(score_from_eps(eps_hat, ab).numpy(), true_score,
                                   atol=0.02 * np.abs(true_score).max() + 1e-3)
        np.testing.assert_allclose(eps_from_score(autograd.tensor(true_score), ab).numpy(),
                                   eps_hat.numpy(), atol=0.02)


def test_a_tiny_score_model_lowers_its_loss():
    autograd.manual_seed(0)
    sigmas = geometric_sigmas(1.0, 0.05, 4)
    model = NoiseConditionalScore(ScoreMLP(2, 32, 2), sigmas)
    opt = Adam(model.parameters(), lr=3e-3)
    rng = np.random.default_rng(0)
    x = autograd.tensor((rng.standard_normal((512, 2)) * 0.1 + [[1.0, -1.0]]).astype(np.float32))
    levels = autograd.tensor(np.arange(512) % 4)

    def loss_now():
        autograd.manual_seed(7)
        with autograd.no_grad():
            return dsm_loss(model, x, sigmas, levels).item()
    before = loss_now()
    for _ in range(150):
        loss = dsm_loss(model, x[autograd.randint(0, 512, (128,))], sigmas)
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss_now() < 0.7 * before


def test_the_unet_score_is_the_unet_divided_by_sigma_and_checks_its_levels():
    sigmas = geometric_sigmas(1.0, 0.01, 3)
    model = unet_score(sigmas, 1, 8, 8, (1, 2))
    for p in model.parameters():  # the output conv starts at zero; make it speak
        p.data[...] = p.data + 0.05
    x = autograd.randn(2, 1, 8, 8)
    i = autograd.tensor(np.array([0, 2]))
    with autograd.no_grad():
        out, raw = model(x, i).numpy(), model.net(x, i).numpy()
    np.testing.assert_allclose(out, raw / sigmas[[0, 2]].reshape(2, 1, 1, 1), rtol=1e-5)
    with pytest.raises(ValueError, match='NoiseConditionalScore: i must be'):
        model(x, autograd.tensor(np.array([0, 3])))


def test_dsm_loss_refuses_bad_levels_and_reductions():
    model = NoiseConditionalScore(ScoreMLP(2, 4, 1), [1.0, 0.1])
    x = autograd.randn(3, 2)
    with pytest.raises(ValueError, match='dsm_loss: levels'):
        dsm_loss(model, x, model.sigmas, autograd.tensor(np.array([0.0, 1.0, 0.0])))
    with pytest.raises(ValueError, match='dsm_loss: reduction'):
        dsm_loss(model, x, model.sigmas, reduction='sum')
