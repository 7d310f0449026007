"""minigen/gans/losses.py: the optimal discriminator and the value at equilibrium,
each loss's value and signs against float64 NumPy formulas, the gradient penalty and R1
(second-order quantities) against finite differences, and a tiny GAN that learns a mean."""
import math

import numpy as np
import pytest

import autograd as ag
import minigen.nn.functional as F
from minigen import optim
from minigen.gans import MLPDiscriminator
from minigen.gans.losses import (KINDS, discriminator_loss, generator_loss,
                                       gradient_penalty, r1_penalty)


def softplus(x):
    return np.logaddexp(0, x)


def sigmoid(x):
    return 1 / (1 + np.exp(-x))


# ---- the minimax game on a 1-D example (Goodfellow et al. 2014, Prop. 1 and Theorem 1) ----

def binned_samples(seed=0, n=4000, bins=10):
    """Bin indices of n draws from p_data = N(0, 1) and p_g = N(1, 1.5^2) on [-3, 3]
    (outliers join the end bins):
    a discriminator with one free logit per bin can reach the optimum exactly."""
    rng = np.random.default_rng(seed)
    edges = np.linspace(-3, 3, bins + 1)
    real = np.clip(np.digitize(rng.normal(0, 1, n), edges) - 1, 0, bins - 1)
    fake = np.clip(np.digitize(rng.normal(1, 1.5, n), edges) - 1, 0, bins - 1)
    q_d = np.bincount(real, minlength=bins) / n
    q_g = np.bincount(fake, minlength=bins) / n
    return real, fake, q_d, q_g


def value(l, real, fake):
    """-discriminator_loss = V(D, G) for per-bin logits l."""
    return -discriminator_loss(l[ag.tensor(real)], l[ag.tensor(fake)])


def test_optimal_discriminator_is_pd_over_pd_plus_pg_and_value_is_minus_log4_plus_2jsd():
    real, fake, q_d, q_g = binned_samples()
    d_star = q_d / (q_d + q_g)                      # D*(x) = p_d / (p_d + p_g)
    l_star = ag.tensor(np.log(d_star / (1 - d_star)), dtype=ag.float64, requires_grad=True)
    v = value(l_star, real, fake)
    v.backward()
    np.testing.assert_allclose(l_star.grad.numpy(), 0, atol=1e-12)  # D* is stationary
    m = (q_d + q_g) / 2
    jsd = 0.5 * (q_d * np.log(q_d / m)).sum() + 0.5 * (q_g * np.log(q_g / m)).sum()
    assert v.item() == pytest.approx(-math.log(4) + 2 * jsd, abs=1e-12)
    # and gradient ascent on V from D = 1/2 finds D*
    l = ag.zeros(len(q_d), dtype=ag.float64, requires_grad=True)
    opt = optim.Adam([l], lr=0.1)
    for _ in range(300):
        opt.zero_grad()
        (-value(l, real, fake)).backward()
        opt.step()
    np.testing.assert_allclose(sigmoid(l.numpy()), d_star, atol=2e-3)
    assert value(l, real, fake).item() <= v.item() + 1e-9
    # the continuous p_d / (p_d + p_g) at the bin centres, within sampling noise
    centres = np.linspace(-3, 3, 11)[:-1] + 0.3
    p_d = np.exp(-centres ** 2 / 2)
    p_g = np.exp(-(centres - 1) ** 2 / (2 * 1.5 ** 2)) / 1.5
    inner = slice(2, 8)  # bins with enough samples of both
    np.testing.assert_allclose(d_star[inner], (p_d / (p_d + p_g))[inner], atol=0.06)


def test_at_equilibrium_d_is_one_half_and_the_value_is_minus_log4():
    real, _, q_d, _ = binned_samples()
    l = ag.zeros(len(q_d), dtype=ag.float64, requires_grad=True)  # p_g = p_d: D* = 1/2
    v = value(l, real, real)
    v.backward()
    assert v.item() == pytest.approx(-math.log(4), abs=1e-12)
    np.testing.assert_allclose(l.grad.numpy(), 0, atol=1e-12)
    fake_logits = ag.zeros(7, dtype=ag.float64)
    assert generator_loss(fake_logits, 'minimax').item() == pytest.approx(-math.log(2))
    assert generator_loss(fake_logits, 'nonsaturating').item() == pytest.approx(math.log(2))


# ---- each loss: value and signs ----

REFERENCE_D = {
    'minimax': lambda r, f: softplus(-r).mean() + softplus(f).mean(),
    'nonsaturating': lambda r, f: softplus(-r).mean() + softplus(f).mean(),
    'hinge': lambda r, f: np.maximum(1 - r, 0).mean() + np.maximum(1 + f, 0).mean(),
    'wasserstein': lambda r, f: f.mean() - r.mean()}
REFERENCE_G = {'minimax': lambda f: -softplus(f).mean(),
               'nonsaturating': lambda f: softplus(-f).mean(),
               'hinge': lambda f: -f.mean(), 'wasserstein': lambda f: -f.mean()}


