"""The dVAE (minigen/autoregressive/dvae.py): its KL to the uniform prior and its codebook
perplexity against NumPy, the annealed temperature, the gradient reaching the encoder through
the Gumbel-softmax, decoding a token grid as the codebook lookup, and a tiny instance's loss
falling on a fixed batch."""
import numpy as np
import pytest

import autograd
import minigen.nn.functional as F
from minigen.autoregressive.dvae import DiscreteVAE, perplexity, temperature
from minigen.data.shapes import make_shapes
from minigen.optim import Adam


def tiny(num_codes=8):
    autograd.manual_seed(0)
    return DiscreteVAE((3, 8, 8), hidden=(4, 8), num_codes=num_codes, code_dim=4)


def images(n=4, seed=0):
    return autograd.tensor(np.random.default_rng(seed).random((n, 3, 8, 8), dtype=np.float32))


def test_kl_is_that_of_the_posterior_softmax_to_the_uniform_prior():
    """kl = mean over positions of sum_k q_k log(q_k K), q = softmax(E(2x - 1)) over codes;
    loss = recon + beta kl."""
    model, x = tiny(), images()
    q = F.softmax(model.logits(x), dim=1).numpy().astype(np.float64)
    want = (q * np.log(q * 8)).sum(1).mean()
    out = model.loss(x, tau=0.5, beta=3.0)
    np.testing.assert_allclose(out['kl'].item(), want, rtol=1e-5)
    np.testing.assert_allclose(out['loss'].item(), out['recon'].item() + 3.0 * want, rtol=1e-5)
    assert out['indices'].shape == (4, 2, 2) and model.grid == (2, 2)


def test_perplexity_is_exp_entropy_of_the_code_frequencies():
    assert perplexity(np.arange(16) % 8, 8) == pytest.approx(8.0)
    assert perplexity(np.zeros((3, 4), int), 8) == pytest.approx(1.0)
    assert perplexity(np.array([0, 0, 1, 1]), 8) == pytest.approx(2.0)


def test_the_temperature_falls_from_tau_start_to_tau_end_and_stays():
    taus = [temperature(s, 100) for s in range(0, 130, 10)]
    assert taus[0] == 1.0 and taus[10] == pytest.approx(1 / 16) and taus[-1] == taus[10]
    assert all(a > b for a, b in zip(taus[:11], taus[1:11]))
    assert temperature(50, 100) == pytest.approx(0.25)               # geometric: sqrt(1/16)


def test_the_gradient_reaches_the_encoder_through_the_relaxed_draw():
    """No straight-through copy: d recon / d encoder weights is non-zero, and as the
    temperature falls the relaxed draw sharpens to one code per position."""
    model, x = tiny(), images()
    out = model.loss(x, tau=1.0, beta=0.0)
    out['loss'].backward()
    assert all(np.abs(p.grad.numpy()).sum() > 0 for p in model.encoder.parameters())
    logits = model.logits(x)
    peaks = [F.gumbel_softmax(logits, tau, dim=1).numpy().max(1).mean() for tau in (1, 0.01)]
    assert peaks[1] > 0.99 > peaks[0]


def test_decode_is_the_decoder_on_the_codebook_rows_of_the_tokens():
    """decode(z) = (D(e_z) + 1) / 2 clipped, and the mixture of a one-hot is that row."""
    model = tiny()
    z = np.array([[[0, 1], [7, 3]]])
    e = model.codebook.numpy()[z].transpose(0, 3, 1, 2)
    with autograd.no_grad():
        want = np.clip((model.decoder(autograd.tensor(e)).numpy() + 1) / 2, 0, 1)
        np.testing.assert_allclose(model.decode(z).numpy(), want, rtol=1e-6)
        one_hot = autograd.tensor((np.arange(8)[None, :, None, None] == z[:, None])
                                  .astype(np.float32))
        np.testing.assert_allclose(model.mix(one_hot).numpy(), e, rtol=1e-6)
    assert model.encode(images(2)).shape == (2, 2, 2)


def test_the_loss_of_a_tiny_dvae_falls_on_a_fixed_batch():
    model, x = tiny(), autograd.tensor(make_shapes(8, size=8).images)
    opt = Adam(model.parameters(), lr=3e-3)
    losses = []
    for step in range(40):
        out = model.loss(x, temperature(step, 40), beta=0.01)
        opt.zero_grad()
        out['loss'].backward()
        opt.step()
        losses.append(out['recon'].item())
    assert np.mean(losses[-5:]) < 0.5 * np.mean(losses[:5]), losses


def test_bad_shapes_are_refused_naming_the_file():
    with pytest.raises(ValueError, match=r'dvae.DiscreteVAE: 2 down levels need H and W'):
        DiscreteVAE((3, 10, 10), hidden=(4, 8))
    with pytest.raises(ValueError, match=r'dvae.DiscreteVAE: expected images of shape'):
        tiny().loss(autograd.zeros(2, 1, 8, 8))
