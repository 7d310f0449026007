"""DALL-E's transformer (minigen/autoregressive/dalle.py): the sequence [text; image codes
shifted past the text vocabulary], the weighted loss against NumPy, causality (a token
never changes the predictions before it), generation of exactly the image's number of
tokens from the image codes only, a tiny instance lowering its loss and regenerating the
grids it memorised, and CLIP reranking keeping the highest-scoring candidate."""
import numpy as np
import pytest

import autograd
from minigen.autoregressive.dalle import DALLE, draw_candidates, rerank
from minigen.autoregressive.dvae import DiscreteVAE
from minigen.autoregressive.gpt import sample_token
from minigen.optim import Adam

TEXT_VOCAB, TEXT_LEN, CODES, IMAGE_LEN = 6, 3, 5, 4


def tiny(n_layers=1, d_model=16):
    autograd.manual_seed(0)
    return DALLE(TEXT_VOCAB, TEXT_LEN, CODES, IMAGE_LEN, d_model=d_model, n_layers=n_layers,
                 n_heads=2)


def batch(n=4, seed=0):
    rng = np.random.default_rng(seed)
    return rng.integers(0, TEXT_VOCAB, (n, TEXT_LEN)), rng.integers(0, CODES, (n, IMAGE_LEN))


def log_softmax(a):
    a = a - a.max(-1, keepdims=True)
    return a - np.log(np.exp(a).sum(-1, keepdims=True))


def test_the_loss_is_one_eighth_text_and_seven_eighths_image_cross_entropy():
    model = tiny()
    text, image = batch()
    s = model.sequence(text, image)
    np.testing.assert_array_equal(s, np.concatenate([text, image + TEXT_VOCAB], 1))
    with autograd.no_grad():
        logp = log_softmax(model.gpt(s[:, :-1]).numpy().astype(np.float64))
        out = model.loss(text, image)
    nll = -np.take_along_axis(logp, s[:, 1:, None], -1)[..., 0]      # (B, T - 1)
    np.testing.assert_allclose(out['text'].item(), nll[:, :TEXT_LEN - 1].mean(), rtol=1e-5)
    np.testing.assert_allclose(out['image'].item(), nll[:, TEXT_LEN - 1:].mean(), rtol=1e-5)
    np.testing.assert_allclose(out['loss'].item(), nll[:, :TEXT_LEN - 1].mean() / 8
                               + 7 * nll[:, TEXT_LEN - 1:].mean() / 8, rtol=1e-5)


def test_no_token_changes_the_predictions_before_it():
    """Causal: changing token t (text or image) leaves every logit at positions < t as it
    was, and changes position t's."""
    model = tiny(n_layers=2)
    text, image = batch(1)
    s = model.sequence(text, image)
    with autograd.no_grad():
        base = model.gpt(s).numpy()
        for t in range(1, s.shape[1]):
            other = s.copy()
            other[0, t] = (s[0, t] + 1) % model.gpt.vocab_size
            out = model.gpt(other).numpy()
            np.testing.assert_array_equal(out[:, :t], base[:, :t])
            assert np.abs(out[:, t] - base[:, t]).max() > 0


def test_generation_draws_exactly_the_image_tokens_from_the_image_codes():
    model = tiny()
    text, _ = batch(3)
    autograd.manual_seed(1)
    z = model.generate(text, temperature=2.0)
    assert z.shape == (3, IMAGE_LEN) and z.min() >= 0 and z.max() < CODES
    assert np.array_equal(model.generate(text, temperature=0), model.generate(text, top_k=1))
    with pytest.raises(ValueError, match=r'dalle.DALLE.generate: expected text ids \(B, 3\)'):
        model.generate(text[:, :2])


