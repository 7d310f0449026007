"""minigen/gans/pix2pix.py: the U-Net's shapes, skips and dropout noise; the PatchGAN's
receptive field, computed and checked by the engine (a logit's input gradient lives in
its window); the objective cGAN + 100 L1 and the halved D loss; a tiny pix2pix lowers
its L1 on fixed pairs; clear errors."""
import numpy as np
import pytest

import autograd as ag
from minigen import optim
from minigen.gans.losses import discriminator_loss, generator_loss
from minigen.gans.pix2pix import (PatchDiscriminator, UNetGenerator, discriminator_objective,
                                  generator_objective)


@pytest.mark.parametrize('size, num_downs', [(32, 4), (32, 5), (16, 3)])
def test_unet_maps_images_to_images_of_the_same_size_in_tanh_range(size, num_downs, device):
    ag.manual_seed(0)
    G = UNetGenerator(in_channels=2, out_channels=3, num_downs=num_downs, ngf=8,
                      image_size=size).to(device)
    y = G(ag.randn(3, 2, size, size, device=device))
    assert y.shape == (3, 3, size, size) and y.device == device
    assert np.abs(y.numpy()).max() <= 1


def test_unet_dropout_is_the_noise_in_training_and_at_test_time():
    """Paper sec. 3.2.1: dropout "at both training and test time"; two layers at 32 px
    (the 4x4 and 8x8 outputs of the decoder)."""
    ag.manual_seed(1)
    G = UNetGenerator(num_downs=4, ngf=8)
    assert G.up_dropout == [True, True, False]
    x = ag.randn(2, 3, 32, 32)
    for mode in (G.train, G.eval):
        mode()
        with ag.no_grad():
            assert np.abs(G(x).numpy() - G(x).numpy()).max() > 1e-4
    G.p = 0.0
    with ag.no_grad():
        np.testing.assert_array_equal(G(x).numpy(), G(x).numpy())


def test_unet_skip_carries_the_input_past_the_bottleneck():
    """With the bottleneck's code zeroed (e_n = 0), the skips [d_i, e_{i-1}] still bring
    the input to the output: different inputs give different outputs."""
    ag.manual_seed(2)
    G = UNetGenerator(num_downs=4, ngf=8, dropout=0.0)
    G.down[-1].weight.data[...] = 0
    G.down[-1].bias.data[...] = 0
    x = ag.randn(2, 3, 32, 32)
    with ag.no_grad():
        y = G(x).numpy()
    assert np.abs(y[0] - y[1]).max() > 1e-3


@pytest.mark.parametrize('n_layers, field', [(1, 16), (2, 34), (3, 70)])
def test_patchgan_receptive_field_formula(n_layers, field):
    assert PatchDiscriminator(n_layers=n_layers).receptive_field() == field


@pytest.mark.parametrize('norm', [None, 'batch'])
def test_a_patch_logit_sees_exactly_its_16_pixel_window(norm):
    """The gradient of the logit at (7, 7) of the 14x14 map w.r.t. a 32x32 input pair is
    nonzero exactly on rows and columns 2*7 - 5 ... + 15 = 9 ... 24 (a 16 x 16 window):
    the field is smaller than the image. Batch norm is in eval mode (a per-channel affine
    map); in training its statistics, like instance norm's, reach every pixel."""
    ag.manual_seed(3)
    D = PatchDiscriminator(x_channels=3, y_channels=3, ndf=8, n_layers=1, norm=norm)
    D.eval()
    x = ag.randn(1, 3, 32, 32).requires_grad_()
    y = ag.randn(1, 3, 32, 32).requires_grad_()
    logits = D(x, y)
    assert logits.shape == (1, 1, 14, 14)
    gx, gy = ag.grad(logits[0, 0, 7, 7], [x, y])
    seen = (np.abs(gx.numpy()[0]).sum(0) + np.abs(gy.numpy()[0]).sum(0)) > 0
    rows, cols = np.flatnonzero(seen.any(1)), np.flatnonzero(seen.any(0))
    assert (rows.min(), rows.max(), cols.min(), cols.max()) == (9, 24, 9, 24)
    assert rows.max() - rows.min() + 1 == D.receptive_field() < 32


