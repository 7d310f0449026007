"""Every layer of minigen.nn: forward against a plain NumPy formula, gradients (of the
inputs and of every parameter) against central differences in float64, PyTorch's default
initializations, parameter counts and reprs.

Gradients: `gradcheck_module` hands the module's parameters to autograd.gradcheck as
inputs (swapping the shifted copies in while the module runs), in mode 'direction'.
Every test that takes `device` gets the conftest fixture (cpu, and cuda where present)."""
import math

import numpy as np
import pytest
from hypothesis import given, strategies as st

import autograd as ag
import minigen.nn as nn


def gradcheck_module(module, *inputs, atol=1e-7, rtol=1e-5):
    """autograd.gradcheck of module(*inputs) over the float inputs and every parameter."""
    module.double()
    owners = [(m, k) for _, m in module.named_modules() for k in m._parameters]
    params = [m._parameters[k] for m, k in owners]

    def run(*args):
        saved = [m._parameters[k] for m, k in owners]
        for (m, k), p in zip(owners, args[len(inputs):]):
            m._parameters[k] = p
        try:
            return module(*args[:len(inputs)])
        finally:
            for (m, k), p in zip(owners, saved):
                m._parameters[k] = p
    assert ag.gradcheck(run, [*inputs, *params], mode='direction', atol=atol, rtol=rtol)


def randn(rng, *shape, device='cpu'):
    return ag.tensor(rng.standard_normal(shape), dtype=np.float64, device=device)


def array(t):
    return t.numpy().astype(np.float64)


# --- Linear, Embedding ------------------------------------------------------------------
@given(lead=st.lists(st.integers(1, 3), max_size=2), n_in=st.integers(1, 5),
       n_out=st.integers(1, 5), bias=st.booleans(), seed=st.integers(0, 2 ** 16))
def test_linear_is_x_times_weight_transposed_plus_bias(device, lead, n_in, n_out, bias, seed):
    rng = np.random.default_rng(seed)
    layer = nn.Linear(n_in, n_out, bias=bias).to(device)
    x = randn(rng, *lead, n_in, device=device)
    want = array(x) @ array(layer.weight).T + (array(layer.bias) if bias else 0)
    np.testing.assert_allclose(layer.double()(x).numpy(), want, rtol=1e-12, atol=1e-12)
    gradcheck_module(layer, x)


def test_embedding_picks_rows_and_adds_gradients_of_repeated_indices(device):
    emb = nn.Embedding(5, 3).to(device)
    idx = ag.tensor([[0, 4, 4], [2, 0, 1]], device=device)
    np.testing.assert_array_equal(emb(idx).numpy(), emb.weight.numpy()[idx.numpy()])
    gradcheck_module(emb, idx)
    emb(idx).sum().backward()
    np.testing.assert_array_equal(emb.weight.grad.numpy()[:, 0], [2, 1, 1, 0, 2])
    with pytest.raises(IndexError, match=r"Embedding: indices must be in \[0, 5\)"):
        emb(ag.tensor([5], device=device))


# --- convolutions ---------------------------------------------------------------------
def conv2d_reference(x, w, b, stride, padding, dilation, groups):
    """y[n, o, i, j] = b[o] + sum_{c, u, v} w[o, c, u, v] x_pad[n, g(o) Cg + c, i s + u d, j s + v d]."""
    N, C, H, W = x.shape
    O, Cg, kh, kw = w.shape
    x_pad = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    Ho = (H + 2 * padding - dilation * (kh - 1) - 1) // stride + 1
    Wo = (W + 2 * padding - dilation * (kw - 1) - 1) // stride + 1
    y = np.zeros((N, O, Ho, Wo))
    for o in range(O):
        g = o // (O // groups)
        for u in range(kh):
            for v in range(kw):
                rows = slice(u * dilation, u * dilation + stride * (Ho - 1) + 1, stride)
                cols = slice(v * dilation, v * dilation + stride * (Wo - 1) + 1, stride)
                patch = x_pad[:, g * Cg:(g + 1) * Cg, rows, cols]
                y[:, o] += np.einsum('nchw,c->nhw', patch, w[o, :, u, v])
    return y if b is None else y + b[:, None, None]