def test_one_position_at_a_time_on_the_cache_gives_the_full_pass_logits():
    """GPT.step (the sampler's path): position t on the cached LN_1 inputs of 0..t-1
    equals the causal pass over the whole sequence; and generation draws what a sampler
    re-running the whole prefix at every token draws."""
    model = tiny(n_layers=2)
    text, image = batch(3)
    s = model.sequence(text, image)
    cache = [[] for _ in model.gpt.blocks]
    with autograd.no_grad():
        full = model.gpt(s).numpy()
        steps = np.stack([model.gpt.step(s[:, t], cache).numpy() for t in range(s.shape[1])], 1)
    np.testing.assert_allclose(steps, full, rtol=1e-4, atol=1e-5)
    with pytest.raises(ValueError, match=r'GPT.step: position 7 is past block_size=7'):
        model.gpt.step(s[:, 0], cache)
    autograd.manual_seed(5)
    z = model.generate(text, temperature=1.5)
    autograd.manual_seed(5)
    seq = np.array(text)
    with autograd.no_grad():
        for _ in range(IMAGE_LEN):
            logits = model.gpt(seq).numpy()[:, -1, TEXT_VOCAB:].astype(np.float64)
            seq = np.concatenate([seq, sample_token(logits, 1.5)[:, None] + TEXT_VOCAB], 1)
    np.testing.assert_array_equal(z, seq[:, TEXT_LEN:] - TEXT_VOCAB)


def train(model, text, image, steps, lr=3e-3):
    opt = Adam(model.parameters(), lr=lr)
    losses = []
    for _ in range(steps):
        loss = model.loss(text, image)['loss']
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return losses


def test_a_tiny_dalle_lowers_its_loss_and_redraws_the_grids_it_memorised():
    model = tiny(n_layers=2, d_model=32)
    text = np.array([[1, 2, 0], [1, 3, 0]])
    image = np.array([[0, 1, 2, 3], [4, 4, 0, 2]])
    losses = train(model, text, image, 120)
    assert losses[-1] < 0.2 * losses[0]
    np.testing.assert_array_equal(model.generate(text, temperature=0), image)


def test_draw_candidates_decodes_k_grids_per_caption_with_the_dvae():
    model = tiny()
    autograd.manual_seed(0)
    dvae = DiscreteVAE((3, 8, 16), hidden=(4, 8), num_codes=CODES, code_dim=4)   # 2x4 grid
    with pytest.raises(ValueError, match=r'dalle.draw_candidates: the transformer draws 4 '
                                         r'image tokens, the dVAE decodes 2x4'):
        draw_candidates(model, dvae, batch(2)[0], k=3)
    dvae = DiscreteVAE((3, 8, 8), hidden=(4, 8), num_codes=CODES, code_dim=4)     # 2x2 grid
    text, _ = batch(2)
    tokens, images = draw_candidates(model, dvae, text, k=3)
    assert tokens.shape == (2, 3, 2, 2) and images.shape == (2, 3, 3, 8, 8)
    with autograd.no_grad():
        np.testing.assert_allclose(images[1, 2], dvae.decode(tokens[1, 2][None]).numpy()[0],
                                   rtol=1e-6)


class FakeCLIP:
    """Embeddings by hand: an image's is its mean colour, a caption's a fixed direction."""

    def image_embeddings(self, x):
        e = x.mean((2, 3))
        return e / np.linalg.norm(e, axis=1, keepdims=True)

    def text_embeddings(self, captions):
        return np.array([[1.0, 0, 0] if c == 'red' else [0, 0, 1.0] for c in captions])


def test_rerank_keeps_the_candidate_clip_scores_highest():
    colours = np.array([[1, 0, 0], [0, 0, 1], [0.7, 0.7, 0]], dtype=np.float64)
    images = np.broadcast_to(colours[None, :, :, None, None], (2, 3, 3, 4, 4))
    best, scores = rerank(FakeCLIP(), images, ['blue', 'red'])
    np.testing.assert_array_equal(best, [1, 0])
    np.testing.assert_allclose(scores[1], [1, 0, np.sqrt(0.5)])
    with pytest.raises(ValueError, match=r'dalle.rerank: 2 rows of candidates but 1 captions'):
        rerank(FakeCLIP(), images, ['red'])
