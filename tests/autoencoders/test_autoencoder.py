"""minigen/autoencoders/autoencoder.py and blocks.py: block shapes, the two corruptions, the
denoising loss compares with the clean image, and tiny AE / DAE that learn."""
import numpy as np
import pytest

import autograd
from autograd import gradcheck
from minigen import optim
from minigen.autoencoders.autoencoder import Autoencoder, corrupt
from minigen.autoencoders.blocks import ConvDecoder, ConvEncoder, ImageToVector, MLP, VectorToImage


def test_blocks_halve_and_double_the_picture():
    autograd.manual_seed(0)
    x = autograd.rand(2, 3, 16, 16)
    h = ConvEncoder(3, (8, 16), out_channels=5)(x)
    assert h.shape == (2, 5, 4, 4)
    assert ConvDecoder(5, (8, 16), out_channels=3)(h).shape == (2, 3, 16, 16)
    assert ImageToVector((3, 16, 16), 7, 'conv', (8, 16))(x).shape == (2, 7)
    assert VectorToImage(7, (3, 16, 16), 'mlp', (20,))(autograd.rand(2, 7)).shape == (2, 3, 16, 16)
    assert len([m for m in MLP((4, 6, 6, 2)).modules() if type(m).__name__ == 'ReLU']) == 2
    with pytest.raises(ValueError, match='divisible by 4'):
        ImageToVector((1, 10, 10), 3, 'conv', (8, 8))
    with pytest.raises(ValueError, match="arch must be 'conv' or 'mlp'"):
        VectorToImage(3, (1, 8, 8), 'rnn')


def test_decoder_block_gradients_in_float64():
    autograd.manual_seed(1)
    net = VectorToImage(3, (1, 2, 2), 'conv', (4,)).double()
    gradcheck(net, [autograd.tensor(np.random.default_rng(0).normal(size=(2, 3)),
                                    requires_grad=True)])


def test_masking_noise_zeroes_the_asked_fraction_and_gaussian_stays_in_range():
    autograd.manual_seed(2)
    x = autograd.ones(4, 1, 50, 50)
    masked = corrupt(x, 'masking', 0.3).numpy()
    assert set(np.unique(masked)) <= {0.0, 1.0}
    assert abs((masked == 0).mean() - 0.3) < 0.02
    x = autograd.full((4, 1, 50, 50), 0.5)
    noisy = corrupt(x, 'gaussian', 0.2).numpy()
    assert noisy.min() >= 0 and noisy.max() <= 1 and abs(noisy.std() - 0.2) < 0.02
    assert corrupt(x, 'gaussian', 0.0) is x
    with pytest.raises(ValueError, match='noise must be one of'):
        corrupt(x, 'salt', 0.1)


def test_denoising_loss_compares_the_clean_image_with_the_decoded_noisy_one():
    autograd.manual_seed(3)
    model = Autoencoder((1, 4, 4), latent_dim=3, arch='mlp', hidden=(8,), noise='masking',
                        noise_level=0.5).double()
    r = np.random.default_rng(4)
    x, x_tilde = r.uniform(size=(3, 1, 4, 4)), r.uniform(size=(3, 1, 4, 4))
    loss = model.loss(autograd.tensor(x), autograd.tensor(x_tilde)).item()
    with autograd.no_grad():
        logits = model.decoder(model.encoder(autograd.tensor(x_tilde))).numpy()
    bce = (np.logaddexp(0, logits) - x * logits).sum() / 3   # -x log s - (1-x) log(1-s)
    np.testing.assert_allclose(loss, bce, rtol=1e-10)
    model.eval()   # no corruption in eval mode: the loss is deterministic
    a, b = (model.loss(autograd.tensor(x)).item() for _ in range(2))
    assert a == b
    model.train()  # corruption in training mode
    assert model.loss(autograd.tensor(x)).item() != a


@pytest.mark.parametrize('noise_level', [0.0, 0.3])
def test_tiny_autoencoder_lowers_its_loss_on_a_fixed_batch(noise_level):
    autograd.manual_seed(0)
    model = Autoencoder((1, 8, 8), latent_dim=4, hidden=(8, 8), noise='masking',
                        noise_level=noise_level)
    protos = np.random.default_rng(5).uniform(size=(4, 1, 8, 8)) > 0.5
    x = autograd.tensor(np.repeat(protos, 4, axis=0) * 1.0, dtype=autograd.float32)
    opt = optim.Adam(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(40):
        loss = model.loss(x)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert np.mean(losses[-5:]) < 0.7 * np.mean(losses[:5])
    rec = model.reconstruct(x).numpy()
    assert rec.shape == (16, 1, 8, 8) and rec.min() >= 0 and rec.max() <= 1


def test_bad_settings_are_refused():
    with pytest.raises(ValueError, match='noise_level 1.5 out of range'):
        Autoencoder(noise='masking', noise_level=1.5)
    with pytest.raises(ValueError, match=r'Autoencoder: expected images of shape \(N, 1, 28'):
        Autoencoder().loss(autograd.rand(2, 1, 32, 32))