@pytest.mark.parametrize('kind', KINDS)
def test_loss_values_and_sign_conventions(kind):
    rng = np.random.default_rng(1)
    r_np, f_np = rng.uniform(-0.9, 0.9, 9), rng.uniform(-0.9, 0.9, 9)  # inside the hinge
    r = ag.tensor(r_np, dtype=ag.float64, requires_grad=True)
    f = ag.tensor(f_np, dtype=ag.float64, requires_grad=True)
    d = discriminator_loss(r, f, kind)
    g = generator_loss(f, kind)
    assert d.item() == pytest.approx(REFERENCE_D[kind](r_np, f_np), abs=1e-12)
    assert g.item() == pytest.approx(REFERENCE_G[kind](f_np), abs=1e-12)
    d.backward()
    assert (r.grad.numpy() < 0).all()  # D wants real scores up ...
    assert (f.grad.numpy() > 0).all()  # ... and fake scores down
    f.grad = None
    g.backward()
    assert (f.grad.numpy() < 0).all()  # G wants its samples' scores up


def test_minimax_generator_loss_saturates_where_nonsaturating_does_not():
    f = ag.full((4,), -8.0, dtype=ag.float64, requires_grad=True)  # D rejects the fakes
    generator_loss(f, 'minimax').backward()
    saturating = np.abs(f.grad.numpy()).sum()
    f.grad = None
    generator_loss(f, 'nonsaturating').backward()
    strong = np.abs(f.grad.numpy()).sum()
    assert saturating == pytest.approx(sigmoid(-8.0))       # sum_i sigma(l_i) / N
    assert strong == pytest.approx(sigmoid(8.0))            # sum_i (1 - sigma(l_i)) / N
    assert strong > 1000 * saturating


@pytest.mark.parametrize('kind', ['minimax', 'nonsaturating'])
def test_one_sided_label_smoothing_targets_1_minus_s_on_reals_only(kind):
    """smoothing s: the real term is the cross-entropy to target 1 - s, whose minimum over
    the logit is at sigmoid(l) = 1 - s; the fake term is untouched."""
    rng = np.random.default_rng(2)
    r_np, f_np, s = rng.normal(0, 2, 7), rng.normal(0, 2, 7), 0.1
    r = ag.tensor(r_np, dtype=ag.float64, requires_grad=True)
    d = discriminator_loss(r, ag.tensor(f_np, dtype=ag.float64), kind, smoothing=s)
    expected = ((1 - s) * softplus(-r_np) + s * softplus(r_np)).mean() + softplus(f_np).mean()
    assert d.item() == pytest.approx(expected, abs=1e-12)
    d.backward()  # d/dl of the real term: (sigmoid(l) - (1 - s)) / N, zero at the target
    np.testing.assert_allclose(r.grad.numpy(), (sigmoid(r_np) - (1 - s)) / 7, atol=1e-12)
    assert discriminator_loss(r, ag.tensor(f_np), kind, smoothing=0.0).item() == \
        pytest.approx(REFERENCE_D[kind](r_np, f_np), abs=1e-6)


def test_label_smoothing_is_refused_outside_0_1_and_for_the_hinge():
    x = ag.zeros(3)
    for s in (-0.1, 1.0):
        with pytest.raises(ValueError, match='discriminator_loss: smoothing'):
            discriminator_loss(x, x, 'nonsaturating', smoothing=s)
    with pytest.raises(ValueError, match="smoothing .* 'hinge'"):
        discriminator_loss(x, x, 'hinge', smoothing=0.1)


def test_losses_refuse_unknown_kind_and_bad_shapes():
    x = ag.zeros(3)
    with pytest.raises(ValueError, match='kind must be one of'):
        discriminator_loss(x, x, 'lsgan')
    with pytest.raises(ValueError, match=r'gans.losses.generator_loss: expected .* \(N,\)'):
        generator_loss(ag.zeros(3, 1))
    with pytest.raises(ValueError, match='same shape'):
        gradient_penalty(lambda v: v.sum(axis=1), ag.zeros(3, 2), ag.zeros(4, 2))


# ---- the gradient penalty and R1 ----

def tanh_critic(W1, b1, w2):
    """f(x) = w2 . tanh(W1 x + b1), as a function of its parameters."""
    return lambda x: ((x @ W1.T + b1).tanh() * w2).sum(axis=1)


def tanh_input_gradient(W1, b1, w2, x):
    """grad_x f = W1^T (w2 * (1 - tanh^2(W1 x + b1))), one row per example (float64)."""
    return (w2 * (1 - np.tanh(x @ W1.T + b1) ** 2)) @ W1


def mlp_params(rng, d=3, h=5):
    return [rng.standard_normal((h, d)), rng.standard_normal(h) * 0.5, rng.standard_normal(h)]


