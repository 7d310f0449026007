"""minigen/gans/stylegan_layers.py and stylegan.py: the modulated convolution equals
convolving with each example's modulated, demodulated weights (forward, against NumPy)
and passes gradcheck; demodulation restores unit variance; w_avg is the EMA of w; psi = 0
gives w_avg's image for every z; style mixing takes the layers from the cutoff on from the
second w; noise inputs; a tiny StyleGAN trained with the non-saturating loss, R1 and a
generator EMA moves toward a fixed batch; clear errors."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import autograd as ag
from autograd.testing import assert_forward_close, assert_gradients_close, tensors
from minigen import optim
from minigen.gans import DCGANDiscriminator, discriminator_loss, generator_loss, r1_penalty
from minigen.gans.stylegan import StyleGANGenerator, SynthesisNetwork, mix_styles
from minigen.gans.stylegan_discriminator import (MinibatchStdDiscriminator, StyleGANDiscriminator,
                                                 minibatch_stddev)
from minigen.gans.stylegan_layers import MappingNetwork, modulated_conv2d, pixel_norm
from minigen.optim.ema import EMA


def numpy_modulated_conv(x, weight, styles, demodulate, padding, eps=1e-8):
    """StyleGAN2 eqs. 1-3 on the weights: example n convolves with its own kernel
    w''[n] = demod(s[n]_c w_{o,c,k}), built explicitly."""
    n, k = x.shape[0], weight.shape[-1]
    xpad = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    out = []
    for i in range(n):
        w_i = weight * styles[i][None, :, None, None]
        if demodulate:
            w_i = w_i / np.sqrt((w_i ** 2).sum(axis=(1, 2, 3), keepdims=True) + eps)
        patches = np.lib.stride_tricks.sliding_window_view(xpad[i], (k, k), axis=(1, 2))
        out.append(np.einsum('chwij,ocij->ohw', patches, w_i))
    return np.stack(out)


@st.composite
def modconv_operands(draw):
    n, c, o = draw(st.integers(1, 3)), draw(st.integers(1, 3)), draw(st.integers(1, 3))
    k = draw(st.sampled_from([1, 3]))
    size = draw(st.integers(k, 5))
    x = draw(tensors((n, c, size, size)))
    weight = draw(tensors((o, c, k, k), avoid=(0.0,), margin=0.2))
    styles = draw(tensors((n, c), avoid=(0.0,), margin=0.3))
    return x, weight, styles, draw(st.booleans()), draw(st.sampled_from([0, k // 2]))


@given(modconv_operands())
def test_modulated_conv_equals_convolving_with_each_examples_demodulated_weights(args):
    x, weight, styles, demodulate, padding = args
    assert_forward_close(lambda a, b, c: modulated_conv2d(a, b, c, demodulate, padding),
                         lambda a, b, c: numpy_modulated_conv(a, b, c, demodulate, padding),
                         x, weight, styles)


@settings(max_examples=8)
@given(modconv_operands())
def test_modulated_conv_gradient_matches_central_differences(args):
    x, weight, styles, demodulate, padding = args
    assert_gradients_close(lambda a, b, c: modulated_conv2d(a, b, c, demodulate, padding),
                           x, weight, styles, atol=1e-6, rtol=1e-5)


def test_demodulation_gives_unit_variance_outputs_for_unit_variance_inputs():
    """x ~ N(0, 1) i.i.d.; whatever the weights' and styles' scales, each output channel
    has std 1 with demodulation (eq. 2-3), and std sqrt(sum (s w)^2) without."""
    rng = np.random.default_rng(0)
    x = ag.tensor(rng.standard_normal((256, 8, 10, 10)))
    weight = ag.tensor(rng.standard_normal((6, 8, 3, 3)) * rng.uniform(0.1, 3, (6, 1, 1, 1)))
    styles = ag.tensor(rng.uniform(0.2, 4, (256, 8)) * rng.choice([-1, 1], (256, 8)))
    y = modulated_conv2d(x, weight, styles).numpy()             # padding 0: no zeros seen
    np.testing.assert_allclose(y.std(axis=(0, 2, 3)), 1.0, atol=0.03)
    np.testing.assert_allclose(y.mean(axis=(0, 2, 3)), 0.0, atol=0.03)
    raw = modulated_conv2d(x, weight, styles, demodulate=False).numpy()
    assert np.abs(raw.std(axis=(0, 2, 3)) - 1).max() > 1.0     # the check can fail


def test_pixel_norm_gives_rows_of_unit_mean_square():
    z = ag.tensor(np.random.default_rng(1).normal(0, 5, (4, 7)))
    np.testing.assert_allclose((pixel_norm(z).numpy() ** 2).mean(axis=1), 1.0, rtol=1e-6)


def test_w_avg_is_the_ema_of_the_mapped_w_in_training_only():
    """After K training forwards of the same z from w_avg = 0:
    w_avg = (1 - beta^K) mean w; eval-mode forwards leave it alone."""
    ag.manual_seed(0)
    f = MappingNetwork(z_dim=8, w_dim=8, w_avg_beta=0.9)
    z = ag.randn(16, 8)
    for _ in range(5):
        w = f(z).numpy()
    np.testing.assert_allclose(f.w_avg.numpy(), (1 - 0.9 ** 5) * w.mean(0), rtol=1e-5, atol=1e-7)
    f.eval()
    before = f.w_avg.numpy().copy()
    f(ag.randn(16, 8))
    np.testing.assert_array_equal(f.w_avg.numpy(), before)


def tiny_generator(size=8):
    return StyleGANGenerator(z_dim=8, w_dim=8, image_size=size, width=8)


def test_truncation_with_psi_zero_gives_the_mean_ws_image_for_every_z():
    ag.manual_seed(1)
    G = tiny_generator()
    for _ in range(3):   # move w_avg away from 0
        G.mapping(ag.randn(32, 8))
    G.eval()
    with ag.no_grad():
        z = ag.randn(6, 8)
        images = G(z, truncation_psi=0, noise_mode='const').numpy()
        w_avg = G.mapping.w_avg.reshape(1, 1, 8).broadcast_to((1, G.num_ws, 8))
        mean_image = G.synthesis(w_avg, noise_mode='const').numpy()
        plain = G(z, noise_mode='const').numpy()
    np.testing.assert_allclose(images, np.broadcast_to(mean_image, images.shape), rtol=1e-5,
                               atol=1e-6)
    assert np.abs(plain - plain[:1]).max() > 1e-3      # without truncation the z's differ
    half = G(z, truncation_psi=0.5, noise_mode='const').numpy()
    assert 0 < np.abs(half - mean_image).mean() < np.abs(plain - mean_image).mean()


def test_mix_styles_takes_the_layers_from_the_cutoff_on_from_the_second_w():
    ws_1, ws_2 = ag.zeros(3, 6, 2), ag.ones(3, 6, 2)
    mixed = mix_styles(ws_1, ws_2, np.array([2, 6, 0])).numpy()[..., 0]
    np.testing.assert_array_equal(mixed, [[0, 0, 1, 1, 1, 1], [0] * 6, [1] * 6])


def test_style_mixing_changes_the_images_and_keeps_the_gradient_of_both_ws():
    ag.manual_seed(2)
    G = tiny_generator()
    z = ag.randn(64, 8)
    ag.manual_seed(3)
    plain = G(z, noise_mode='const').numpy()
    ag.manual_seed(3)
    mixed = G(z, noise_mode='const', mixing_prob=0.5)
    changed = np.abs(mixed.numpy() - plain).reshape(64, -1).max(1) > 1e-6
    assert 0.25 < changed.mean() < 0.75          # about half the examples were mixed
    mixed.sum().backward()
    assert np.abs(G.mapping.layers[0].weight.grad.numpy()).sum() > 0


def test_noise_inputs_start_off_and_then_resample_per_call():
    ag.manual_seed(4)
    G = tiny_generator()
    G.eval()
    z = ag.randn(2, 8)
    with ag.no_grad():
        np.testing.assert_allclose(G(z).numpy(), G(z, noise_mode='none').numpy(), atol=1e-6)
        for conv in G.synthesis.convs:      # scales B start at 0; switch them on
            conv.noise.weight.data[...] = 0.5
        a, b = G(z).numpy(), G(z).numpy()
        c, d = G(z, noise_mode='const').numpy(), G(z, noise_mode='const').numpy()
    assert np.abs(a - b).max() > 1e-3          # fresh noise, same w: other details
    np.testing.assert_array_equal(c, d)


@pytest.mark.parametrize('size, num_ws', [(8, 4), (16, 6), (32, 8)])
def test_generator_shapes_and_number_of_styles(size, num_ws, device):
    ag.manual_seed(5)
    G = StyleGANGenerator(z_dim=8, w_dim=8, image_size=size, channels=3, width=8).to(device)
    assert G.num_ws == num_ws
    x = G(ag.randn(2, 8, device=device), mixing_prob=0.5)
    assert x.shape == (2, 3, size, size) and x.device == device


def test_tiny_stylegan_lowers_its_loss_on_a_fixed_batch():
    """Eight fixed 8x8 images (a bright square on a dark ground, in [-1, 1]); non-saturating
    loss, R1 (gamma 1) on the reals, Adam (0, 0.99), mixing 0.9, EMA of G. The loss watched
    is the distance of the EMA generator's mean image from the batch's mean image."""
    ag.manual_seed(6)
    real = -np.ones((8, 1, 8, 8), np.float32)
    real[:, :, 2:6, 2:6] = 1
    real = ag.tensor(real + np.random.default_rng(0).normal(0, 0.05, real.shape).astype(np.float32))
    G, D = tiny_generator(), DCGANDiscriminator(image_size=8, ndf=8, norm=None)
    ema = EMA(G, decay=0.9)
    opt_g = optim.Adam(G.parameters(), lr=5e-3, betas=(0.0, 0.99))
    opt_d = optim.Adam(D.parameters(), lr=5e-3, betas=(0.0, 0.99))
    z_eval = ag.randn(32, 8)

    def distance():
        with ema.average_parameters(), ag.no_grad():
            G.eval()
            mean = G(z_eval).numpy().mean(0)
            G.train()
        return float(((mean - real.numpy().mean(0)) ** 2).mean())

    start = distance()
    for _ in range(60):
        fake = G(ag.randn(8, 8), mixing_prob=0.9)
        d_loss = discriminator_loss(D(real), D(fake.detach())) + r1_penalty(D, real, gamma=1.0)
        opt_d.zero_grad()
        d_loss.backward()
        opt_d.step()
        g_loss = generator_loss(D(G(ag.randn(8, 8), mixing_prob=0.9)))
        opt_g.zero_grad()
        g_loss.backward()
        opt_g.step()
        ema.update()
    assert distance() < 0.3 * start, (start, distance())


def test_bad_inputs_raise_clear_errors():
    with pytest.raises(ValueError, match='modulated_conv2d: expected'):
        modulated_conv2d(ag.randn(2, 3, 4, 4), ag.randn(4, 3, 3, 3), ag.randn(2, 4))
    with pytest.raises(ValueError, match='SynthesisNetwork: image_size'):
        SynthesisNetwork(image_size=12)
    G = tiny_generator()
    with pytest.raises(ValueError, match=r'MappingNetwork: expected z of shape \(N, 8\)'):
        G(ag.randn(2, 5))
    with pytest.raises(ValueError, match='unconditional'):
        G(ag.randn(2, 8), ag.tensor([0, 1]))
    with pytest.raises(ValueError, match='noise_mode'):
        G(ag.randn(2, 8), noise_mode='fixed')
    with pytest.raises(ValueError, match=r'expected ws of shape \(N, 4, 8\)'):
        G.synthesis(ag.randn(2, 3, 8))


# --- the residual discriminator with minibatch stddev (stylegan_discriminator.py) ---------

def numpy_minibatch_stddev(x, group_size, eps=1e-8):
    """Progressive GANs sec. 3, written per group: example i is in group i mod (N / G)."""
    n, c, h, w = x.shape
    g = max(d for d in range(1, min(group_size, n) + 1) if n % d == 0)
    out = np.empty((n, 1, h, w))
    for j in range(n // g):
        members = x[j::n // g]                                    # (G, C, H, W)
        out[j::n // g] = np.sqrt(members.var(axis=0) + eps).mean()
    return np.concatenate([x, out], axis=1)


@st.composite
def stddev_operands(draw):
    n = draw(st.sampled_from([1, 2, 3, 4, 6, 8]))
    c, h = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    return draw(tensors((n, c, h, h))), draw(st.sampled_from([1, 2, 4]))


@given(stddev_operands())
def test_minibatch_stddev_forward_matches_numpy(args):
    x, group = args
    assert_forward_close(lambda a: minibatch_stddev(a, group),
                         lambda a: numpy_minibatch_stddev(a, group), x)


@settings(max_examples=6)
@given(stddev_operands())
def test_minibatch_stddev_first_and_second_derivatives_match_central_differences(args):
    x, group = args    # second derivatives too: R1 differentiates D's input gradient
    assert_gradients_close(lambda a: minibatch_stddev(a, group), x, gradgrad=True)


def test_minibatch_stddev_tells_a_collapsed_batch_from_a_varied_one():
    varied = ag.tensor(np.random.default_rng(0).standard_normal((8, 4, 4, 4)))
    collapsed = ag.tensor(np.repeat(varied.numpy()[:1], 8, axis=0))
    assert minibatch_stddev(varied).numpy()[:, 4].min() > 0.5
    np.testing.assert_allclose(minibatch_stddev(collapsed).numpy()[:, 4], 1e-4, rtol=1e-3)


@pytest.mark.parametrize('size', [8, 16, 32])
def test_residual_discriminator_shapes_and_r1(size):
    """Per-example logits; R1's second derivatives reach every weight (not the biases:
    the input gradient depends on them only through lrelu's piecewise-constant slope)."""
    ag.manual_seed(7)
    D = StyleGANDiscriminator(size, channels=3, width=4)
    x = ag.randn(8, 3, size, size)
    assert D(x).shape == (8,)
    r1_penalty(D, x, gamma=1.0).backward()
    for name, p in D.named_parameters():
        if name.endswith('weight'):
            assert p.grad is not None and np.isfinite(p.grad.numpy()).all(), name
    assert np.abs(D.from_rgb.weight.grad.numpy()).sum() > 0


