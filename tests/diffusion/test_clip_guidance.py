"""Tests of minigen.diffusion.clip_guidance: CLIP guidance (Dhariwal & Nichol 2021,
arXiv:2105.05233, Algorithm 2; GLIDE, arXiv:2112.10741, Sec. 2.4) -- scale 0 is the unguided
sampler bit for bit, the gradient is the CLIP cosine's (central differences, float64), the
eps shift in every output parametrisation, DDPM's mean moved by s Sigma grad / sqrt(alpha_t),
the frozen CLIP untouched, the cosine rising with the scale, and bad inputs."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import autograd
from minigen.contrastive.clip import CLIP
from minigen.contrastive.encoders import ResNetEncoder, TextTransformer
from minigen.data.tokenizer import Tokenizer
from minigen.diffusion import (UNet, ddim_sample, ddpm_sample, linear_schedule,
                               split_prediction)
from minigen.diffusion.clip_guidance import CLIPGuidance

from numpy_reference import randomize

SCHEDULE = linear_schedule(50)
PROMPTS = ['a large red circle in the center', 'a small blue square in the top left']


def _models(device, seed=0, double=False):
    """A tiny UNet with non-zero weights everywhere and a tiny random CLIP, in eval mode."""
    autograd.manual_seed(seed)
    unet = randomize(UNet(3, resolution=8, base_channels=8, channel_mults=(1,),
                          attention_resolutions=(8,), groups=4), seed, scale=0.1)
    tok = Tokenizer()
    clip = CLIP(ResNetEncoder(3, widths=(4, 8), groups=4),
                TextTransformer(tok.vocab_size, tok.context_length, width=8, layers=1, heads=2,
                                eot_token=tok.eot), embed_dim=8, tokenizer=tok)
    if double:
        unet, clip = unet.double(), clip.double()
    return unet.to(device).eval(), clip.to(device).eval()


def _x(shape, device, seed=1, dtype=np.float32):
    return autograd.tensor(np.random.default_rng(seed).standard_normal(shape).astype(dtype),
                           device=device)


def _to_unit(x):
    return (x + 1) / 2


@pytest.mark.parametrize('objective, target', [('eps', 'x0'), ('v', 'x0'), ('x0', 'x_t')])
def test_scale_zero_is_the_unguided_sampler_bit_for_bit(device, objective, target):
    unet, clip = _models(device)
    x_T = _x((2, 3, 8, 8), device)
    text = clip.text_embeddings(PROMPTS)
    short = linear_schedule(24)  # DDPM visits all T steps
    guided = CLIPGuidance(unet, short, clip, text, 0.0, objective, target, _to_unit)
    for sample in (lambda m: ddim_sample(m, short, x_T, steps=6, objective=objective),
                   lambda m: ddim_sample(m, short, x_T, steps=6, eta=1.0, objective=objective),
                   lambda m: ddpm_sample(m, short, x_T, objective=objective)):
        autograd.manual_seed(3)
        plain = sample(unet).numpy()
        autograd.manual_seed(3)
        np.testing.assert_array_equal(sample(guided).numpy(), plain)
    guided.scale = 1.0  # and a non-zero scale does change the samples
    assert np.abs(ddim_sample(guided, short, x_T, steps=6, objective=objective).numpy()
                  - ddim_sample(unet, short, x_T, steps=6, objective=objective).numpy()
                  ).max() > 1e-6


@settings(max_examples=4)
@given(t=st.integers(0, 49), batch=st.integers(1, 2), target=st.sampled_from(['x0', 'x_t']),
       objective=st.sampled_from(['eps', 'v']))
def test_the_gradient_is_the_clip_cosine_s_by_central_differences(t, batch, target, objective):
    """<grad_{x_t} c_b, d> = (c_b(x_t + h d) - c_b(x_t - h d)) / 2h for random directions d
    on each sample b alone (so the gradient of sample b is its own cosine's), float64."""
    unet, clip = _models('cpu', double=True)
    guided = CLIPGuidance(unet, SCHEDULE, clip, clip.text_embeddings(PROMPTS[:batch]), 1.0,
                          objective, target, _to_unit)
    x_t = _x((batch, 3, 8, 8), 'cpu', seed=t, dtype=np.float64)
    steps = autograd.full((batch,), t, dtype=autograd.int64)
    _, grad = guided.gradient(x_t, steps)

    def cosine(x):
        with autograd.no_grad():
            x = autograd.tensor(x)
            if target == 'x_t':
                return guided.cosine(x).numpy()
            alpha_bar = SCHEDULE.at('alpha_bar', steps, x)
            return guided.cosine(split_prediction(unet(x, steps), x, alpha_bar, objective)[0]
                                 ).numpy()
    rng, h = np.random.default_rng(t), 1e-5
    for b in range(batch):
        for _ in range(2):
            d = np.zeros(x_t.shape)
            d[b] = rng.standard_normal(x_t.shape[1:])
            numeric = (cosine(x_t.numpy() + h * d)[b] - cosine(x_t.numpy() - h * d)[b]) / (2 * h)
            assert np.sum(grad.numpy() * d) == pytest.approx(numeric, rel=1e-6, abs=1e-9)


@pytest.mark.parametrize('objective', ['eps', 'x0', 'v'])
def test_every_parametrisation_shifts_eps_by_s_sqrt_one_minus_alpha_bar_grad(device, objective):
    """split_prediction of the guided output: eps_hat = eps_theta - s sqrt(1 - ab) grad c,
    x0_hat the matching x0 (Algorithm 2), whatever the network predicts."""
    unet, clip = _models(device, double=True)
    x_t = _x((2, 3, 8, 8), device, dtype=np.float64)
    t = autograd.tensor(np.array([10, 40]), device=device)
    s = 2.5
    guided = CLIPGuidance(unet, SCHEDULE, clip, clip.text_embeddings(PROMPTS), s, objective,
                          'x0', _to_unit)
    prediction, grad = guided.gradient(x_t, t)
    ab = SCHEDULE.alpha_bar[[10, 40]].reshape(2, 1, 1, 1)
    _, eps = split_prediction(prediction, x_t, autograd.tensor(ab, device=device), objective)
    x0_hat, eps_hat = split_prediction(guided(x_t, t), x_t, autograd.tensor(ab, device=device),
                                       objective)
    want = eps.numpy() - s * np.sqrt(1 - ab) * grad.numpy()
    np.testing.assert_allclose(eps_hat.numpy(), want, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(x0_hat.numpy(), (x_t.numpy() - np.sqrt(1 - ab) * want)
                               / np.sqrt(ab), rtol=1e-10, atol=1e-12)


def test_ddpm_mean_moves_by_s_beta_over_sqrt_alpha_times_the_gradient(device):
    """Algorithm 1's mu + s Sigma grad c, Sigma = beta_t, up to 1 / sqrt(alpha_t)."""
    unet, clip = _models(device, double=True)
    x_t = _x((2, 3, 8, 8), device, dtype=np.float64)
    t, s = 30, 4.0
    steps = autograd.full((2,), t, dtype=autograd.int64, device=device)
    guided = CLIPGuidance(unet, SCHEDULE, clip, clip.text_embeddings(PROMPTS), s, 'eps', 'x0',
                          _to_unit)
    prediction, grad = guided.gradient(x_t, steps)
    ab = float(SCHEDULE.alpha_bar[t])
    # mu_tilde_t(x_t, x0_hat) = coef1 x0_hat + coef2 x_t, unguided and guided
    coef = [float(SCHEDULE.posterior_mean_coef1[t]), float(SCHEDULE.posterior_mean_coef2[t])]
    mu = [coef[0] * split_prediction(p, x_t, ab)[0].numpy() + coef[1] * x_t.numpy()
          for p in (prediction, guided(x_t, steps))]
    shift = s * SCHEDULE.beta[t] / np.sqrt(SCHEDULE.alpha[t]) * grad.numpy()
    np.testing.assert_allclose(mu[1] - mu[0], shift, rtol=1e-8, atol=1e-12)


def test_the_frozen_clip_gets_no_gradient_and_the_network_none_either(device):
    unet, clip = _models(device)
    before = {n: p.numpy().copy() for n, p in clip.named_parameters()}
    guided = CLIPGuidance(unet, SCHEDULE, clip, clip.text_embeddings(PROMPTS), 3.0, 'eps',
                          'x0', _to_unit)
    ddim_sample(guided, SCHEDULE, _x((2, 3, 8, 8), device), steps=4)
    for module in (clip, unet):
        assert all(p.grad is None for p in module.parameters())
    for n, p in clip.named_parameters():
        np.testing.assert_array_equal(p.numpy(), before[n])


def test_the_guided_samples_cosine_to_the_prompt_rises_with_the_scale():
    unet, clip = _models('cpu', double=True)
    x_T = _x((4, 3, 8, 8), 'cpu', dtype=np.float64)
    text = clip.text_embeddings(PROMPTS * 2)
    cos = []
    for s in (0.0, 10.0, 100.0):
        guided = CLIPGuidance(unet, SCHEDULE, clip, text, s, 'v', 'x0', _to_unit)
        with autograd.no_grad():
            cos.append(guided.cosine(ddim_sample(guided, SCHEDULE, x_T, steps=8,
                                                 objective='v')).numpy().mean())
    assert cos[0] < cos[1] < cos[2], cos
    assert cos[2] - cos[0] > 0.03, cos  # 0.77 -> 0.81 (a random CLIP: all cosines high)


def test_bad_inputs_are_clear_errors(device):
    unet, clip = _models(device)
    text = clip.text_embeddings(PROMPTS)
    with pytest.raises(ValueError, match='CLIPGuidance: target'):
        CLIPGuidance(unet, SCHEDULE, clip, text, 1.0, target='x1')
    with pytest.raises(ValueError, match='CLIPGuidance: the guidance scale'):
        CLIPGuidance(unet, SCHEDULE, clip, text, -1.0)
    with pytest.raises(ValueError, match='CLIPGuidance: objective'):
        CLIPGuidance(unet, SCHEDULE, clip, text, 1.0, objective='score')
    with pytest.raises(ValueError, match=r'CLIPGuidance: text_embeddings must be \(B, D\)'):
        CLIPGuidance(unet, SCHEDULE, clip, text[0], 1.0)
    guided = CLIPGuidance(unet, SCHEDULE, clip, text, 1.0)
    with pytest.raises(ValueError, match='CLIPGuidance: 3 images but 2 prompt embeddings'):
        ddim_sample(guided, SCHEDULE, _x((3, 3, 8, 8), device), steps=2)


def test_the_samplers_read_the_wrapped_network_s_schedule_stamp_and_mode(device):
    unet, clip = _models(device)
    guided = CLIPGuidance(unet, SCHEDULE, clip, clip.text_embeddings(PROMPTS), 1.0)
    unet.train(True)
    assert guided.training
    ddim_sample(guided, SCHEDULE, _x((2, 3, 8, 8), device), steps=2)
    assert unet.training  # eval mode while sampling, then its mode back
    unet.diffusion_config = {'kind': 'cosine', 'T': 50, 'objective': 'eps'}
    with pytest.raises(ValueError, match='trained with'):
        ddim_sample(guided, SCHEDULE, _x((2, 3, 8, 8), device), steps=2)