def conv_transpose2d_reference(x, w, b, stride, padding, output_padding, groups):
    """Every input pixel x[n, c, i, j] adds x * w[c] onto the output window at (i s, j s)."""
    N, C, H, W = x.shape
    _, Og, k, _ = w.shape
    Ho = (H - 1) * stride - 2 * padding + k + output_padding
    Wo = (W - 1) * stride - 2 * padding + k + output_padding
    y = np.zeros((N, Og * groups, Ho + 2 * padding + k, Wo + 2 * padding + k))
    for c in range(C):
        g = c // (C // groups)
        for i in range(H):
            for j in range(W):
                y[:, g * Og:(g + 1) * Og, i * stride:i * stride + k, j * stride:j * stride + k] += (
                    x[:, c, i, j][:, None, None, None] * w[c])
    y = y[:, :, padding:padding + Ho, padding:padding + Wo]
    return y if b is None else y + b[:, None, None]


@given(groups=st.integers(1, 2), cg=st.integers(1, 2), og=st.integers(1, 2), k=st.integers(1, 3),
       stride=st.integers(1, 2), padding=st.integers(0, 1), dilation=st.integers(1, 2),
       bias=st.booleans(), seed=st.integers(0, 2 ** 16))
def test_conv2d_matches_the_sliding_window_sum(device, groups, cg, og, k, stride, padding,
                                                dilation, bias, seed):
    rng = np.random.default_rng(seed)
    conv = nn.Conv2d(groups * cg, groups * og, k, stride, padding, dilation, groups, bias).to(device)
    x = randn(rng, 2, groups * cg, 5, 6, device=device)
    want = conv2d_reference(array(x), array(conv.weight), array(conv.bias) if bias else None,
                            stride, padding, dilation, groups)
    np.testing.assert_allclose(conv.double()(x).numpy(), want, rtol=1e-10, atol=1e-10)
    gradcheck_module(conv, x)


@given(groups=st.integers(1, 2), cg=st.integers(1, 2), og=st.integers(1, 2), k=st.integers(1, 3),
       stride=st.integers(1, 2), padding=st.integers(0, 1), output_padding=st.integers(0, 1),
       bias=st.booleans(), seed=st.integers(0, 2 ** 16))
def test_conv_transpose2d_scatters_each_pixel_times_the_kernel(device, groups, cg, og, k, stride,
                                                               padding, output_padding, bias, seed):
    output_padding = min(output_padding, stride - 1)
    padding = min(padding, k - 1)
    rng = np.random.default_rng(seed)
    conv = nn.ConvTranspose2d(groups * cg, groups * og, k, stride, padding, output_padding,
                              groups, bias).to(device)
    x = randn(rng, 2, groups * cg, 3, 4, device=device)
    want = conv_transpose2d_reference(array(x), array(conv.weight),
                                      array(conv.bias) if bias else None, stride, padding,
                                      output_padding, groups)
    np.testing.assert_allclose(conv.double()(x).numpy(), want, rtol=1e-10, atol=1e-10)
    gradcheck_module(conv, x)


# --- normalization --------------------------------------------------------------------
def standardize(x, axes, eps):
    mean = x.mean(axis=axes, keepdims=True)
    return (x - mean) / np.sqrt(x.var(axis=axes, keepdims=True) + eps)


def perturb_affine(layer, rng):
    """Weight and bias away from 1 and 0, so a mix-up of the two would show."""
    with ag.no_grad():
        for p in layer.parameters():
            p.copy_(rng.standard_normal(p.shape))


@given(G=st.integers(1, 3), per_group=st.integers(1, 3), hw=st.integers(1, 4),
       affine=st.booleans(), seed=st.integers(0, 2 ** 16))
def test_group_norm_standardizes_each_group_of_channels(device, G, per_group, hw, affine, seed):
    rng = np.random.default_rng(seed)
    C = G * per_group
    gn = nn.GroupNorm(G, C, affine=affine).to(device).double()
    perturb_affine(gn, rng)
    x = randn(rng, 2, C, hw, 3, device=device)
    xg = array(x).reshape(2, G, -1)
    want = standardize(xg, 2, gn.eps).reshape(x.shape)
    if affine:
        want = want * array(gn.weight)[:, None, None] + array(gn.bias)[:, None, None]
    np.testing.assert_allclose(gn(x).numpy(), want, rtol=1e-9, atol=1e-9)
    gradcheck_module(gn, x)


