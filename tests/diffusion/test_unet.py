"""Tests of minigen.diffusion.unet: shapes and parameter count, its pieces against NumPy,
its gradient, conditioning, and a loss that falls."""
import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

import autograd
from minigen.diffusion import linear_schedule, diffusion_loss, ddim_sample, ClassifierFreeGuidance
from minigen.diffusion import UNet
from minigen.diffusion.unet import AttnBlock, ResBlock, timestep_embedding
from minigen.optim import Adam

from numpy_reference import (randomize as _randomize, group_norm as _gn,
                             conv_same as _conv, silu as _silu)

DEVICE_OK = [HealthCheck.function_scoped_fixture]  # the device fixture is a constant name
TINY = dict(in_channels=1, resolution=8, base_channels=8, channel_mults=(1, 2),
            num_res_blocks=1, attention_resolutions=(4,), groups=4)


def _tiny(device, **config):
    autograd.manual_seed(0)
    return _randomize(UNet(**{**TINY, **config})).to(device)


def test_benchmark_config_has_the_reference_parameter_count():
    assert sum(p.size for p in UNet().parameters()) == 1_112_801
    # adaptive group norm doubles each ResBlock's time projection, C_out * (128 + 1) more
    # weights in each of the 11 blocks (down 3, middle 2, up 6)
    widths = [32, 64, 64] + [64, 64] + [64, 64, 64, 64, 32, 32]
    extra = sum(c * 129 for c in widths)
    assert sum(p.size for p in UNet(time_injection='adagn').parameters()) == 1_112_801 + extra


@pytest.mark.parametrize('config', [{}, dict(time_injection='adagn', num_classes=3),
                                    dict(context_dim=5, channel_mults=(1, 1, 2))])
def test_output_has_the_input_shape(device, config):
    model = _tiny(device, **config)
    x = autograd.randn(2, 1, 8, 8, device=device)
    t = autograd.tensor([0, 999], device=device)
    kwargs = {'context': autograd.randn(2, 3, 5, device=device)} if 'context_dim' in config else {}
    assert model(x, t, **kwargs).shape == (2, 1, 8, 8)


# --- the pieces against plain NumPy ----------------------------------------------------
def _np(module):
    return {k: v.numpy() for k, v in module.state_dict().items()}


@given(t=st.lists(st.integers(0, 999), min_size=1, max_size=3), dim=st.sampled_from([2, 8, 32]))
def test_timestep_embedding_is_sin_then_cos_of_geometric_frequencies(t, dim):
    half = dim // 2
    f = np.exp(-math.log(10000) * np.arange(half) / half)
    args = np.asarray(t, dtype=np.float64)[:, None] * f
    expected = np.concatenate([np.sin(args), np.cos(args)], axis=1)
    np.testing.assert_allclose(timestep_embedding(autograd.tensor(t), dim).numpy(), expected,
                               atol=2e-4)  # float32 arguments up to 999


@pytest.mark.parametrize('adaptive_norm', [False, True])
def test_resblock_matches_numpy(device, adaptive_norm):
    autograd.manual_seed(1)
    block = _randomize(ResBlock(4, 6, 5, groups=2, dropout=0.0, adaptive_norm=adaptive_norm))
    block = block.to(device).double()
    rng = np.random.default_rng(0)
    x, temb_act = rng.standard_normal((2, 4, 5, 5)), rng.standard_normal((2, 5))
    p = _np(block)
    h = _gn(x, 2, p['norm1.weight'], p['norm1.bias'])
    h = _conv(_silu(h), p['conv1.weight'], p['conv1.bias'])
    tproj = (temb_act @ p['time.weight'].T + p['time.bias'])[:, :, None, None]
    if adaptive_norm:
        scale, shift = tproj[:, :6], tproj[:, 6:]
        h = _gn(h, 2, p['norm2.weight'], p['norm2.bias']) * (1 + scale) + shift
    else:
        h = _gn(h + tproj, 2, p['norm2.weight'], p['norm2.bias'])
    h = _conv(_silu(h), p['conv2.weight'], p['conv2.bias'])
    expected = _conv(x, p['skip.weight'], p['skip.bias']) + h
    out = block(autograd.tensor(x, device=device), autograd.tensor(temb_act, device=device))
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-10, atol=1e-10)


