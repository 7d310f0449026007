"""minigen.flows as models: the change of variables of an identity flow is the Gaussian's
log-density, a 2-D flow's density integrates to one, ActNorm's first batch comes out
standardised, the bits/dim bookkeeping (dequantization, the + 8 term), sampling and
encoding shapes, and a tiny image flow that lowers its loss."""
import math

import numpy as np
import pytest

import autograd
from minigen.flows import (ActNorm, AffineCoupling, ImageFlow, MultiScaleFlow, SplitPrior,
                           Squeeze, bits_per_dim, channel_mask, dequantize, flow_2d, grid_lines,
                           layer_by_layer, log_density_grid, log_likelihood,
                           standard_normal_log_prob)
from minigen.flows.nets import MLP
from minigen.optim import Adam


def gaussian_log_prob(x):
    x = x.reshape(len(x), -1)
    return -0.5 * (x ** 2).sum(1) - 0.5 * x.shape[1] * math.log(2 * math.pi)


def test_standard_normal_log_prob_is_the_gaussian_log_density():
    z = np.random.default_rng(0).standard_normal((3, 2, 4, 4))
    np.testing.assert_allclose(standard_normal_log_prob(autograd.tensor(z)).numpy(),
                               gaussian_log_prob(z), rtol=1e-12)


@pytest.mark.parametrize('split_prior', [False, True])
def test_identity_initialised_flow_gives_the_standard_gaussians_log_likelihood(split_prior):
    """Fresh couplings are the identity (zero last layers), actnorm before its first batch
    too, and the 1x1 convolutions are rotations (log |det| = 0, |Wx| = |x|): log p(x) of
    the multi-scale flow is log N(x; 0, I), whatever the layers' order does to x. Glow's
    learned split prior, its convolution zero, starts as that same N(0, I)."""
    autograd.manual_seed(0)
    flow = MultiScaleFlow((1, 8, 8), steps=2, hidden=(4, 4), checkerboard_steps=2,
                          checkerboard_hidden=4, split_prior=split_prior).double().eval()
    x = np.random.default_rng(1).standard_normal((3, 1, 8, 8))
    # W is a rotation to float32's precision (the parameters are made in float32)
    np.testing.assert_allclose(log_likelihood(flow, autograd.tensor(x)).numpy(),
                               gaussian_log_prob(x), rtol=1e-7)


def conv3x3_numpy(x, weight, bias):
    """A 3 x 3 convolution with zero padding in plain NumPy, one kernel offset at a time."""
    n, _, h, w = x.shape
    padded = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))
    out = np.zeros((n, weight.shape[0], h, w)) + bias[None, :, None, None]
    for di in range(3):
        for dj in range(3):
            out += np.einsum('oc,nchw->nohw', weight[:, :, di, dj],
                             padded[:, :, di:di + h, dj:dj + w])
    return out


def test_split_prior_scores_the_factored_half_by_its_predicted_gaussian():
    """log N(eps; 0, I) + log-det of the layer is log N(z; mu, sigma^2) with mu and
    log sigma from a plain NumPy convolution of the kept half (Glow's split prior), and
    the inverse gives z back exactly; with its zero convolution it is the identity."""
    autograd.manual_seed(0)
    fresh = SplitPrior(4).double()
    h = np.random.default_rng(0).standard_normal((3, 4, 5, 5))
    out, logdet = fresh(autograd.tensor(h))
    np.testing.assert_array_equal(out.numpy(), h)
    np.testing.assert_array_equal(logdet.numpy(), 0)
    layer = SplitPrior(4).double()
    rng = np.random.default_rng(1)
    for p in layer.parameters():
        p.data[...] = 0.3 * rng.standard_normal(p.shape)
    z, kept = h[:, :2], h[:, 2:]
    pred = conv3x3_numpy(kept, layer.conv.weight.numpy(), layer.conv.bias.numpy())
    mu, log_sigma = pred[:, :2], pred[:, 2:]
    want = (-0.5 * ((z - mu) / np.exp(log_sigma)) ** 2 - log_sigma
            - 0.5 * math.log(2 * math.pi)).reshape(3, -1).sum(1)
    out, logdet = layer(autograd.tensor(h))
    got = standard_normal_log_prob(out[:, :2]) + logdet
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-12)
    np.testing.assert_array_equal(out.numpy()[:, 2:], kept)
    with autograd.no_grad():
        back = layer.inverse(out).numpy()
    np.testing.assert_allclose(back, h, rtol=0, atol=1e-12)