@given(shape=st.lists(st.integers(2, 4), min_size=1, max_size=3), k=st.integers(1, 2),
       affine=st.booleans(), seed=st.integers(0, 2 ** 16))
def test_layer_norm_standardizes_the_last_axes(device, shape, k, affine, seed):
    k = min(k, len(shape))
    rng = np.random.default_rng(seed)
    ln = nn.LayerNorm(shape[-k:], elementwise_affine=affine).to(device).double()
    perturb_affine(ln, rng)
    x = randn(rng, *shape, device=device)
    want = standardize(array(x), tuple(range(len(shape) - k, len(shape))), ln.eps)
    if affine:
        want = want * array(ln.weight) + array(ln.bias)
    np.testing.assert_allclose(ln(x).numpy(), want, rtol=1e-9, atol=1e-9)
    gradcheck_module(ln, x)


def silu(x):
    return x / (1 + np.exp(-x))


@given(G=st.integers(1, 3), per_group=st.integers(1, 3), hw=st.integers(1, 4),
       affine=st.booleans(), adaptive=st.booleans(), seed=st.integers(0, 2 ** 16))
def test_group_norm_silu_is_silu_of_group_norm_and_its_adaptive_form(device, G, per_group, hw,
                                                                    affine, adaptive, seed):
    """forward(x) = SiLU(GN(x)) (one fused op); forward(x, scale, shift) =
    SiLU(GN(x) (1 + scale) + shift) for a per-sample (N, C, 1, 1) scale and shift."""
    rng = np.random.default_rng(seed)
    C = G * per_group
    gn = nn.GroupNormSiLU(G, C, affine=affine).to(device).double()
    perturb_affine(gn, rng)
    x = randn(rng, 2, C, hw, 3, device=device)
    want = standardize(array(x).reshape(2, G, -1), 2, gn.eps).reshape(x.shape)
    if affine:
        want = want * array(gn.weight)[:, None, None] + array(gn.bias)[:, None, None]
    inputs = [x]
    if adaptive:
        scale, shift = randn(rng, 2, C, 1, 1, device=device), randn(rng, 2, C, 1, 1, device=device)
        want = want * (1 + array(scale)) + array(shift)
        inputs += [scale, shift]
    np.testing.assert_allclose(gn(*inputs).numpy(), silu(want), rtol=1e-9, atol=1e-9)
    gradcheck_module(gn, *inputs)


def test_group_norm_silu_keeps_group_norm_parameter_names_and_repr():
    fused, plain = nn.GroupNormSiLU(2, 4), nn.GroupNorm(2, 4)
    assert list(fused.state_dict()) == list(plain.state_dict()) == ['weight', 'bias']
    assert repr(fused) == 'GroupNormSiLU(2, 4, eps=1e-05, affine=True)  # 8 parameters'


def test_batch_norm_uses_batch_statistics_in_training_and_running_ones_in_eval(device):
    rng = np.random.default_rng(1)
    bn = nn.BatchNorm2d(3, momentum=0.25).to(device).double()
    perturb_affine(bn, rng)
    x = randn(rng, 4, 3, 2, 2, device=device)
    gamma, beta = array(bn.weight)[:, None, None], array(bn.bias)[:, None, None]
    y = bn(x)  # training: batch statistics over N, H, W
    np.testing.assert_allclose(y.numpy(), standardize(array(x), (0, 2, 3), bn.eps) * gamma + beta,
                               rtol=1e-9, atol=1e-9)
    mean, var = array(x).mean(axis=(0, 2, 3)), array(x).var(axis=(0, 2, 3), ddof=1)
    np.testing.assert_allclose(bn.running_mean.numpy(), 0.25 * mean, rtol=1e-12)
    np.testing.assert_allclose(bn.running_var.numpy(), 0.75 + 0.25 * var, rtol=1e-12)
    bn.eval()
    rm, rv = array(bn.running_mean)[:, None, None], array(bn.running_var)[:, None, None]
    np.testing.assert_allclose(bn(x).numpy(), (array(x) - rm) / np.sqrt(rv + bn.eps) * gamma + beta,
                               rtol=1e-9, atol=1e-9)
    np.testing.assert_array_equal(array(bn.running_mean)[:, None, None], rm)  # eval: unchanged
    gradcheck_module(bn, x)
    bn.train()
    gradcheck_module(bn, x)


