"""Tests of minigen.diffusion.unclip (Ramesh et al. 2022, arXiv:2204.06125): slerp's endpoints,
unit norm and constant angular speed; the prior's loss is L_prior against NumPy, its gradient
passes gradcheck, it falls on a fixed batch and its samples are unit embeddings; the decoder
reads the embedding through temb and its context tokens, a dropped embedding is the
null-conditioned pass, guidance 0 / 1 are the null / conditional samplers, a tiny decoder
lowers its loss; bad inputs raise errors that name the op."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import autograd
from autograd import no_grad
from minigen.diffusion import UNet, cosine_schedule, ddim_sample, diffusion_loss
from minigen.diffusion.unclip import DiffusionPrior, PriorMLP, UnCLIPDecoder, slerp
from minigen.optim import Adam

from numpy_reference import randomize

D = 8


def _unit(rng, *shape):
    z = rng.standard_normal(shape)
    return z / np.linalg.norm(z, axis=-1, keepdims=True)


def _prior(device, width=16, depth=2, seed=0):
    autograd.manual_seed(seed)
    return DiffusionPrior(PriorMLP(D, width, depth), cosine_schedule(100)).to(device)


def _decoder(device, seed=0, randomized=True, p_uncond=0.1, objective='eps', channels=3,
             mults=(1, 2)):
    autograd.manual_seed(seed)
    unet = UNet(channels, resolution=8, base_channels=8, channel_mults=mults,
                attention_resolutions=(4,), groups=4, context_dim=8, pooled_dim=D)
    decoder = UnCLIPDecoder(unet, cosine_schedule(100), D, tokens=3, p_uncond=p_uncond,
                            objective=objective)
    if randomized:
        randomize(decoder, seed)
    return decoder.to(device)


def _np(x):
    return x.numpy().astype(np.float64)


# --- slerp ---------------------------------------------------------------------------------
@given(batch=st.integers(1, 4), dim=st.integers(2, 16), seed=st.integers(0, 2 ** 16))
def test_slerp_endpoints_equal_the_inputs(batch, dim, seed):
    rng = np.random.default_rng(seed)
    z1, z2 = _unit(rng, batch, dim), _unit(rng, batch, dim)
    np.testing.assert_allclose(slerp(z1, z2, 0.0), z1, atol=1e-6)
    np.testing.assert_allclose(slerp(z1, z2, 1.0), z2, atol=1e-6)
    ends = slerp(z1[0], z2[0], [0.0, 1.0])
    np.testing.assert_allclose(ends, np.stack([z1[0], z2[0]]), atol=1e-6)


@given(dim=st.integers(2, 16), theta=st.floats(0, 1), seed=st.integers(0, 2 ** 16))
def test_slerp_keeps_unit_norm_and_turns_at_constant_angular_speed(dim, theta, seed):
    """|slerp| = 1, and the angle from z1 is theta Omega, from z2 (1 - theta) Omega."""
    rng = np.random.default_rng(seed)
    z1, z2 = _unit(rng, dim), _unit(rng, dim)
    z = slerp(z1, z2, theta).astype(np.float64)
    omega = np.arccos(z1 @ z2)
    np.testing.assert_allclose(np.linalg.norm(z), 1.0, atol=1e-6)
    np.testing.assert_allclose(np.arccos(np.clip(z @ z1, -1, 1)), theta * omega, atol=2e-3)
    np.testing.assert_allclose(np.arccos(np.clip(z @ z2, -1, 1)), (1 - theta) * omega, atol=2e-3)


def test_slerp_of_one_embedding_with_itself_is_that_embedding_and_lerp_is_not_slerp():
    rng = np.random.default_rng(0)
    z1, z2 = _unit(rng, 2, D)
    np.testing.assert_allclose(slerp(z1, z1, 0.3), z1, atol=1e-6)   # Omega = 0: no 0 / 0
    middle = slerp(z1, z2, 0.5)
    assert np.linalg.norm(0.5 * (z1 + z2)) < 0.99 < np.linalg.norm(middle)   # lerp shrinks


def test_slerp_refuses_mismatched_embeddings():
    with pytest.raises(ValueError, match='slerp: z1 and z2'):
        slerp(np.ones(3), np.ones(4), 0.5)
    with pytest.raises(ValueError, match='slerp: theta'):
        slerp(np.ones(3), np.ones(3), np.nan)


# --- the prior ---------------------------------------------------------------------------
def test_prior_loss_is_L_prior_against_numpy(device):
    """|| f_theta(sqrt(a) s z_i + sqrt(1 - a) eps, t, s z_t) - s z_i ||^2 / D, s = sqrt(D)."""
    prior = _prior(device).double()
    rng = np.random.default_rng(1)
    z_i, z_t, eps = _unit(rng, 3, D), _unit(rng, 3, D), rng.standard_normal((3, D))
    t = np.array([0, 40, 99])
    loss = prior.loss(*(autograd.tensor(a, device=device) for a in (z_i, z_t)),
                      t=autograd.tensor(t, device=device), eps=autograd.tensor(eps, device=device))
    s, ab = np.sqrt(D), np.asarray(prior.schedule.alpha_bar, np.float64)[t][:, None]
    x_t = np.sqrt(ab) * s * z_i + np.sqrt(1 - ab) * eps
    with no_grad():
        out = _np(prior.net(autograd.tensor(x_t, device=device), autograd.tensor(t, device=device),
                            autograd.tensor(s * z_t, device=device)))
    np.testing.assert_allclose(_np(loss), ((out - s * z_i) ** 2).mean(), rtol=1e-10)


@settings(max_examples=4)
@given(batch=st.integers(1, 3), seed=st.integers(0, 2 ** 16))
def test_prior_mlp_gradient_passes_gradcheck(device, batch, seed):
    net = _prior(device, width=8, depth=1, seed=seed % 5).net.double()
    rng = np.random.default_rng(seed)
    x, c = (autograd.tensor(rng.standard_normal((batch, D)), device=device) for _ in range(2))
    t = autograd.tensor(rng.integers(0, 100, batch), device=device)
    # gradcheck draws a random upstream gradient for the (B, D) output
    assert autograd.gradcheck(lambda x_, c_: net(x_, t, c_), [x, c], seed=seed)


def test_prior_training_loss_falls_on_a_fixed_batch():
    """One fixed batch (z_i, z_t, t, eps): 60 Adam steps cut L_prior by more than half."""
    prior = _prior('cpu', width=32)
    rng = np.random.default_rng(3)
    z_i = _unit(rng, 16, D).astype(np.float32)
    z_t = (z_i + 0.3 * rng.standard_normal((16, D))).astype(np.float32)
    batch = dict(image_embed=autograd.tensor(z_i), text_embed=autograd.tensor(z_t),
                 t=autograd.tensor(np.arange(16) * 6), eps=autograd.randn(16, D))
    opt = Adam(prior.parameters(), lr=1e-3)
    losses = []
    for _ in range(60):
        loss = prior.loss(**batch)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0], losses[::10]


def test_prior_samples_are_unit_embeddings_repeated_by_a_seed(device):
    prior = _prior(device)
    z_t = _unit(np.random.default_rng(4), 3, D).astype(np.float32)
    state = autograd.backend.get_rng_state()
    a = prior.sample(z_t, steps=5, seed=7)
    after = autograd.rand(3).numpy()              # the caller's stream is where it was
    autograd.backend.set_rng_state(state)
    np.testing.assert_array_equal(after, autograd.rand(3).numpy())
    assert a.shape == (3, D) and a.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(a, axis=1), 1.0, atol=1e-5)
    np.testing.assert_array_equal(a, prior.sample(z_t, steps=5, seed=7))
    assert not np.allclose(a, prior.sample(z_t, steps=5, seed=8))


# --- the decoder -------------------------------------------------------------------------
def test_decoder_reads_the_embedding_in_temb_and_as_context_tokens(device):
    """decoder(x, t, z) = unet(x, t, context = reshape(W_c s z + b_c, (K, 8)), pooled = s z),
    the tokens' projection checked against NumPy; another z gives another output."""
    decoder = _decoder(device).double()
    rng = np.random.default_rng(5)
    x, z = rng.standard_normal((2, 3, 8, 8)), _unit(rng, 2, D)
    t = autograd.tensor(np.array([3, 60]), device=device)
    W, b = _np(decoder.to_tokens.weight), _np(decoder.to_tokens.bias)
    s = np.sqrt(D)
    context = ((s * z) @ W.T + b).reshape(2, 3, 8)
    with no_grad():
        out = _np(decoder(autograd.tensor(x, device=device), t, autograd.tensor(z, device=device)))
        ref = _np(decoder.unet(autograd.tensor(x, device=device), t,
                               context=autograd.tensor(context, device=device),
                               pooled=autograd.tensor(s * z, device=device)))
        other = _np(decoder(autograd.tensor(x, device=device), t,
                            autograd.tensor(z[::-1].copy(), device=device)))
    np.testing.assert_allclose(out, ref, rtol=1e-10, atol=1e-12)
    assert np.abs(out - other).max() > 1e-3