def test_attnblock_matches_numpy(device):
    block = _randomize(AttnBlock(4, groups=2)).to(device).double()
    x = np.random.default_rng(1).standard_normal((2, 4, 3, 3))
    p = _np(block)
    qkv = _conv(_gn(x, 2, p['norm.weight'], p['norm.bias']), p['qkv.weight'], p['qkv.bias'])
    q, k, v = qkv.reshape(2, 3, 4, 9).transpose(1, 0, 2, 3)  # each (B, C, HW)
    s = np.einsum('bci,bcj->bij', q, k) / 2.0  # q^T k / sqrt(C)
    w = np.exp(s - s.max(-1, keepdims=True))
    w /= w.sum(-1, keepdims=True)
    h = np.einsum('bij,bcj->bci', w, v).reshape(x.shape)
    expected = x + _conv(h, p['proj.weight'], p['proj.bias'])
    np.testing.assert_allclose(block(autograd.tensor(x, device=device)).numpy(), expected,
                               rtol=1e-10, atol=1e-10)


def test_cross_attention_is_multihead_attention_of_the_image_to_the_context(device):
    """AttnBlock with a context: its self-attention half (checked above), then
    x1 + W^O softmax(q k^T / sqrt(C) - inf * padding) v with q from GN(x1), k, v from it."""
    block = _randomize(AttnBlock(4, groups=2, context_dim=3)).to(device).double()
    self_half = AttnBlock(4, groups=2).to(device).double()
    self_half.load_state_dict({k: v for k, v in block.state_dict().items()
                               if not k.startswith('cross.')})
    rng = np.random.default_rng(2)
    x, ctx = rng.standard_normal((2, 4, 3, 3)), rng.standard_normal((2, 5, 3))
    padding = np.array([[0, 0, 0, 1, 1], [0, 0, 0, 0, 0]], dtype=bool)  # True: padding
    p = _np(block)
    x1 = self_half(autograd.tensor(x, device=device)).numpy()
    tokens = _gn(x1, 2, p['cross.norm.weight'], p['cross.norm.bias']).reshape(2, 4, 9)
    tokens = tokens.transpose(0, 2, 1)  # (B, HW, C)
    bq, bk, bv = np.split(p['cross.attn.in_proj_bias'], 3)
    q = tokens @ p['cross.attn.q_proj_weight'].T + bq
    k = ctx @ p['cross.attn.k_proj_weight'].T + bk
    v = ctx @ p['cross.attn.v_proj_weight'].T + bv
    s = np.einsum('bic,bjc->bij', q, k) / 2.0 + np.where(padding[:, None, :], -np.inf, 0)
    w = np.exp(s - s.max(-1, keepdims=True))
    w /= w.sum(-1, keepdims=True)
    o = w @ v @ p['cross.attn.out_proj.weight'].T + p['cross.attn.out_proj.bias']
    expected = x1 + o.transpose(0, 2, 1).reshape(x1.shape)
    got = block(autograd.tensor(x, device=device), autograd.tensor(ctx, device=device),
                autograd.tensor(padding, device=device))
    np.testing.assert_allclose(got.numpy(), expected, rtol=1e-10, atol=1e-10)


# --- the gradient ----------------------------------------------------------------------
def _call_with(model, params, values, *args, **kwargs):
    """model(*args) with each parameter replaced by the Tensor in `values`, so that
    gradcheck can perturb (and differentiate) the weights as inputs."""
    modules = dict(model.named_modules())
    owners = [(modules[n.rpartition('.')[0]], n.rpartition('.')[2]) for n in params]
    for (m, name), v in zip(owners, values):
        object.__setattr__(m, name, v)  # an instance attribute shadows the registered one
    try:
        return model(*args, **kwargs)
    finally:
        for m, name in owners:
            del m.__dict__[name]


@settings(max_examples=3, suppress_health_check=DEVICE_OK)
@given(config=st.sampled_from([{}, dict(time_injection='adagn', num_classes=3)]),
       seed=st.integers(0, 2 ** 16))
def test_unet_gradient_passes_gradcheck_direction(device, config, seed):
    model = _tiny(device, **config).double()
    rng = np.random.default_rng(seed)
    names = [n for n, _ in model.named_parameters()]
    x = autograd.tensor(rng.standard_normal((2, 1, 8, 8)), device=device)
    t = autograd.tensor(rng.integers(0, 1000, 2), device=device)
    y = {'y': autograd.tensor([0, 3], device=device)} if 'num_classes' in config else {}

    def f(x_, *weights):
        return _call_with(model, names, weights, x_, t, **y)

    assert autograd.gradcheck(f, [x] + list(model.parameters()), mode='direction', seed=seed)


def test_cross_attention_gradient_passes_gradcheck_direction(device):
    model = _tiny(device, context_dim=3).double()
    rng = np.random.default_rng(0)
    x = autograd.tensor(rng.standard_normal((2, 1, 8, 8)), device=device)
    context = autograd.tensor(rng.standard_normal((2, 4, 3)), device=device)
    t = autograd.tensor([3, 500], device=device)
    padding = np.array([[0, 0, 0, 1], [0, 0, 0, 0]], dtype=bool)
    assert autograd.gradcheck(lambda x_, c_: model(x_, t, context=c_,
                                                   context_key_padding_mask=padding),
                              [x, context], mode='direction')