def test_a_2d_flow_density_integrates_to_one():
    autograd.manual_seed(0)
    flow = flow_2d(layers=4, hidden=16).double().eval()
    rng = np.random.default_rng(0)
    for p in flow.parameters():
        p.data[...] = p.data + 0.2 * rng.standard_normal(p.shape)
    lim, n = 12.0, 400
    p = np.exp(log_density_grid(flow, lim=lim, n=n))
    cell = (2 * lim / (n - 1)) ** 2
    assert abs(p.sum() * cell - 1) < 0.01


def test_layer_by_layer_carries_the_grid_from_z_to_the_data():
    autograd.manual_seed(0)
    flow = flow_2d(layers=2, hidden=8).double().eval()
    lines = grid_lines(lim=2.0, lines=5, points=7)
    assert lines.shape == (10, 7, 2)
    path = layer_by_layer(flow, lines)
    assert len(path) == len(flow.layers) + 1
    np.testing.assert_allclose(path[0], lines)
    with autograd.no_grad():
        x = flow.inverse(autograd.tensor(lines.reshape(-1, 2))).numpy()
    np.testing.assert_allclose(path[-1], x.reshape(lines.shape))


def test_actnorm_standardises_its_first_training_batch_then_keeps_its_parameters():
    x = autograd.tensor(np.random.default_rng(0).normal(3.0, 2.5, (16, 3, 4, 4)))
    norm = ActNorm(3).double()
    y, logdet = norm(x)
    out = y.numpy()
    np.testing.assert_allclose(out.mean(axis=(0, 2, 3)), 0, atol=1e-10)
    np.testing.assert_allclose(out.std(axis=(0, 2, 3)), 1, atol=1e-5)
    np.testing.assert_allclose(logdet.numpy(), -16 * np.log(x.numpy().std(axis=(0, 2, 3))).sum(),
                               rtol=1e-5)
    before = norm.log_scale.numpy().copy()
    norm(x * 10)  # a second batch: no new statistics
    np.testing.assert_array_equal(norm.log_scale.numpy(), before)
    assert norm.state_dict()['initialized'].item() == 1


def test_dequantized_pixels_stay_in_their_bin_and_a_uniform_density_costs_8_bits():
    k = np.arange(256, dtype=np.float64).reshape(1, 1, 16, 16)
    y = dequantize(autograd.tensor(k / 255)).numpy()
    assert np.all(y >= k / 256) and np.all(y < (k + 1) / 256)
    # p(y) = 1 on [0, 1]^D: every 8-bit image equally likely, 8 bits per dimension
    assert bits_per_dim(autograd.tensor(np.zeros(2)), dims=784).numpy().tolist() == [8.0, 8.0]
    # bits/dim = -log p(y) / (D ln 2) + 8: 784 ln 2 nats more is one bit less per dimension
    assert bits_per_dim(autograd.tensor([784 * math.log(2)]), 784).item() == pytest.approx(7.0)


def test_image_flow_bits_per_dim_is_its_log_prob_in_bits_plus_8():
    autograd.manual_seed(0)
    model = ImageFlow((1, 4, 4), steps=1, hidden=(4, 4), checkerboard_steps=1,
                      checkerboard_hidden=4).double()
    x = autograd.tensor(np.random.default_rng(0).integers(0, 256, (2, 1, 4, 4)) / 255)
    noise = autograd.tensor(np.full((2, 1, 4, 4), 0.25))
    y = dequantize(x, noise=noise)
    want = -model.log_prob(y).numpy() / (16 * math.log(2)) + 8
    np.testing.assert_allclose(model.bits_per_dim(x, noise=noise).numpy(), want, rtol=1e-12)


