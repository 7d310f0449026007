"""minigen/autoencoders/vae.py: the closed-form KL against Monte Carlo, the ELBO below log p(x)
(computed on a grid for a 2-D latent), importance sampling, likelihoods against plain NumPy,
gradients in float64, and a tiny VAE that learns."""
import math

import numpy as np
import pytest

import autograd
from autograd import gradcheck
from minigen import optim
from minigen.autoencoders.vae import VAE, gaussian_kl, kl_warmup


def swap_in(module, name, tensor):
    """Make `module` use `tensor` for its parameter at dotted `name` (so a function of that
    tensor can be gradient-checked)."""
    *path, leaf = name.split('.')
    for p in path:
        module = getattr(module, p)
    module._parameters[leaf] = tensor


def tiny_vae(likelihood='bernoulli', arch='mlp', seed=0, **kw):
    autograd.manual_seed(seed)
    shape = (1, 2, 2) if arch == 'mlp' else (1, 4, 4)
    hidden = (8,) if arch == 'mlp' else (4,)
    return VAE(shape, latent_dim=2, arch=arch, hidden=hidden, likelihood=likelihood, **kw).double()


def test_gaussian_kl_matches_monte_carlo_estimate():
    r = np.random.default_rng(0)
    mu, logvar = r.normal(size=(3, 4)), r.normal(scale=0.7, size=(3, 4))
    kl = gaussian_kl(autograd.tensor(mu), autograd.tensor(logvar)).numpy()
    eps = r.standard_normal((200_000, 3, 4))
    z = mu + np.exp(0.5 * logvar) * eps
    # log q(z) - log p(z), summed over latents; the 2 pi terms cancel
    terms = (-0.5 * eps ** 2 - 0.5 * logvar + 0.5 * z ** 2).sum(-1)
    mc, se = terms.mean(0), terms.std(0) / math.sqrt(len(terms))
    assert np.all(np.abs(kl - mc) < 4 * se + 1e-3), (kl, mc, se)
    assert np.all(kl > 0)


def test_kl_warmup_rises_linearly_to_beta():
    assert [kl_warmup(s, 4, beta=2.0) for s in (0, 1, 2, 4, 9)] == [0, 0.5, 1.0, 2.0, 2.0]
    assert kl_warmup(0, 0, beta=0.5) == 0.5


def log_px_on_grid(model, x, half=7.0, n=401):
    """log p(x) = log integral p(x|z) p(z) dz for a 2-D latent, by the trapezoid-free
    Riemann sum on a fine grid (p(z) is negligible beyond |z| = 7)."""
    g = np.linspace(-half, half, n)
    z = np.stack(np.meshgrid(g, g), -1).reshape(-1, 2)
    dz = (g[1] - g[0]) ** 2
    out = []
    with autograd.no_grad():
        for xi in x:
            xs = autograd.tensor(np.broadcast_to(xi, (len(z),) + xi.shape).copy())
            log_lik = model.log_px_given_z(xs, autograd.tensor(z)).numpy()
            a = log_lik - 0.5 * (z ** 2).sum(1) - math.log(2 * math.pi) + math.log(dz)
            out.append(np.log(np.exp(a - a.max()).sum()) + a.max())
    return np.array(out)


@pytest.mark.parametrize('likelihood', ['bernoulli', 'gaussian'])
def test_elbo_is_below_log_px_and_importance_sampling_approaches_it(likelihood):
    model = tiny_vae(likelihood, decoder_std=0.5)
    r = np.random.default_rng(1)
    x = r.uniform(size=(4, 1, 2, 2))
    exact = log_px_on_grid(model, x)
    xt = autograd.tensor(x)
    autograd.manual_seed(2)
    # the ELBO per image, averaged over 4000 draws of eps (one z per draw)
    xs = autograd.tensor(np.repeat(x, 4000, axis=0))
    with autograd.no_grad():
        mu, logvar = model.encode(xs)
        z = model.reparameterize(mu, logvar)
        elbo = (model.log_px_given_z(xs, z) - gaussian_kl(mu, logvar)).numpy()
    elbo = elbo.reshape(4, 4000).mean(1)
    iw = model.importance_log_px(xt, k=4000).numpy()
    assert np.all(elbo < exact), (elbo, exact)
    assert np.all(elbo < iw)
    np.testing.assert_allclose(iw, exact, atol=0.05)


