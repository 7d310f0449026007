"""Tests of minigen/diffusion/first_stage.py (Rombach et al. 2022, arXiv:2112.10752): the
posterior's KL against its closed form in NumPy and against Monte Carlo, the loss and the
ResnetBlock against plain NumPy, gradients in float64, shapes for f = 2 and 4 and the
refusals, the scale factor (unit-variance latents, saved in state_dict and checkpoints), a
tiny first stage that learns, and its PSNR / SSIM."""
import math

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import autograd
import minigen
from autograd import gradcheck, no_grad
from minigen.data.shapes import make_shapes
from minigen.diffusion.first_stage import (AutoencoderKL, DiagonalGaussian, ResnetBlock,
                                           compute_scale_factor, kl_reg_loss,
                                           reconstruction_metrics)
from minigen.optim import Adam

from numpy_reference import conv_same as _conv, group_norm, randomize as _randomize, silu

TINY = dict(in_channels=1, latent_channels=2, downsample_factor=2, base_channels=4, groups=2)


def _tiny(seed=0, **config):
    autograd.manual_seed(seed)
    return AutoencoderKL(**{**TINY, **config})


def _np_kl(mu, logvar):
    """1/2 sum over all but the batch axis of mu^2 + sigma^2 - 1 - log sigma^2."""
    axes = tuple(range(1, mu.ndim))
    return 0.5 * (mu ** 2 + np.exp(logvar) - 1 - logvar).sum(axes)


latent_shapes = st.tuples(st.integers(1, 3), st.integers(1, 3), st.integers(1, 3),
                          st.integers(1, 3))