# --- activations and dropout ----------------------------------------------------------
def gelu_tanh(x):
    return 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x ** 3)))


ACTIVATIONS = [
    (nn.ReLU(), lambda x: np.maximum(x, 0)),
    (nn.LeakyReLU(0.2), lambda x: np.where(x > 0, x, 0.2 * x)),
    (nn.SiLU(), lambda x: x / (1 + np.exp(-x))),
    (nn.GELU(), gelu_tanh),
    (nn.Tanh(), np.tanh),
    (nn.Sigmoid(), lambda x: 1 / (1 + np.exp(-x))),
    (nn.Softplus(), lambda x: np.log1p(np.exp(x))),
]


@pytest.mark.parametrize('layer, formula', ACTIVATIONS,
                         ids=[type(layer).__name__ for layer, _ in ACTIVATIONS])
def test_activation_layer_applies_its_formula(device, layer, formula):
    values = np.array([-2.0, -0.7, -0.1, 0.2, 0.9, 2.5])  # away from relu's kink at 0
    x = ag.tensor(values, dtype=np.float64, device=device)
    np.testing.assert_allclose(layer(x).numpy(), formula(values), rtol=1e-12, atol=1e-12)
    gradcheck_module(layer, x)


def test_dropout_zeros_a_fraction_p_and_rescales_the_rest_only_in_training(device):
    ag.manual_seed(0)
    drop = nn.Dropout(0.3)
    x = ag.ones(200, 100, device=device)
    y = drop(x).numpy()
    assert set(np.unique(y)) <= {0.0, np.float32(1 / 0.7)}
    assert abs((y == 0).mean() - 0.3) < 0.02
    assert drop.eval()(x) is x
    with pytest.raises(ValueError, match='Dropout: p must be in'):
        nn.Dropout(1.5)


def test_dropout_gradient_is_the_mask_over_one_minus_p(device):
    drop = nn.Dropout(0.5)

    def seeded(x):  # the same mask at every call of the check
        ag.manual_seed(3)
        return drop(x)
    x = randn(np.random.default_rng(0), 4, 5, device=device)
    assert ag.gradcheck(seeded, [x], mode='full')


# --- attention ------------------------------------------------------------------------
def mha_reference(x, ctx, mha, bias=0.0):
    """softmax(q_i k_i^T / sqrt(d) + bias) v_i per head i, concatenated, times W^O (NumPy)."""
    E, h = mha.embed_dim, mha.num_heads
    d = E // h
    if mha.same_dims:
        Wq, Wk, Wv = np.split(array(mha.in_proj_weight), 3)
    else:
        Wq, Wk, Wv = array(mha.q_proj_weight), array(mha.k_proj_weight), array(mha.v_proj_weight)
    bq, bk, bv = np.split(array(mha.in_proj_bias), 3)
    q, k, v = x @ Wq.T + bq, ctx @ Wk.T + bk, ctx @ Wv.T + bv
    heads = []
    for i in range(h):
        part = slice(i * d, (i + 1) * d)
        s = q[..., part] @ k[..., part].transpose(0, 2, 1) / math.sqrt(d) + bias
        p = np.exp(s - s.max(axis=-1, keepdims=True))
        heads.append(p / p.sum(axis=-1, keepdims=True) @ v[..., part])
    return np.concatenate(heads, axis=-1) @ array(mha.out_proj.weight).T + array(mha.out_proj.bias)


def random_biases(mha, rng):
    """In-projection and output biases away from their zero init, so they are checked."""
    with ag.no_grad():
        for b in (mha.in_proj_bias, mha.out_proj.bias):
            b.copy_(rng.standard_normal(b.shape))