def test_residual_discriminator_refuses_bad_inputs():
    with pytest.raises(ValueError, match='StyleGANDiscriminator: image_size'):
        StyleGANDiscriminator(image_size=12)
    with pytest.raises(ValueError, match=r'StyleGANDiscriminator: expected images of shape'):
        StyleGANDiscriminator(16, channels=1, width=4)(ag.randn(2, 3, 16, 16))


def test_noise_strength_lr_multiplier_scales_its_value_and_gradient():
    """B = weight * m: the output uses B, and d out / d weight is m times d out / d B."""
    from minigen.gans.stylegan_layers import NoiseInjection
    x, noise, up = ag.randn(2, 3, 4, 4), ag.randn(2, 1, 4, 4), ag.randn(2, 3, 4, 4)
    grads = []
    for m in (1.0, 0.01):
        layer = NoiseInjection(3, lr_multiplier=m)
        layer.weight.data[...] = np.array([1.0, -2.0, 3.0]) / m    # B = (1, -2, 3) for both
        out = layer(x, noise)
        np.testing.assert_allclose(out.numpy(), x.numpy() + np.array([1.0, -2.0, 3.0])
                                   .reshape(1, 3, 1, 1) * noise.numpy(), rtol=1e-5, atol=1e-5)
        (out * up).sum().backward()
        grads.append(layer.weight.grad.numpy())
    np.testing.assert_allclose(grads[1], 0.01 * grads[0], rtol=1e-4)


def test_minibatch_std_head_starts_as_the_base_discriminator_and_sees_collapse():
    """sigma's head weights start at 0 (same logits as the DCGAN D); once they are not
    zero, a collapsed batch gets other logits than the same images in a varied batch."""
    ag.manual_seed(8)
    base = DCGANDiscriminator(image_size=8, ndf=4, norm=None)
    D = MinibatchStdDiscriminator(base, group_size=4)
    x = ag.randn(8, 1, 8, 8)
    np.testing.assert_allclose(D(x).numpy(), base(x).numpy(), atol=1e-6)
    D.head.weight.data[:, -1] = 1.0
    collapsed = ag.tensor(np.repeat(x.numpy()[:1], 8, axis=0))
    assert abs(D(collapsed).numpy()[0] - D(x).numpy()[0]) > 1e-3
    r1_penalty(D, x, gamma=1.0).backward()
    assert np.isfinite(D.head.weight.grad.numpy()).all()