@settings(max_examples=3)
@given(batch=st.integers(1, 2), seed=st.integers(0, 2 ** 16))
def test_decoder_gradient_with_respect_to_the_embedding_passes_gradcheck(device, batch, seed):
    decoder = _decoder(device, seed=seed % 5).double()
    rng = np.random.default_rng(seed)
    x = autograd.tensor(rng.standard_normal((batch, 3, 8, 8)), device=device)
    z = autograd.tensor(_unit(rng, batch, D), device=device)
    t = autograd.tensor(rng.integers(0, 100, batch), device=device)
    assert autograd.gradcheck(lambda x_, z_: decoder(x_, t, z_), [x, z], mode='direction',
                              seed=seed)


def test_a_dropped_embedding_is_the_null_conditioned_pass(device):
    """p_uncond = 1 in training mode: the loss is diffusion_loss with the zero embedding, the
    null condition; p_uncond = 0 and eval mode keep z_i."""
    decoder = _decoder(device).train()
    rng = np.random.default_rng(6)
    x0 = autograd.tensor(rng.uniform(-1, 1, (3, 3, 8, 8)).astype(np.float32), device=device)
    z = autograd.tensor(_unit(rng, 3, D).astype(np.float32), device=device)
    t = autograd.tensor(np.array([5, 50, 95]), device=device)
    eps = autograd.randn(3, 3, 8, 8, device=device)
    with no_grad():
        dropped = decoder.loss(x0, z, t=t, eps=eps, p_uncond=1.0).numpy()
        null = diffusion_loss(decoder, decoder.schedule, x0, t=t, eps=eps,
                              image_embed=decoder.null_embed(3)).numpy()
        kept = decoder.loss(x0, z, t=t, eps=eps, p_uncond=0.0).numpy()
        decoder.eval()
        evaluated = decoder.loss(x0, z, t=t, eps=eps, p_uncond=1.0).numpy()
    np.testing.assert_array_equal(dropped, null)
    assert abs(kept - null) > 1e-6
    np.testing.assert_array_equal(evaluated, kept)
    np.testing.assert_array_equal(decoder.null_embed(2).numpy(), np.zeros((2, D)))