@given(h=st.integers(1, 3), d=st.integers(1, 3), L=st.integers(1, 4), seed=st.integers(0, 2 ** 16))
def test_self_attention_matches_the_per_head_formula(device, h, d, L, seed):
    rng = np.random.default_rng(seed)
    mha = nn.MultiheadAttention(h * d, h).to(device).double()
    random_biases(mha, rng)
    x = randn(rng, 2, L, h * d, device=device)
    np.testing.assert_allclose(mha(x).numpy(), mha_reference(array(x), array(x), mha),
                               rtol=1e-9, atol=1e-9)
    gradcheck_module(mha, x)


@given(h=st.integers(1, 2), d=st.integers(1, 3), L=st.integers(1, 3), S=st.integers(1, 4),
       kdim=st.integers(1, 4), same=st.booleans(), seed=st.integers(0, 2 ** 16))
def test_cross_attention_reads_a_context_of_another_length_and_width(device, h, d, L, S, kdim,
                                                                     same, seed):
    rng = np.random.default_rng(seed)
    E = h * d
    kdim = E if same else kdim
    mha = nn.MultiheadAttention(E, h, kdim=kdim, vdim=kdim).to(device).double()
    random_biases(mha, rng)
    x, ctx = randn(rng, 2, L, E, device=device), randn(rng, 2, S, kdim, device=device)
    np.testing.assert_allclose(mha(x, ctx).numpy(), mha_reference(array(x), array(ctx), mha),
                               rtol=1e-9, atol=1e-9)
    gradcheck_module(mha, x, ctx)


def test_attention_masks_hide_padding_and_future_keys_as_pytorch(device):
    rng = np.random.default_rng(2)
    mha = nn.MultiheadAttention(4, 2).to(device).double()
    random_biases(mha, rng)
    x = randn(rng, 2, 3, 4, device=device)
    padding = np.array([[False, False, True], [False, False, False]])  # True: a padding key
    future = np.triu(np.ones((3, 3), dtype=bool), 1)                     # True: may not attend
    bias = np.where(padding[:, None, :] | future, -np.inf, 0.0)
    want = mha_reference(array(x), array(x), mha, bias)
    for got in (mha(x, key_padding_mask=ag.tensor(padding, device=device), is_causal=True),
                mha(x, key_padding_mask=padding, attn_mask=future),
                mha(x, key_padding_mask=padding, attn_mask=np.where(future, -np.inf, 0.0))):
        np.testing.assert_allclose(got.numpy(), want, rtol=1e-9, atol=1e-9)
    with pytest.raises(ValueError, match=r"key_padding_mask must be \(B, S\) = \(2, 3\), got \(3,\)"):
        mha(x, key_padding_mask=np.zeros(3, bool))


def test_attention_rejects_mismatched_widths_and_heads():
    with pytest.raises(ValueError, match='embed_dim=6 must be divisible by num_heads=4'):
        nn.MultiheadAttention(6, 4)
    mha = nn.MultiheadAttention(4, 2, kdim=3, vdim=3)
    with pytest.raises(ValueError, match=r"key \(1, 2, 4\) must have kdim=3 features"):
        mha(ag.zeros(1, 2, 4), ag.zeros(1, 2, 4))
    with pytest.raises(ValueError, match='batch_first=True'):
        nn.MultiheadAttention(4, 2, batch_first=False)


# --- the Transformer block -------------------------------------------------------------
def layer_norm_reference(x, ln):
    return standardize(x, -1, ln.eps) * array(ln.weight) + array(ln.bias)


@given(h=st.integers(1, 2), d=st.integers(1, 3), L=st.integers(1, 4), causal=st.booleans(),
       n_pad=st.integers(0, 3), quick=st.booleans(), seed=st.integers(0, 2 ** 16))