# --- conditioning ----------------------------------------------------------------------
def test_no_label_means_the_null_class(device):
    model = _tiny(device, num_classes=3)
    x, t = autograd.randn(2, 1, 8, 8, device=device), autograd.tensor([5, 6], device=device)
    null = model(x, t, y=autograd.tensor([3, 3], device=device)).numpy()
    np.testing.assert_array_equal(model(x, t).numpy(), null)
    assert not np.allclose(model(x, t, y=autograd.tensor([0, 1], device=device)).numpy(), null)


def test_pooled_vector_is_projected_and_added_to_the_time_embedding(device):
    """Imagen's pooled text embedding: temb = time_mlp(emb(t)) + Linear(pooled). With the
    time MLP's last bias shifted by Linear(pooled) of one example, the UNet without a pooled
    input gives the same output: the pooled vector enters only there."""
    model = _tiny(device, pooled_dim=3)
    plain = _tiny(device)
    plain.load_state_dict({k: v for k, v in model.state_dict().items()
                           if not k.startswith('pooled_proj.')})
    x, t = autograd.randn(1, 1, 8, 8, device=device), autograd.tensor([7], device=device)
    pooled = np.random.default_rng(1).standard_normal((1, 3)).astype(np.float32)
    out = model(x, t, pooled=autograd.tensor(pooled, device=device)).numpy()
    W, b = model.pooled_proj.weight.numpy(), model.pooled_proj.bias.numpy()
    with autograd.no_grad():
        bias = plain.time_mlp[2].bias
        bias.copy_(autograd.tensor(bias.numpy() + pooled[0] @ W.T + b, device=device))
    np.testing.assert_allclose(out, plain(x, t).numpy(), rtol=1e-4, atol=1e-5)
    other = model(x, t, pooled=autograd.tensor(pooled + 1, device=device)).numpy()
    assert not np.allclose(other, out, atol=1e-4)


@settings(max_examples=3, suppress_health_check=DEVICE_OK)
@given(seed=st.integers(0, 2 ** 16))
def test_pooled_gradient_passes_gradcheck(device, seed):
    model = _tiny(device, pooled_dim=3, context_dim=3).double()
    rng = np.random.default_rng(seed)
    x = autograd.tensor(rng.standard_normal((2, 1, 8, 8)), device=device)
    context = autograd.tensor(rng.standard_normal((2, 4, 3)), device=device)
    pooled = autograd.tensor(rng.standard_normal((2, 3)), device=device)
    t = autograd.tensor(rng.integers(0, 1000, 2), device=device)
    assert autograd.gradcheck(lambda x_, p_: model(x_, t, context=context, pooled=p_),
                              [x, pooled], mode='direction', seed=seed)


def test_padding_context_tokens_do_not_change_the_output(device):
    model = _tiny(device, context_dim=3)
    x, t = autograd.randn(2, 1, 8, 8, device=device), autograd.tensor([5, 6], device=device)
    context = np.random.default_rng(0).standard_normal((2, 4, 3)).astype(np.float32)
    # nn.MultiheadAttention's convention: True marks a padding token, which is ignored
    padding = autograd.tensor(np.array([[0, 0, 1, 1], [0, 0, 0, 1]], dtype=bool), device=device)

    def run():
        return model(x, t, context=autograd.tensor(context, device=device),
                     context_key_padding_mask=padding).numpy()

    out = run()
    context[0, 2:], context[1, 3] = 9.0, -9.0  # only masked tokens change
    np.testing.assert_allclose(run(), out, atol=1e-6)
    context[0, 0] = 5.0
    changed = run()
    assert not np.allclose(changed, out, atol=1e-4)


def test_guidance_takes_the_context_and_its_padding_mask_as_conditions(device):
    """Classifier-free guidance with a text-like condition: the null prompt is a context
    whose tokens after the first are padding; both halves run in one batch of 2B."""
    model = _tiny(device, context_dim=3)
    x, t = autograd.randn(2, 1, 8, 8, device=device), autograd.tensor([5, 6], device=device)
    context = autograd.randn(2, 4, 3, device=device)
    padding = autograd.tensor(np.array([[0, 0, 1, 1], [0, 0, 0, 1]], dtype=bool), device=device)
    null = dict(context=autograd.zeros(1, 4, 3, device=device),
                context_key_padding_mask=autograd.tensor([[False, True, True, True]],
                                                         device=device))
    guided = ClassifierFreeGuidance(model, 3.0, **null)
    out = guided(x, t, context=context, context_key_padding_mask=padding).numpy()
    cond = model(x, t, context=context, context_key_padding_mask=padding).numpy()
    uncond = model(x, t, context=autograd.zeros(2, 4, 3, device=device),
                   context_key_padding_mask=null['context_key_padding_mask'].broadcast_to((2, 4)))
    uncond = uncond.numpy()
    np.testing.assert_allclose(out, uncond + 3.0 * (cond - uncond), rtol=1e-4, atol=1e-5)