def test_image_flow_samples_and_latents_have_the_right_shapes():
    autograd.manual_seed(0)
    model = ImageFlow((1, 8, 8), steps=1, hidden=(4, 4), checkerboard_steps=1,
                      checkerboard_hidden=4)
    x = autograd.tensor(np.random.default_rng(0).integers(0, 256, (3, 1, 8, 8)) / 255,
                        dtype=autograd.float32)
    with autograd.no_grad():
        z = model.encode(x)
        assert z.shape == (3, 64)
        back = model.decode(z).numpy()
        samples = model.sample(5, temperature=0.6).numpy()
    assert np.abs(back - (np.round(x.numpy() * 255) + 0.5) / 256).max() < 1e-4
    assert samples.shape == (5, 1, 8, 8) and samples.min() >= 0 and samples.max() <= 1


def test_a_tiny_image_flow_lowers_its_loss():
    """Blobs on 8 x 8 images, 40 Adam steps: the bits/dim falls well below the start."""
    autograd.manual_seed(0)
    rng = np.random.default_rng(0)
    i, j = np.mgrid[:8, :8]
    centres = rng.uniform(2, 6, (64, 2))
    blobs = np.exp(-((i - centres[:, 0, None, None]) ** 2 + (j - centres[:, 1, None, None]) ** 2)
                   / 4)
    x = autograd.tensor(np.round(blobs[:, None] * 255) / 255, dtype=autograd.float32)
    model = ImageFlow((1, 8, 8), steps=2, hidden=(8, 8), checkerboard_steps=1,
                      checkerboard_hidden=8)
    opt = Adam(model.parameters(), lr=3e-3)
    losses = []
    for step in range(40):
        loss = model.loss(x[16 * (step % 4):16 * (step % 4 + 1)])
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert np.isfinite(losses).all()
    assert np.mean(losses[-5:]) < np.mean(losses[:5]) - 0.5, losses


def test_a_2d_flow_beats_the_best_gaussian_on_eight_gaussians():
    """100 steps: the flow's negative log-likelihood falls 0.5 nats below that of the
    Gaussian fitted to the data (its entropy, 1/2 log det(2 pi e Sigma))."""
    from minigen.data.toy2d import toy2d
    autograd.manual_seed(0)
    x, _ = toy2d('8gaussians', 4096, seed=0)
    gaussian_nll = 0.5 * np.linalg.slogdet(2 * np.pi * np.e * np.cov(x.T))[1]
    flow = flow_2d(layers=4, hidden=32)
    opt = Adam(flow.parameters(), lr=1e-2)
    nll = []
    for step in range(100):
        batch = autograd.tensor(x[np.random.default_rng(step).integers(0, len(x), 128)])
        loss = -log_likelihood(flow, batch).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        nll.append(loss.item())
    assert np.mean(nll[-20:]) < gaussian_nll - 0.5, (np.mean(nll[-20:]), gaussian_nll)


def test_wrong_arguments_are_refused():
    with pytest.raises(ValueError, match="scale must be one of"):
        AffineCoupling(2, channel_mask(2), MLP(2, 4), scale='exp')
    with pytest.raises(ValueError, match="Squeeze: height and width must be even"):
        Squeeze()(autograd.zeros(1, 1, 3, 4))
    with pytest.raises(ValueError, match="SplitPrior: the channels split in two halves"):
        SplitPrior(3)
    with pytest.raises(ValueError, match="MultiScaleFlow: 2 scales halve 6 x 6"):
        MultiScaleFlow((1, 6, 6), hidden=(4, 4))