# --- the posterior -----------------------------------------------------------------------
@given(shape=latent_shapes, seed=st.integers(0, 2 ** 16))
def test_kl_matches_its_closed_form_in_numpy(shape, seed):
    r = np.random.default_rng(seed)
    mu, logvar = r.normal(size=shape), r.normal(scale=1.5, size=shape)
    q = DiagonalGaussian(autograd.tensor(mu), autograd.tensor(logvar))
    np.testing.assert_allclose(q.kl().numpy(), _np_kl(mu, logvar), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(q.std.numpy(), np.exp(0.5 * logvar), rtol=1e-5)
    np.testing.assert_allclose(q.var.numpy(), np.exp(logvar), rtol=1e-5)


def test_kl_matches_a_monte_carlo_estimate():
    r = np.random.default_rng(0)
    mu, logvar = r.normal(size=(3, 2, 2, 1)), r.normal(scale=0.7, size=(3, 2, 2, 1))
    kl = DiagonalGaussian(autograd.tensor(mu), autograd.tensor(logvar)).kl().numpy()
    eps = r.standard_normal((200_000,) + mu.shape)
    z = mu + np.exp(0.5 * logvar) * eps
    # E_q[log q(z) - log N(z; 0, I)], summed over latent elements; the 2 pi terms cancel
    terms = (-0.5 * eps ** 2 - 0.5 * logvar + 0.5 * z ** 2).sum(axis=(2, 3, 4))
    mc, se = terms.mean(0), terms.std(0) / math.sqrt(len(terms))
    assert np.all(np.abs(kl - mc) < 4 * se + 1e-3), (kl, mc, se)


def test_kl_is_zero_only_at_the_prior():
    zero = autograd.zeros(2, 4, 3, 3)
    assert np.all(DiagonalGaussian(zero, zero).kl().numpy() == 0)
    assert np.all(DiagonalGaussian(zero + 0.1, zero).kl().numpy() > 0)


def test_sample_is_the_reparameterisation_and_mode_is_the_mean():
    r = np.random.default_rng(1)
    mu, logvar, eps = (r.normal(size=(2, 3, 2, 2)) for _ in range(3))
    q = DiagonalGaussian(autograd.tensor(mu), autograd.tensor(logvar))
    np.testing.assert_allclose(q.sample(autograd.tensor(eps)).numpy(),
                               mu + np.exp(0.5 * logvar) * eps, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(q.mode().numpy(), q.mean.numpy())
    # drawn samples have the posterior's mean and std
    autograd.manual_seed(0)
    m, lv = autograd.tensor(np.full((20_000, 1), 0.5)), autograd.tensor(np.full((20_000, 1), -1.0))
    z = DiagonalGaussian(m, lv).sample().numpy()
    assert abs(z.mean() - 0.5) < 0.02 and abs(z.std() - math.exp(-0.5)) < 0.02


def test_logvar_is_clamped_to_the_reference_range():
    mu = autograd.zeros(1, 3)
    logvar = autograd.tensor([[-50.0, 0.5, 40.0]], requires_grad=True)
    q = DiagonalGaussian(mu, logvar)
    np.testing.assert_allclose(q.logvar.numpy(), [[-30.0, 0.5, 20.0]])
    q.kl().sum().backward()
    # d KL / d logvar = (e^logvar - 1) / 2 inside the range, 0 where the clamp holds
    np.testing.assert_allclose(logvar.grad.numpy(), [[0.0, 0.5 * (math.exp(0.5) - 1), 0.0]],
                               rtol=1e-5)


@settings(max_examples=8)
@given(shape=latent_shapes, seed=st.integers(0, 2 ** 16))
def test_posterior_gradients_match_finite_differences(shape, seed):
    r = np.random.default_rng(seed)
    mu, logvar = autograd.tensor(r.normal(size=shape)), autograd.tensor(r.normal(size=shape))
    eps = autograd.tensor(r.normal(size=shape))

    def fn(mu, logvar):
        q = DiagonalGaussian(mu, logvar)
        return q.sample(eps), q.kl()

    gradcheck(fn, [mu, logvar], seed=seed)


def test_posterior_refuses_bad_shapes():
    with pytest.raises(ValueError, match='DiagonalGaussian: mean and logvar'):
        DiagonalGaussian(autograd.zeros(2, 3), autograd.zeros(2, 4))
    with pytest.raises(ValueError, match='DiagonalGaussian.from_parameters'):
        DiagonalGaussian.from_parameters(autograd.zeros(2, 3, 4, 4))
    q = DiagonalGaussian.from_parameters(autograd.tensor(np.arange(8.0).reshape(1, 4, 1, 2)))
    np.testing.assert_array_equal(q.mean.numpy().ravel(), [0, 1, 2, 3])
    with pytest.raises(ValueError, match='DiagonalGaussian.sample: eps'):
        q.sample(autograd.zeros(1, 2, 2, 1))


# --- the loss ----------------------------------------------------------------------------
@given(shape=st.tuples(st.integers(1, 3), st.integers(1, 3), st.integers(1, 4),
                       st.integers(1, 4)),
       weight=st.sampled_from([0.0, 1e-6, 0.5]), seed=st.integers(0, 2 ** 16))
def test_loss_matches_numpy(shape, weight, seed):
    r = np.random.default_rng(seed)
    x, x_rec = r.uniform(-1, 1, shape), r.normal(size=shape)
    mu, logvar = r.normal(size=(shape[0], 2, 1, 1)), r.normal(size=(shape[0], 2, 1, 1))
    out = kl_reg_loss(autograd.tensor(x), autograd.tensor(x_rec),
                      DiagonalGaussian(autograd.tensor(mu), autograd.tensor(logvar)), weight)
    d = x - x_rec
    recon = (np.abs(d) + d ** 2).reshape(shape[0], -1).sum(1).mean()  # per-example sums
    kl = _np_kl(mu, logvar).mean()
    want = {'recon': recon, 'kl': kl, 'loss': recon + weight * kl,
            'l1': np.abs(d).mean(), 'l2': (d ** 2).mean()}
    for k, v in want.items():
        np.testing.assert_allclose(out[k].item(), v, rtol=1e-5, err_msg=k)


def test_loss_refuses_bad_input():
    x, q = autograd.zeros(2, 1, 4, 4), DiagonalGaussian(autograd.zeros(2, 2), autograd.zeros(2, 2))
    with pytest.raises(ValueError, match='kl_reg_loss: x and x_rec'):
        kl_reg_loss(x, autograd.zeros(2, 1, 4, 2), q)
    with pytest.raises(ValueError, match='kl_reg_loss: the posterior has 1'):
        kl_reg_loss(x, x, DiagonalGaussian(autograd.zeros(1, 2), autograd.zeros(1, 2)))
    with pytest.raises(ValueError, match='kl_reg_loss: kl_weight'):
        kl_reg_loss(x, x, q, -1.0)


# --- the ResnetBlock ---------------------------------------------------------------------
def _gn_silu(x, groups, w, b, eps=1e-5):
    return silu(group_norm(x, groups, w, b, eps))


block_cases = st.tuples(st.sampled_from([2, 4]), st.sampled_from([2, 4]), st.integers(1, 2),
                        st.integers(1, 4), st.integers(1, 4))


@settings(max_examples=8)
@given(case=block_cases, seed=st.integers(0, 2 ** 16))
def test_resnet_block_matches_numpy(case, seed):
    c_in, c_out, n, h, w = case
    block = _randomize(ResnetBlock(c_in, c_out, groups=2).double(), seed)
    x = np.random.default_rng(seed).normal(size=(n, c_in, h, w))
    p = {k: v.numpy() for k, v in block.state_dict().items()}
    hid = _gn_silu(x, 2, p['norm1.weight'], p['norm1.bias'])
    hid = _conv(hid, p['conv1.weight'], p['conv1.bias'])
    hid = _gn_silu(hid, 2, p['norm2.weight'], p['norm2.bias'])
    hid = _conv(hid, p['conv2.weight'], p['conv2.bias'])
    skip = x if c_in == c_out else _conv(x, p['skip.weight'], p['skip.bias'])
    np.testing.assert_allclose(block(autograd.tensor(x)).numpy(), skip + hid, rtol=1e-8, atol=1e-8)


@settings(max_examples=6)
@given(case=block_cases, seed=st.integers(0, 2 ** 16))
def test_resnet_block_gradients_match_finite_differences(case, seed):
    c_in, c_out, n, h, w = case
    block = _randomize(ResnetBlock(c_in, c_out, groups=2).double(), seed)
    x = autograd.tensor(np.random.default_rng(seed).normal(size=(n, c_in, h, w)))
    gradcheck(block, [x], seed=seed)
    params = list(block.parameters())
    gradcheck(lambda *_: block(x), params, mode='direction', seed=seed)


# --- the autoencoder: shapes and refusals ------------------------------------------------
@pytest.mark.parametrize('f, size', [(2, 8), (4, 8), (4, 16), (2, 4)])
def test_shapes_for_each_downsampling_factor(device, f, size):
    model = _tiny(downsample_factor=f, in_channels=3, latent_channels=4).to(device)
    x = autograd.randn(2, 3, size, size, device=device)
    q = model.encode(x)
    assert q.shape == (2, 4, size // f, size // f) == (2,) + model.latent_shape((3, size, size))
    x_rec, posterior = model(x)
    assert x_rec.shape == x.shape and posterior.kl().shape == (2,)
    assert model.decode(q.mode()).shape == x.shape
    assert model.encode_latents(x).shape == q.shape
    assert model.decode_latents(q.mode()).shape == x.shape


def test_default_widths_follow_the_factor():
    assert AutoencoderKL().channel_mults == (1, 2, 2)
    assert AutoencoderKL(downsample_factor=2).channel_mults == (1, 2)
    assert AutoencoderKL(in_channels=1, base_channels=8).encode(
        autograd.zeros(1, 1, 12, 8)).shape == (1, 4, 3, 2)  # non-square images are fine


@pytest.mark.parametrize('kwargs, match', [
    (dict(downsample_factor=8), 'downsample_factor must be one of'),
    (dict(downsample_factor=3), 'downsample_factor must be one of'),
    (dict(downsample_factor=True), 'downsample_factor must be one of'),
    (dict(channel_mults=(1, 2)), 'downsample_factor=4 needs 3 channel_mults'),
    (dict(base_channels=6, groups=4), 'groups=4 must divide every width'),
    (dict(in_channels=0), 'in_channels must be a positive int'),
    (dict(latent_channels=2.0), 'latent_channels must be a positive int'),
    (dict(kl_weight=-1.0), 'kl_weight must be >= 0'),
])
def test_constructor_refuses_bad_configurations(kwargs, match):
    with pytest.raises(ValueError, match='AutoencoderKL: ' + match):
        AutoencoderKL(**kwargs)


def test_calls_refuse_bad_images_and_latents():
    model = _tiny(downsample_factor=4)
    with pytest.raises(ValueError, match=r'AutoencoderKL.encode: H and W must be positive '
                                         r'multiples of the downsampling factor f = 4'):
        model.encode(autograd.zeros(1, 1, 8, 6))
    with pytest.raises(ValueError, match=r'AutoencoderKL.encode: expected images \(C, H, W\) '
                                         r'with C = 1'):
        model.encode(autograd.zeros(1, 3, 8, 8))
    with pytest.raises(ValueError, match=r'AutoencoderKL.encode: x must be \(N, C, H, W\)'):
        model.encode(autograd.zeros(1, 8, 8))
    with pytest.raises(ValueError, match=r'AutoencoderKL.decode: z must be \(N, 2, h, w\)'):
        model.decode(autograd.zeros(1, 4, 2, 2))
    with pytest.raises(ValueError, match=r'AutoencoderKL.decode_latents: z must be'):
        model.decode_latents(autograd.zeros(1, 3, 2, 2))
    with pytest.raises(ValueError, match=r'AutoencoderKL: H and W must be positive multiples'):
        model.latent_shape((1, 2, 2))


# --- gradients of the whole first stage ----------------------------------------------------
def _swap_in(module, name, tensor):
    """Make `module` use `tensor` for its parameter at dotted `name`."""
    *path, leaf = name.split('.')
    for p in path:
        module = getattr(module, p)
    module._parameters[leaf] = tensor


@pytest.mark.parametrize('f', [2, 4])
def test_loss_gradients_match_finite_differences(f):
    model = _randomize(_tiny(downsample_factor=f, num_res_blocks=1).double(), seed=f, scale=0.2)
    r = np.random.default_rng(f)
    x = autograd.tensor(r.uniform(-1, 1, (2, 1, 4, 4)))
    eps = autograd.tensor(r.normal(size=(2, 2, 4 // f, 4 // f)))

    def parts(x):
        out = model.loss(x, eps=eps, kl_weight=0.1)
        return autograd.stack([out['loss'], out['recon'], out['kl'], out['l1'], out['l2']])

    gradcheck(parts, [x], seed=f)  # every pixel, a random upstream over the five parts
    for name in ('encoder.conv_in.weight', 'quant_conv.weight', 'decoder.conv_out.bias'):
        param = dict(model.named_parameters())[name]

        def through(w, name=name):
            _swap_in(model, name, w)
            return parts(x)

        gradcheck(through, [param.detach()], mode='direction', seed=f)
        _swap_in(model, name, param)


# --- the scale factor --------------------------------------------------------------------
def _images(n=1000, size=8, seed=0):
    return make_shapes(n, size=size, seed=seed).images[:, :1] * 2 - 1  # one channel, [-1, 1]


@pytest.mark.parametrize('use', ['sample', 'mean'])
def test_scale_factor_makes_latents_unit_variance(use):
    model = _tiny()
    images = _images()
    assert model.scale_factor.item() == 1.0
    scale = model.fit_scale_factor(images, batch_size=250, use=use)
    assert model.scale_factor.item() == pytest.approx(scale, rel=1e-6)
    z = model.encode_latents(autograd.tensor(images), sample=use == 'sample').numpy()
    assert abs(z.std(ddof=1) - 1) < (0.02 if use == 'sample' else 1e-4), z.std()
    # the same number as 1 / std of the latents in NumPy
    with no_grad():
        mu = model.encode(autograd.tensor(images)).mode().numpy().astype(np.float64)
    if use == 'mean':
        assert scale == pytest.approx(1 / mu.std(ddof=1), rel=1e-4)


def test_scaled_latents_round_trip_to_the_unscaled_decoder():
    model = _tiny()
    model.fit_scale_factor(_images(), batch_size=500)
    x = autograd.tensor(_images(4, seed=1))
    with no_grad():
        want = model.decode(model.encode(x).mode()).numpy()
    got = model.decode_latents(model.encode_latents(x, sample=False)).numpy()
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)
    # decoding pure noise N(0, I) (a sampler's x_T) is legitimate: finite images
    noise = model.decode_latents(autograd.randn(3, 2, 4, 4))
    assert noise.shape == (3, 1, 8, 8) and np.isfinite(noise.numpy()).all()
    assert not noise.requires_grad and not model.encode_latents(x).requires_grad


def test_scale_factor_is_saved_through_state_dict_and_checkpoints(tmp_path):
    model = _tiny()
    scale = model.fit_scale_factor(_images(), batch_size=500)
    assert 'scale_factor' in model.state_dict() and 'scale_factor' in dict(model.named_buffers())
    assert all(p is not model.scale_factor for p in model.parameters())  # not trained
    other = _tiny(seed=1)
    other.load_state_dict(model.state_dict())
    assert other.scale_factor.item() == pytest.approx(scale, rel=1e-6)
    minigen.save(model.state_dict(), tmp_path / 'first_stage.npz')
    third = _tiny(seed=2)
    third.load_state_dict(minigen.load(tmp_path / 'first_stage.npz'))
    assert third.scale_factor.item() == pytest.approx(scale, rel=1e-6)


def test_scale_factor_refuses_bad_input_and_changes_nothing():
    model = _tiny()
    images = _images()
    with pytest.raises(ValueError, match='compute_scale_factor: needs at least min_images=1000'):
        model.fit_scale_factor(images[:999])
    with pytest.raises(ValueError, match="compute_scale_factor: use must be 'sample' or 'mean'"):
        model.fit_scale_factor(images, use='median')
    with pytest.raises(ValueError, match='compute_scale_factor: batch_size'):
        compute_scale_factor(model, images, batch_size=0)
    with pytest.raises(ValueError, match='AutoencoderKL: H and W must be positive multiples'):
        compute_scale_factor(model, images[:, :, :7, :7], min_images=10)
    assert model.scale_factor.item() == 1.0
    # fewer images are accepted when asked for explicitly; Tensors and lists as well
    assert compute_scale_factor(model, images[:50], min_images=50, use='mean') == pytest.approx(
        compute_scale_factor(model, autograd.tensor(images[:50]), batch_size=7, min_images=50,
                             use='mean'), rel=1e-5)
    assert compute_scale_factor(model, list(images[:20]), min_images=20) > 0
    assert model.scale_factor.item() == 1.0


# --- learning ----------------------------------------------------------------------------
def test_a_tiny_first_stage_lowers_its_loss_on_shapes():
    model = _tiny(in_channels=3, attention=False)  # 4 channels, f = 2: 8x8 -> 2x4x4
    x = autograd.tensor(make_shapes(8, size=8, seed=0).images * 2 - 1)
    opt = Adam(model.parameters(), lr=3e-3)
    losses, l1 = [], []
    for _ in range(30):
        out = model.loss(x)
        opt.zero_grad()
        out['loss'].backward()
        opt.step()
        losses.append(out['loss'].item())
        l1.append(out['l1'].item())
    assert np.isfinite(losses).all()
    assert np.mean(losses[-5:]) < 0.5 * np.mean(losses[:5]), losses
    assert l1[-1] < 0.5 * l1[0], l1


def test_reconstruction_metrics_run_on_a_tiny_model():
    model = _tiny(in_channels=3, base_channels=4, downsample_factor=4)
    images = make_shapes(4, size=16, seed=0).images * 2 - 1
    metrics = reconstruction_metrics(model, images, batch_size=3)
    assert set(metrics) == {'psnr', 'ssim'}
    assert np.isfinite(metrics['psnr']) and -1 <= metrics['ssim'] <= 1
    rec = model.reconstruct(autograd.tensor(images)).numpy()
    assert rec.min() >= -1 and rec.max() <= 1 and not model.reconstruct(
        autograd.tensor(images)).requires_grad