def test_instance_norm_statistics_reach_beyond_the_window():
    ag.manual_seed(4)
    D = PatchDiscriminator(ndf=8, n_layers=1, norm='instance')
    x = ag.randn(1, 6, 32, 32).requires_grad_()
    g = ag.grad(D(x)[0, 0, 7, 7], x)[0].numpy()[0]
    assert np.abs(g[:, :9]).max() > 0        # outside rows 9...24, through the mean and variance


def test_objective_is_nonsaturating_cgan_plus_100_l1_and_d_loss_is_halved():
    ag.manual_seed(5)
    D = PatchDiscriminator(ndf=8)
    x, y, fake = ag.randn(2, 3, 32, 32), ag.randn(2, 3, 32, 32), ag.randn(2, 3, 32, 32)
    total, gan, l1 = generator_objective(D, x, y, fake)
    fake_logits, real_logits = D(x, fake).reshape(-1), D(x, y).reshape(-1)
    assert l1.item() == pytest.approx(np.abs(y.numpy() - fake.numpy()).mean(), rel=1e-5)
    assert gan.item() == pytest.approx(generator_loss(fake_logits).item(), rel=1e-5)
    assert total.item() == pytest.approx(gan.item() + 100 * l1.item(), rel=1e-5)
    d = discriminator_objective(D, x, y, fake).item()
    assert d == pytest.approx(0.5 * discriminator_loss(real_logits, fake_logits).item(), rel=1e-5)


def test_tiny_pix2pix_lowers_its_l1_on_fixed_pairs():
    """Eight 16x16 pairs (a square's outline -> the filled square), cGAN + 100 L1,
    Adam 2e-4 (0.5, 0.999) as the paper, a larger rate to be quick: L1 halves in 40 steps."""
    ag.manual_seed(6)
    rng = np.random.default_rng(0)
    x, y = -np.ones((8, 1, 16, 16), np.float32), -np.ones((8, 1, 16, 16), np.float32)
    for i in range(8):
        a, b = rng.integers(1, 7, 2)
        y[i, 0, a:a + 8, b:b + 8] = 1
        x[i, 0, a:a + 8, b:b + 8] = 1
        x[i, 0, a + 1:a + 7, b + 1:b + 7] = -1
    x, y = ag.tensor(x), ag.tensor(y)
    G = UNetGenerator(1, 1, num_downs=3, ngf=8, image_size=16)
    D = PatchDiscriminator(1, 1, ndf=8)
    opt_g = optim.Adam(G.parameters(), lr=2e-3, betas=(0.5, 0.999))
    opt_d = optim.Adam(D.parameters(), lr=2e-3, betas=(0.5, 0.999))
    l1s = []
    for _ in range(40):
        fake = G(x)
        d_loss = discriminator_objective(D, x, y, fake)
        opt_d.zero_grad()
        d_loss.backward()
        opt_d.step()
        total, _, l1 = generator_objective(D, x, y, fake)
        opt_g.zero_grad()
        total.backward()
        opt_g.step()
        l1s.append(l1.item())
    assert np.mean(l1s[-5:]) < 0.5 * l1s[0], l1s


def test_bad_inputs_raise_clear_errors():
    with pytest.raises(ValueError, match='UNetGenerator: need num_downs'):
        UNetGenerator(num_downs=6, image_size=32)
    with pytest.raises(ValueError, match=r'UNetGenerator: expected x of shape \(N, 3, 32, 32\)'):
        UNetGenerator(ngf=4)(ag.randn(1, 1, 32, 32))
    with pytest.raises(ValueError, match='gans.pix2pix: norm must be'):
        UNetGenerator(norm='layer')
    with pytest.raises(ValueError, match='PatchDiscriminator: expected 6 channels'):
        PatchDiscriminator(ndf=4)(ag.randn(1, 3, 32, 32), ag.randn(1, 1, 32, 32))