def test_gradient_penalty_and_r1_match_their_closed_forms():
    rng = np.random.default_rng(2)
    params = mlp_params(rng)
    real, fake, alpha = rng.standard_normal((6, 3)), rng.standard_normal((6, 3)), rng.random(6)
    critic = tanh_critic(*[ag.tensor(p, dtype=ag.float64) for p in params])
    t = lambda a: ag.tensor(a, dtype=ag.float64)  # noqa: E731
    gp = gradient_penalty(critic, t(real), t(fake), lam=10.0, alpha=t(alpha))
    x_hat = alpha[:, None] * real + (1 - alpha[:, None]) * fake
    norm = np.linalg.norm(tanh_input_gradient(*params, x_hat), axis=1)
    assert gp.item() == pytest.approx(10 * ((norm - 1) ** 2).mean(), rel=1e-9)
    r1 = r1_penalty(critic, t(real), gamma=4.0)
    g = tanh_input_gradient(*params, real)
    assert r1.item() == pytest.approx(2.0 * (g ** 2).sum(1).mean(), rel=1e-9)


def test_gradient_penalty_of_a_linear_critic_is_lam_times_norm_minus_one_squared():
    w = ag.tensor([[0.6, 0.8, 1.0]], dtype=ag.float64)  # ||w|| = sqrt 2 everywhere
    gp = gradient_penalty(lambda x: (x @ w.T).reshape(x.shape[0]), ag.randn(5, 3).double(),
                          ag.randn(5, 3).double())
    assert gp.item() == pytest.approx(10 * (math.sqrt(2) - 1) ** 2, rel=1e-9)


def test_gradient_penalty_gradient_wrt_mlp_critic_parameters_matches_finite_differences():
    rng = np.random.default_rng(3)
    params = [ag.tensor(p, dtype=ag.float64, requires_grad=True) for p in mlp_params(rng)]
    real, fake = ag.tensor(rng.standard_normal((4, 3))), ag.tensor(rng.standard_normal((4, 3)))
    alpha = ag.tensor(rng.random(4))
    ag.gradcheck(lambda W1, b1, w2: gradient_penalty(tanh_critic(W1, b1, w2), real, fake,
                                                     alpha=alpha), params)
    ag.gradcheck(lambda W1, b1, w2: r1_penalty(tanh_critic(W1, b1, w2), real), params)


def test_gradient_penalty_gradient_through_conv_layer_norm_critic_matches_finite_differences():
    """A DCGAN-style critic: conv(4, 2, 1) -> layer norm (GroupNorm, 1 group) ->
    leaky ReLU(0.2) -> linear; its penalty's parameter gradient is a second derivative
    through all three."""
    rng = np.random.default_rng(4)
    shapes = [(3, 1, 4, 4), (3,), (3,), (3,), (3 * 3 * 3,)]
    params = [ag.tensor(rng.standard_normal(s) * 0.5 + (1.0 if i == 2 else 0.0),
                        dtype=ag.float64, requires_grad=True) for i, s in enumerate(shapes)]
    real = ag.tensor(rng.standard_normal((3, 1, 6, 6)))
    fake = ag.tensor(rng.standard_normal((3, 1, 6, 6)))
    alpha = ag.tensor(rng.random(3))

    def penalty(W, b, gamma, beta, w):
        def critic(x):
            h = F.conv2d(x, W, b, stride=2, padding=1)
            h = F.leaky_relu(F.group_norm(h, 1, gamma, beta), 0.2)
            return h.reshape(x.shape[0], -1) @ w
        return gradient_penalty(critic, real, fake, alpha=alpha)

    ag.gradcheck(penalty, params, atol=1e-6, rtol=1e-5)


# ---- a tiny GAN on a 1-D Gaussian ----

@pytest.mark.parametrize('kind, steps, n_critic, tolerance', [('nonsaturating', 150, 1, 0.3),
                                                            ('wasserstein', 60, 5, 1.0)])
def test_tiny_gan_moves_generator_mean_to_the_data_mean(kind, steps, n_critic, tolerance):
    """Data N(3, 0.5^2); G(z) = a z + b starts at b = 0. The non-saturating GAN brings b
    to 3 within 150 updates; WGAN-GP (5 critic steps, lambda 10, Adam betas (0, 0.9)) gets
    within 1 of it in 60 (it then overshoots and comes back: W-GAN dynamics in 1-D)."""
    ag.manual_seed(0)
    rng = np.random.default_rng(0)
    a = ag.tensor([1.0], requires_grad=True)
    b = ag.tensor([0.0], requires_grad=True)
    D = MLPDiscriminator(in_dim=1, width=32)
    betas = (0.5, 0.999) if kind == 'nonsaturating' else (0.0, 0.9)
    opt_g = optim.Adam([a, b], lr=0.05, betas=betas)
    opt_d = optim.Adam(D.parameters(), lr=0.01, betas=betas)
    for _ in range(steps):
        for _ in range(n_critic):
            real = ag.tensor(rng.normal(3, 0.5, (64, 1)).astype(np.float32))
            fake = ag.randn(64, 1) * a + b
            d_loss = discriminator_loss(D(real), D(fake.detach()), kind)
            if kind == 'wasserstein':
                d_loss = d_loss + gradient_penalty(D, real, fake, lam=10.0)
            opt_d.zero_grad()
            d_loss.backward()
            opt_d.step()
        g_loss = generator_loss(D(ag.randn(64, 1) * a + b), kind)
        opt_g.zero_grad()
        g_loss.backward()
        opt_g.step()
    assert abs(b.item() - 3) < tolerance, b.item()