def test_bad_inputs_are_clear_errors(device):
    model = _tiny(device)
    x, t = autograd.randn(2, 1, 8, 8, device=device), autograd.tensor([1, 2], device=device)
    with pytest.raises(ValueError, match=r'x must have shape \(B, 1, 8, 8\), got \(2, 1, 7, 8\)'):
        model(autograd.randn(2, 1, 7, 8, device=device), t)
    with pytest.raises(ValueError, match='UNet: t must be 2 integer timesteps'):
        model(x, autograd.tensor([1.0, 2.0], device=device))
    with pytest.raises(ValueError, match='num_classes=None'):
        model(x, t, y=autograd.tensor([0, 1], device=device))
    with pytest.raises(ValueError, match=r'y must be 2 labels in \[0, 3\]'):
        _tiny(device, num_classes=3)(x, t, y=autograd.tensor([0, 4], device=device))
    with pytest.raises(ValueError, match='context_dim=None'):
        model(x, t, context=autograd.randn(2, 3, 5, device=device))
    with_context = _tiny(device, context_dim=5)
    context = autograd.randn(2, 3, 5, device=device)
    with pytest.raises(ValueError, match=r'context_key_padding_mask must have shape \(2, 3\)'):
        with_context(x, t, context=context, context_key_padding_mask=np.zeros((2, 4), bool))
    with pytest.raises(ValueError, match='context_key_padding_mask was given without a context'):
        model(x, t, context_key_padding_mask=np.zeros((2, 3), bool))
    with pytest.raises(ValueError, match='pooled_dim=None'):
        model(x, t, pooled=autograd.randn(2, 3, device=device))
    with pytest.raises(ValueError, match=r'pooled must have shape \(2, 3\)'):
        _tiny(device, pooled_dim=3)(x, t, pooled=autograd.randn(2, 4, device=device))
    with pytest.raises(ValueError, match='built with pooled_dim=3'):
        _tiny(device, pooled_dim=3)(x, t)
    with pytest.raises(ValueError, match='resolution 10 must be divisible by 2\\^2'):
        UNet(resolution=10, channel_mults=(1, 2, 2))


# --- training and sampling -------------------------------------------------------------
def test_tiny_unet_loss_falls_on_a_fixed_batch(device):
    autograd.manual_seed(0)
    model = UNet(**TINY).to(device)
    opt = Adam(model.parameters(), lr=3e-3)
    schedule = linear_schedule(1000)
    x0 = autograd.randn(8, 1, 8, 8, device=device).clip(-1, 1)
    t = autograd.tensor(np.linspace(50, 950, 8).astype(np.int64), device=device)
    eps = autograd.randn(8, 1, 8, 8, device=device)
    losses = []
    for _ in range(40):
        loss = diffusion_loss(model, schedule, x0, t=t, eps=eps)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]


def test_sampling_uses_eval_mode_and_restores_training(device):
    model = _tiny(device, dropout=0.5)
    x_T = autograd.randn(2, 1, 8, 8, device=device)
    a = ddim_sample(model, linear_schedule(100), x_T, steps=3).numpy()
    b = ddim_sample(model, linear_schedule(100), x_T, steps=3).numpy()
    np.testing.assert_array_equal(a, b)  # dropout off while sampling
    assert model.training


@settings(max_examples=15, deadline=None, suppress_health_check=DEVICE_OK)
@given(data=st.data())
def test_upsampled_conv3x3_is_conv_of_the_nearest_upsampling(device, data):
    """The phase decomposition equals conv3x3(interpolate(x, 2, nearest)) in float64, and
    its gradients (x, weight, bias) match central differences with a random upstream."""
    from autograd.testing import assert_gradients_close
    from minigen.diffusion.unet import upsampled_conv3x3
    import minigen.nn.functional as F
    N, C, C_out, H, W = (data.draw(st.integers(1, n)) for n in (2, 3, 3, 4, 4))
    rng = np.random.default_rng(data.draw(st.integers(0, 2 ** 16)))
    x, w, b = (autograd.tensor(rng.standard_normal(s), device=device) for s in
               ((N, C, H, W), (C_out, C, 3, 3), (C_out,)))
    plain = F.conv2d(F.interpolate(x, scale_factor=2, mode='nearest'), w, b, padding=1)
    np.testing.assert_allclose(upsampled_conv3x3(x, w, b).numpy(), plain.numpy(),
                               rtol=1e-12, atol=1e-12)
    assert_gradients_close(upsampled_conv3x3, x, w, b)