def test_transformer_block_is_pre_norm_attention_then_mlp(device, h, d, L, causal, n_pad, quick,
                                                          seed):
    """x1 = x + MHA(LN_1(x)),  y = x1 + W_2 act(W_1 LN_2(x1) + b_1) + b_2, with causal and
    key-padding masks (padding at the end of the second sequence, never its first key)."""
    rng = np.random.default_rng(seed)
    E = h * d
    block = nn.TransformerBlock(E, h, mlp_ratio=2, activation=nn.QuickGELU() if quick else None)
    block = block.to(device).double()
    perturb_affine(block.ln_1, rng)
    perturb_affine(block.ln_2, rng)
    random_biases(block.attn, rng)
    x = randn(rng, 2, L, E, device=device)
    padding = np.zeros((2, L), dtype=bool)
    padding[1, L - min(n_pad, L - 1):] = True  # empty when n_pad = 0 or L = 1
    hidden = np.where(padding[:, None, :], -np.inf, 0.0)
    if causal:
        hidden = hidden + np.where(np.triu(np.ones((L, L), dtype=bool), 1), -np.inf, 0.0)
    a = layer_norm_reference(array(x), block.ln_1)
    x1 = array(x) + mha_reference(a, a, block.attn, hidden)
    u = layer_norm_reference(x1, block.ln_2) @ array(block.c_fc.weight).T + array(block.c_fc.bias)
    act = u / (1 + np.exp(-1.702 * u)) if quick else gelu_tanh(u)
    want = x1 + act @ array(block.c_proj.weight).T + array(block.c_proj.bias)
    got = block(x, causal=causal, key_padding_mask=padding)
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-9, atol=1e-9)
    gradcheck_module(block, x, causal, padding)


# --- shape layers ---------------------------------------------------------------------
def test_pooling_upsample_and_flatten_layers_wrap_their_functions(device):
    x = ag.tensor(np.arange(32.0).reshape(1, 2, 4, 4), device=device)
    a = x.numpy().reshape(1, 2, 2, 2, 2, 2)
    np.testing.assert_array_equal(nn.MaxPool2d(2)(x).numpy(), a.max(axis=(3, 5)))
    np.testing.assert_allclose(nn.AvgPool2d(2)(x).numpy(), a.mean(axis=(3, 5)))
    np.testing.assert_array_equal(nn.Upsample(scale_factor=2)(x).numpy(),
                                  x.numpy().repeat(2, axis=2).repeat(2, axis=3))
    assert nn.Flatten()(x).shape == (1, 32)


# --- initialization -------------------------------------------------------------------
@pytest.mark.parametrize('make, fan_in', [(lambda: nn.Linear(50, 40), 50),
                                          (lambda: nn.Conv2d(6, 30, 3, groups=2), 27),
                                          (lambda: nn.ConvTranspose2d(30, 6, 3, groups=2), 27)])
def test_linear_and_conv_default_init_is_uniform_within_one_over_sqrt_fan_in(make, fan_in):
    ag.manual_seed(0)
    layer = make()
    bound = 1 / math.sqrt(fan_in)
    for p in (layer.weight, layer.bias):
        w = p.numpy()
        assert np.abs(w).max() <= bound and np.abs(w).max() > 0.8 * bound
    w = layer.weight.numpy()
    assert abs(w.std() - bound / math.sqrt(3)) < 0.1 * bound  # the std of U(-b, b)


def test_embedding_and_norm_defaults():
    ag.manual_seed(0)
    w = nn.Embedding(100, 50).weight.numpy()
    assert abs(w.mean()) < 0.05 and abs(w.std() - 1) < 0.05
    for norm in (nn.GroupNorm(2, 4), nn.LayerNorm(4), nn.BatchNorm2d(4)):
        np.testing.assert_array_equal(norm.weight.numpy(), np.ones(4))
        np.testing.assert_array_equal(norm.bias.numpy(), np.zeros(4))
    bn = nn.BatchNorm2d(4)
    np.testing.assert_array_equal(bn.running_var.numpy(), np.ones(4))
    mha = nn.MultiheadAttention(8, 2)
    assert not mha.in_proj_bias.numpy().any() and not mha.out_proj.bias.numpy().any()
    bound = math.sqrt(6 / (8 + 24))  # xavier on the (3E, E) in_proj_weight
    assert np.abs(mha.in_proj_weight.numpy()).max() <= bound