def test_embeddings_are_dropped_at_the_asked_rate():
    decoder = _decoder('cpu', p_uncond=0.3).train()
    z = autograd.tensor(np.ones((4000, D), np.float32))
    from minigen.diffusion import drop_condition
    dropped = drop_condition(z, decoder.null_embed(), decoder.p_uncond).numpy()
    assert abs((dropped[:, 0] == 0).mean() - 0.3) < 0.03


def test_guidance_zero_samples_the_null_model_and_one_the_conditional(device):
    decoder = _decoder(device)
    rng = np.random.default_rng(7)
    z = _unit(rng, 2, D).astype(np.float32)
    x_T = autograd.tensor(rng.standard_normal((2, 3, 8, 8)).astype(np.float32), device=device)
    decoder.diffusion_config = {**decoder.schedule.config, 'objective': 'eps'}
    null = ddim_sample(decoder, decoder.schedule, x_T, steps=4,
                       image_embed=decoder.null_embed(2)).numpy()
    cond = ddim_sample(decoder, decoder.schedule, x_T, steps=4,
                       image_embed=autograd.tensor(z, device=device)).numpy()
    np.testing.assert_allclose(decoder.sample(z, guidance=0.0, steps=4, x_T=x_T).numpy(), null,
                               atol=1e-5)
    np.testing.assert_array_equal(decoder.sample(z, guidance=1.0, steps=4, x_T=x_T).numpy(), cond)
    guided = decoder.sample(z, guidance=3.0, steps=4, x_T=x_T).numpy()
    assert np.abs(guided - cond).max() > 1e-4


