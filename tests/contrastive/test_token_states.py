"""Tests of TextTransformer.token_states: the per-token text states tau_theta(y) (N, L, width)
and the padding mask a latent diffusion model cross-attends with (Rombach et al. 2022,
arXiv:2112.10752, Sec. 3.3) -- against a plain NumPy Transformer, its gradient, and the
padding convention (True = padding, as PyTorch's key_padding_mask)."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import autograd
from autograd import no_grad
from minigen.contrastive.encoders import TextTransformer

PAD, EOT = 0, 2


def _ids(rng, n, length, vocab, lengths=None):
    """Rows [1, words..., EOT, PAD, ...] as the tokenizer writes them."""
    ids = np.zeros((n, length), np.int64)
    for i in range(n):
        k = int(lengths[i]) if lengths is not None else int(rng.integers(0, length - 1))
        ids[i, :k + 2] = [1, *rng.integers(3, vocab, k), EOT]
    return ids


def _model(device, causal=True, width=8, heads=2, layers=1, vocab=9, length=6, seed=0):
    autograd.manual_seed(seed)
    model = TextTransformer(vocab, length, width=width, layers=layers, heads=heads,
                            causal=causal, eot_token=EOT, pad_token=PAD)
    rng = np.random.default_rng(seed)
    with no_grad():  # non-trivial norms and biases
        for name, p in model.named_parameters():
            if 'bias' in name or 'ln' in name:
                p.copy_(rng.standard_normal(p.shape) * 0.3 + (1.0 if name.endswith('ln_1.weight')
                                                             else 0.0))
    return model.to(device)


def _np(t):
    return np.asarray(t.numpy(), np.float64)


def _layer_norm(x, w, b, eps=1e-5):
    return (x - x.mean(-1, keepdims=True)) / np.sqrt(x.var(-1, keepdims=True) + eps) * w + b


def _reference_states(model, ids):
    """LN(x) after pre-norm blocks x += MHA(LN(x)), x += W_2 QuickGELU(W_1 LN(x)), in NumPy."""
    p = {k: _np(v) for k, v in model.state_dict().items()}
    x = p['token_embedding.weight'][ids] + p['positional_embedding']
    N, L, E = x.shape
    for i, block in enumerate(model.blocks):
        pre, h = f'blocks.{i}.', block.attn.num_heads
        d = E // h
        a = _layer_norm(x, p[pre + 'ln_1.weight'], p[pre + 'ln_1.bias'])
        qkv = a @ p[pre + 'attn.in_proj_weight'].T + p[pre + 'attn.in_proj_bias']
        q, k, v = (m.reshape(N, L, h, d).transpose(0, 2, 1, 3) for m in np.split(qkv, 3, -1))
        s = q @ k.transpose(0, 1, 3, 2) / np.sqrt(d)                  # (N, h, L, L)
        hidden = np.triu(np.ones((L, L), bool), 1) if model.causal else \
            (ids == PAD)[:, None, None, :]
        s = np.where(hidden, -np.inf, s)
        w = np.exp(s - s.max(-1, keepdims=True))
        o = (w / w.sum(-1, keepdims=True)) @ v
        o = o.transpose(0, 2, 1, 3).reshape(N, L, E)
        x = x + o @ p[pre + 'attn.out_proj.weight'].T + p[pre + 'attn.out_proj.bias']
        a = _layer_norm(x, p[pre + 'ln_2.weight'], p[pre + 'ln_2.bias'])
        f = a @ p[pre + 'c_fc.weight'].T + p[pre + 'c_fc.bias']
        f = f / (1 + np.exp(-1.702 * f))                              # QuickGELU
        x = x + f @ p[pre + 'c_proj.weight'].T + p[pre + 'c_proj.bias']
    return _layer_norm(x, p['ln_final.weight'], p['ln_final.bias'])


@pytest.mark.parametrize('causal', [True, False])
def test_token_states_match_a_numpy_transformer(device, causal):
    model = _model(device, causal=causal, layers=2)
    ids = _ids(np.random.default_rng(1), 3, 6, 9, lengths=[0, 2, 4])
    states, mask = model.token_states(ids)
    assert states.shape == (3, 6, 8) and mask.shape == (3, 6) and mask.dtype == np.bool_
    got, want = _np(states), _reference_states(model, ids)
    real = ids != PAD      # non-causal: a pad query still attends (only as a key is it hidden)
    np.testing.assert_allclose(got[real], want[real], atol=2e-5)
    if causal:
        np.testing.assert_allclose(got, want, atol=2e-5)


@pytest.mark.parametrize('causal', [True, False])
def test_padding_mask_is_true_at_pads_and_forward_reads_the_end_token(device, causal):
    model = _model(device, causal=causal)
    ids = _ids(np.random.default_rng(2), 4, 6, 9)
    states, mask = model.token_states(ids)
    np.testing.assert_array_equal(mask.numpy(), ids == PAD)
    eot = (ids == EOT).argmax(1)
    np.testing.assert_array_equal(model(ids).numpy(), states.numpy()[np.arange(4), eot])


def test_causal_states_of_real_tokens_ignore_what_follows_the_end_token(device):
    model = _model(device)
    ids = _ids(np.random.default_rng(3), 2, 6, 9, lengths=[1, 2])
    other = ids.copy()
    other[ids == PAD] = 5                  # anything after <eot>
    real = ids != PAD
    a, b = model.token_states(ids)[0].numpy(), model.token_states(other)[0].numpy()
    np.testing.assert_array_equal(a[real], b[real])


def test_token_states_leave_forward_unchanged(device):
    model = _model(device)
    ids = _ids(np.random.default_rng(4), 3, 6, 9)
    before = model(ids).numpy()
    model.token_states(ids)
    np.testing.assert_array_equal(model(ids).numpy(), before)


@settings(max_examples=4)
@given(n=st.integers(1, 3), length=st.integers(3, 5), heads=st.sampled_from([1, 2]),
       causal=st.booleans(), seed=st.integers(0, 2 ** 16))
def test_token_states_gradient_passes_gradcheck(device, n, length, heads, causal, seed):
    model = _model(device, causal=causal, width=4, heads=heads, length=length, seed=seed).double()
    ids = _ids(np.random.default_rng(seed), n, length, 9)
    emb, pos = model.token_embedding.weight, model.positional_embedding

    def f(e, p):
        object.__setattr__(model.token_embedding, 'weight', e)  # shadow the parameters
        object.__setattr__(model, 'positional_embedding', p)
        try:
            return model.token_states(ids)[0]
        finally:
            del model.token_embedding.__dict__['weight'], model.__dict__['positional_embedding']

    # gradcheck draws a random upstream gradient for the (n, length, width) states
    assert autograd.gradcheck(f, [emb.detach(), pos.detach()], mode='direction', seed=seed)


def test_bad_ids_raise_a_clear_error_naming_token_states(device):
    model = _model(device)
    for bad in (np.zeros((2, 5), np.int64), np.zeros((2, 6), np.float32), np.zeros(6, np.int64)):
        with pytest.raises(ValueError, match=r'TextTransformer\.token_states'):
            model.token_states(bad)