def test_init_functions_follow_their_formulas_and_the_seed():
    w = ag.zeros(400, 300)
    nn.init.xavier_normal_(w)
    assert abs(w.numpy().std() - math.sqrt(2 / 700)) < 0.002
    nn.init.kaiming_normal_(w, nonlinearity='relu')
    assert abs(w.numpy().std() - math.sqrt(2 / 300)) < 0.003
    nn.init.kaiming_uniform_(w, mode='fan_out', nonlinearity='tanh')
    assert abs(np.abs(w.numpy()).max() - math.sqrt(3) * 5 / 3 / math.sqrt(400)) < 1e-3
    nn.init.xavier_uniform_(w, gain=2.0)
    assert abs(np.abs(w.numpy()).max() - 2 * math.sqrt(6 / 700)) < 1e-3
    nn.init.uniform_(w, -3, -2)
    assert w.numpy().min() >= -3 and w.numpy().max() < -2
    nn.init.normal_(w, 5.0, 0.5)
    assert abs(w.numpy().mean() - 5) < 0.01 and abs(w.numpy().std() - 0.5) < 0.01
    nn.init.constant_(w, 0.25)
    assert (w.numpy() == 0.25).all()
    assert nn.init.calculate_fan_in_and_fan_out(ag.zeros(8, 3, 5, 5)) == (75, 200)
    assert nn.init.calculate_gain('leaky_relu', 0.2) == pytest.approx(math.sqrt(2 / 1.04))
    ag.manual_seed(7)
    first = nn.Linear(3, 4).weight.numpy()
    ag.manual_seed(7)
    np.testing.assert_array_equal(nn.Linear(3, 4).weight.numpy(), first)
    assert w.dtype == np.float32


def test_init_rejects_bad_arguments():
    with pytest.raises(ValueError, match=r"at least 2 dimensions .* got shape \(5,\)"):
        nn.init.xavier_uniform_(ag.zeros(5))
    with pytest.raises(ValueError, match="mode must be 'fan_in' or 'fan_out'"):
        nn.init.kaiming_uniform_(ag.zeros(2, 2), mode='fan')
    with pytest.raises(ValueError, match='unknown nonlinearity'):
        nn.init.calculate_gain('swish')


# --- counts and reprs -----------------------------------------------------------------
def count(module):
    return sum(p.size for p in module.parameters())


def test_parameter_counts_match_pytorch():
    assert count(nn.Conv2d(3, 8, 3)) == 224
    assert count(nn.Conv2d(4, 8, 3, groups=2, bias=False)) == 144
    assert count(nn.ConvTranspose2d(8, 4, 4)) == 8 * 4 * 16 + 4
    assert count(nn.Linear(10, 5)) == 55
    assert count(nn.MultiheadAttention(16, 4)) == 4 * 16 * 16 + 4 * 16
    assert count(nn.MultiheadAttention(16, 4, kdim=8, vdim=6)) == 16 * (16 + 8 + 6) + 3 * 16 + 16 * 17
    assert count(nn.GroupNorm(2, 8)) == count(nn.BatchNorm2d(8)) == 16
    assert count(nn.GroupNormSiLU(2, 8)) == 16
    assert count(nn.LayerNorm((3, 4), elementwise_affine=False)) == 0


def test_layer_repr_shows_arguments_and_parameter_counts():
    assert repr(nn.Conv2d(3, 8, 3, padding=1)) == (
        "Conv2d(3, 8, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1))  # 224 parameters")
    assert repr(nn.Linear(2, 3, bias=False)) == (
        "Linear(in_features=2, out_features=3, bias=False)  # 6 parameters")
    assert repr(nn.ReLU()) == 'ReLU()'
    assert repr(nn.MultiheadAttention(4, 2)).splitlines() == [
        'MultiheadAttention(  # 80 parameters',
        '  embed_dim=4, num_heads=2',
        '  (out_proj): Linear(in_features=4, out_features=4, bias=True)  # 20 parameters',
        ')']