def test_a_tiny_decoder_lowers_its_loss_and_draws_what_its_embedding_asks():
    """Two 8x8 images (a bright disk on dark, its inverse) with two embeddings: after 150
    Adam steps the loss has fallen and guided samples of each embedding are nearer its image."""
    decoder = _decoder('cpu', randomized=False, objective='v', channels=1, mults=(1,))
    yy, xx = np.mgrid[:8, :8]
    disk = ((yy - 3.5) ** 2 + (xx - 3.5) ** 2 < 6).astype(np.float32)
    images = np.stack([2 * disk - 1, 1 - 2 * disk])[:, None]              # (2, 1, 8, 8)
    z = _unit(np.random.default_rng(8), 2, D).astype(np.float32)
    idx = np.arange(4) % 2
    x0, z0 = autograd.tensor(images[idx]), autograd.tensor(z[idx])
    opt = Adam(decoder.parameters(), lr=5e-3)
    losses = []
    for _ in range(150):
        loss = decoder.loss(x0, z0)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert np.mean(losses[-20:]) < 0.5 * np.mean(losses[:5])
    samples = decoder.sample(z[idx], guidance=2.0, steps=10, seed=1).numpy()
    dist = np.abs(samples[:, None] - images[None]).mean(axis=(2, 3, 4))   # (4 samples, 2)
    assert (dist[[0, 2], 0] < dist[[0, 2], 1]).all(), dist
    assert (dist[[1, 3], 1] < dist[[1, 3], 0]).all(), dist


# --- bad inputs ----------------------------------------------------------------------------
def test_bad_inputs_raise_errors_that_name_the_op():
    prior, decoder = _prior('cpu'), _decoder('cpu')
    z = autograd.tensor(np.ones((2, D), np.float32))
    with pytest.raises(ValueError, match=r'DiffusionPrior.loss: embeddings must be'):
        prior.loss(autograd.tensor(np.ones((2, D + 1), np.float32)), z)
    with pytest.raises(ValueError, match=r'DiffusionPrior.loss: embeddings must be a Tensor \(2'):
        prior.loss(z, z[:1])
    with pytest.raises(ValueError, match='UnCLIPDecoder.loss: x0 must be'):
        decoder.loss(autograd.zeros(2, 3, 4, 4), z)
    with pytest.raises(ValueError, match='UnCLIPDecoder.sample: guidance'):
        decoder.sample(z, guidance=-1.0)
    with pytest.raises(ValueError, match='UnCLIPDecoder.sample: x_T'):
        decoder.sample(z, x_T=autograd.zeros(3, 3, 8, 8))
    unet = UNet(3, resolution=8, base_channels=8, channel_mults=(1,), groups=4, context_dim=8)
    with pytest.raises(ValueError, match='UnCLIPDecoder: the UNet must be built with pooled_dim'):
        UnCLIPDecoder(unet, cosine_schedule(100), D)