def test_loss_terms_match_numpy_formulas():
    for likelihood in ('bernoulli', 'gaussian'):
        model = tiny_vae(likelihood, decoder_std=0.3)
        r = np.random.default_rng(3)
        x, eps = r.uniform(size=(5, 1, 2, 2)), r.standard_normal((5, 2))
        out = model.loss(autograd.tensor(x), beta=0.7, eps=autograd.tensor(eps))
        with autograd.no_grad():
            mu, logvar = (t.numpy() for t in model.encode(autograd.tensor(x)))
            z = mu + np.exp(0.5 * logvar) * eps
            o = model.decoder(autograd.tensor(z)).numpy()
        if likelihood == 'bernoulli':
            log_lik = (x * o - np.logaddexp(0, o)).sum((1, 2, 3))  # x log s + (1-x) log(1-s)
        else:
            log_lik = (-0.5 * ((x - o) / 0.3) ** 2
                       - math.log(0.3 * math.sqrt(2 * math.pi))).sum((1, 2, 3))
        kl = (-0.5 * (1 + logvar - mu ** 2 - np.exp(logvar))).sum(1)
        np.testing.assert_allclose(out['recon'].item(), -log_lik.mean(), rtol=1e-10)
        np.testing.assert_allclose(out['kl'].item(), kl.mean(), rtol=1e-10)
        np.testing.assert_allclose(out['loss'].item(), -log_lik.mean() + 0.7 * kl.mean(),
                                   rtol=1e-10)
        np.testing.assert_allclose(out['elbo'].item(), log_lik.mean() - kl.mean(), rtol=1e-10)


@pytest.mark.parametrize('arch', ['mlp', 'conv'])
def test_vae_loss_gradients_in_float64(arch):
    model = tiny_vae(arch=arch)
    r = np.random.default_rng(4)
    shape = model.image_shape
    x = autograd.tensor(r.uniform(size=(2,) + shape), requires_grad=True)
    eps = autograd.tensor(r.standard_normal((2, 2)), requires_grad=True)
    gradcheck(lambda x, eps: model.loss(x, beta=0.5, eps=eps)['loss'], [x, eps])
    names = [n for n, _ in model.named_parameters()]
    first, last = names[0], names[-1]
    params = dict(model.named_parameters())

    def loss_of(w_first, w_last):
        swap_in(model, first, w_first)
        swap_in(model, last, w_last)
        return model.loss(x.detach(), beta=0.5, eps=eps.detach())['loss']

    gradcheck(loss_of, [autograd.tensor(params[first].numpy(), requires_grad=True),
                        autograd.tensor(params[last].numpy(), requires_grad=True)],
              mode='direction' if arch == 'conv' else 'full')


def test_tiny_conv_vae_lowers_its_loss_on_a_fixed_batch():
    autograd.manual_seed(0)
    model = VAE((1, 8, 8), latent_dim=4, hidden=(8, 8))
    protos = np.random.default_rng(5).uniform(size=(4, 1, 8, 8)) > 0.5  # 4 binary pictures
    x = autograd.tensor(np.repeat(protos, 4, axis=0) * 1.0, dtype=autograd.float32)
    opt = optim.Adam(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(40):
        out = model.loss(x)
        opt.zero_grad()
        out['loss'].backward()
        opt.step()
        losses.append(out['loss'].item())
    assert np.mean(losses[-5:]) < 0.7 * np.mean(losses[:5])


def test_sample_reconstruct_and_shape_errors():
    model = tiny_vae(arch='conv')
    assert model.sample(3).shape == (3, 1, 4, 4)
    rec = model.reconstruct(autograd.rand(2, 1, 4, 4, dtype=autograd.float64)).numpy()
    assert rec.shape == (2, 1, 4, 4) and rec.min() >= 0 and rec.max() <= 1
    with pytest.raises(ValueError, match=r'vae.VAE: expected images of shape \(N, 1, 4, 4\)'):
        model.loss(autograd.rand(2, 1, 8, 8))
    with pytest.raises(ValueError, match='likelihood'):
        VAE(likelihood='poisson')
