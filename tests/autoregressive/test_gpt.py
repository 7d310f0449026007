"""The GPT (minigen/autoregressive/gpt.py): its forward against NumPy, gradients by central
differences, causality by the engine, the top-k and top-p filters, and the learner's checks:
the loss on a fixed batch falls, and a short text is memorised and regenerated."""
import numpy as np
from hypothesis import given, settings, strategies as st

import autograd
from minigen.autoregressive import GPT, sample_token, top_k_filter, top_p_filter
from minigen.optim import Adam
from tests.nn.test_layers import array, gradcheck_module, layer_norm_reference, randn

TEXT = "hello minigen, hello world. "


@settings(max_examples=10, deadline=None)
@given(vocab=st.integers(2, 6), T=st.integers(1, 4), seed=st.integers(0, 2 ** 16))
def test_logits_are_the_normalised_embeddings_times_the_tied_embedding(vocab, T, seed):
    """With no blocks: logits = LN(W_e[t] + W_p[:T]) W_e^T; with one, its gradients."""
    autograd.manual_seed(seed)
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, vocab, (2, T))
    bare = GPT(vocab, 4, d_model=4, n_layers=0, n_heads=2).double()
    h0 = array(bare.tok.weight)[idx] + array(bare.pos.weight)[:T]
    want = layer_norm_reference(h0, bare.ln_f) @ array(bare.tok.weight).T
    np.testing.assert_allclose(bare(idx).numpy(), want, rtol=1e-10, atol=1e-12)
    model = GPT(vocab, 4, d_model=4, n_layers=1, n_heads=2)
    gradcheck_module(model, autograd.tensor(idx))


def test_position_t_never_reads_a_later_position():
    """d logits[t] / d h_0[s] is zero for every s > t and not for s <= t."""
    autograd.manual_seed(0)
    model = GPT(7, 6, d_model=8, n_layers=2, n_heads=2).double()
    h0 = randn(np.random.default_rng(0), 1, 6, 8)
    for t in range(6):
        h = h0.detach().requires_grad_()
        (g,) = autograd.grad(model.decode(h)[0, t].sum(), h)
        per_position = np.abs(g.numpy()[0]).sum(axis=1)
        assert np.all(per_position[t + 1:] == 0) and np.all(per_position[:t + 1] > 0)


@settings(max_examples=30, deadline=None)
@given(V=st.integers(1, 12), k=st.integers(1, 12), ties=st.booleans(),
       seed=st.integers(0, 2 ** 16))
def test_top_k_keeps_exactly_k_candidates_the_most_likely(V, k, ties, seed):
    k = min(k, V)
    rng = np.random.default_rng(seed)
    logits = rng.integers(0, 3, (3, V)) * 1.0 if ties else rng.standard_normal((3, V))
    kept = top_k_filter(logits, k)
    assert np.all(np.isfinite(kept).sum(1) == k)
    for row, out in zip(logits, kept):
        assert np.all(out[np.isfinite(out)] == row[np.isfinite(out)])
        assert row[np.isfinite(out)].min() >= row[~np.isfinite(out)].max(initial=-np.inf)


@settings(max_examples=30, deadline=None)
@given(V=st.integers(1, 12), p=st.floats(0.01, 1.0), seed=st.integers(0, 2 ** 16))
def test_top_p_keeps_the_smallest_set_whose_probability_reaches_p(V, p, seed):
    logits = np.random.default_rng(seed).standard_normal((3, V)) * 2
    probs = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    kept = np.isfinite(top_p_filter(logits, p))
    for pr, keep in zip(probs, kept):
        mass = np.sort(pr[keep])
        assert mass.sum() >= p - 1e-12 or keep.all()             # reaches p
        assert mass.sum() - mass[0] < p                          # one fewer would not
        assert pr[keep].min() >= pr[~keep].max(initial=0)        # the most likely ones


def test_sampling_greedy_and_top_1_take_the_argmax_and_samples_follow_the_softmax():
    logits = np.log(np.array([[0.1, 0.6, 0.3]] * 4000))
    assert np.all(sample_token(logits, temperature=0) == 1)
    assert np.all(sample_token(logits, top_k=1) == 1)
    autograd.manual_seed(0)
    counts = np.bincount(sample_token(logits), minlength=3) / 4000
    np.testing.assert_allclose(counts, [0.1, 0.6, 0.3], atol=0.03)
    assert set(sample_token(logits, top_p=0.8)) == {1, 2}


def test_the_loss_on_a_fixed_batch_falls():
    autograd.manual_seed(0)
    batch = np.random.default_rng(0).integers(0, 16, (4, 9))
    model = GPT(16, 8, d_model=16, n_layers=1, n_heads=2)
    opt = Adam(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(20):
        loss = model.loss(batch)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[0] > np.log(16) - 0.3 and losses[-1] < losses[0] - 0.5


def test_it_memorises_a_short_text_and_regenerates_it():
    autograd.manual_seed(0)
    vocab = sorted(set(TEXT))
    ids = np.array([[vocab.index(c) for c in TEXT]])
    model = GPT(len(vocab), len(TEXT), d_model=32, n_layers=2, n_heads=2)
    opt = Adam(model.parameters(), lr=3e-3)
    for _ in range(120):
        loss = model.loss(ids)
        opt.zero_grad()
        loss.backward()
        opt.step()
    out = model.generate(ids[:, :1], len(TEXT) - 1, temperature=0)
    assert ''.join(vocab[i] for i in out[0]) == TEXT