# --- sizes are checked when a layer is built --------------------------------------------
SIZE = r"must be an int >= 1, got"
BAD_LAYERS = [
    (lambda: nn.Conv2d(3, 8, 0), rf"Conv2d: kernel_size {SIZE[:-5]} or a pair of them, got 0"),
    (lambda: nn.Conv2d(3, 8, (3, 0)), r"Conv2d: kernel_size .* got \(3, 0\)"),
    (lambda: nn.Conv2d(3, 8, (3, 3, 3)), r"Conv2d: kernel_size .* got \(3, 3, 3\)"),
    (lambda: nn.Conv2d(3, 8, 3, stride=0), r"Conv2d: stride must be an int >= 1 or a pair"),
    (lambda: nn.Conv2d(3, 8, 3, dilation=0), r"Conv2d: dilation must be an int >= 1"),
    (lambda: nn.Conv2d(3, 8, 3, padding=-1), r"Conv2d: padding must be an int >= 0"),
    (lambda: nn.Conv2d(0, 8, 3), rf"Conv2d: in_channels {SIZE} 0"),
    (lambda: nn.Conv2d(3, 0, 3), rf"Conv2d: out_channels {SIZE} 0"),
    (lambda: nn.Conv2d(4, 8, 3, groups=0), rf"Conv2d: groups {SIZE} 0"),
    (lambda: nn.Conv2d(2.5, 8, 3), rf"Conv2d: in_channels {SIZE} 2.5"),
    (lambda: nn.ConvTranspose2d(3, 0, 4), rf"ConvTranspose2d: out_channels {SIZE} 0"),
    (lambda: nn.ConvTranspose2d(3, 8, 0), r"ConvTranspose2d: kernel_size must be"),
    (lambda: nn.ConvTranspose2d(3, 8, 4, stride=0), r"ConvTranspose2d: stride must be"),
    (lambda: nn.ConvTranspose2d(3, 8, 4, stride=2, output_padding=2),
     r"ConvTranspose2d: output_padding \(2, 2\) must be smaller than stride \(2, 2\) or "
     r"dilation \(1, 1\)"),
    (lambda: nn.Linear(0, 4), rf"Linear: in_features {SIZE} 0"),
    (lambda: nn.Linear(4, -1), rf"Linear: out_features {SIZE} -1"),
    (lambda: nn.Linear(True, 4), rf"Linear: in_features {SIZE} True"),
    (lambda: nn.Embedding(0, 4), rf"Embedding: num_embeddings {SIZE} 0"),
    (lambda: nn.Embedding(10, 0), rf"Embedding: embedding_dim {SIZE} 0"),
    (lambda: nn.GroupNorm(0, 8), rf"GroupNorm: num_groups {SIZE} 0"),
    (lambda: nn.GroupNorm(2, 0), rf"GroupNorm: num_channels {SIZE} 0"),
    (lambda: nn.GroupNormSiLU(2, 0), rf"GroupNormSiLU: num_channels {SIZE} 0"),
    (lambda: nn.LayerNorm(0), rf"LayerNorm: normalized_shape {SIZE[:-5]} or a tuple of them, "
                              r"got 0"),
    (lambda: nn.LayerNorm((4, 0)), r"LayerNorm: normalized_shape .* got \(4, 0\)"),
    (lambda: nn.BatchNorm2d(0), rf"BatchNorm2d: num_features {SIZE} 0"),
    (lambda: nn.MultiheadAttention(8, 0), rf"MultiheadAttention: num_heads {SIZE} 0"),
    (lambda: nn.MultiheadAttention(0, 1), rf"MultiheadAttention: embed_dim {SIZE} 0"),
    (lambda: nn.MultiheadAttention(8, 2, kdim=0), rf"MultiheadAttention: kdim {SIZE} 0"),
    (lambda: nn.MaxPool2d(0), r"MaxPool2d: kernel_size must be an int >= 1"),
    (lambda: nn.AvgPool2d(2, stride=0), r"AvgPool2d: stride must be an int >= 1"),
    (lambda: nn.AvgPool2d(2, padding=-1), r"AvgPool2d: padding must be an int >= 0"),
    (lambda: nn.Upsample(), r"Upsample: give exactly one of size and scale_factor"),
    (lambda: nn.Upsample(scale_factor=0), r"Upsample: scale_factor must be a positive number"),
    (lambda: nn.Upsample(size=0), r"Upsample: size must be an int >= 1"),
]


@pytest.mark.parametrize('make,message', BAD_LAYERS)
def test_impossible_sizes_are_refused_when_the_layer_is_built(make, message):
    """Conv2d(3, 8, 0) and Linear(0, 4) died with ZeroDivisionError in their initialisers;
    stride=0 was found only at the first forward; GroupNorm(2, 0) was accepted."""
    with pytest.raises(ValueError, match=message):
        make()
