"""CLIP (minigen/contrastive/clip.py) and the CLIP score (minigen/metrics/clip_score.py): the
symmetric loss against its definition in float64, symmetry, minimum, the logit-scale
init and clamp, gradients through the whole loss, retrieval and zero-shot helpers, and a
tiny CLIP that learns a toy paired set to perfect retrieval."""
import math

import numpy as np
import pytest

import autograd
from minigen.data.tokenizer import Tokenizer
from minigen.metrics.clip_score import clip_score
from minigen.contrastive.clip import (CLIP, LOGIT_SCALE_MAX, clip_loss, retrieval_recall,
                                 zero_shot_classifier, zero_shot_predict)
from minigen.contrastive.encoders import ResNetEncoder, TextTransformer, l2_normalize
from minigen.optim import Adam

CAPTIONS = ['a small red circle in the center', 'a large blue square on the left',
            'a small green triangle at the top', 'a large white cross in the top right',
            'a small yellow diamond at the bottom', 'a large cyan circle on the right',
            'a small purple square in the bottom left', 'a large orange triangle in the center']


def clip_loss_reference(img, txt, scale):
    """Radford et al. 2021 Fig. 3, loop by loop in float64."""
    img = img / np.linalg.norm(img, axis=1, keepdims=True)
    txt = txt / np.linalg.norm(txt, axis=1, keepdims=True)
    logits = scale * img @ txt.T
    n = len(img)
    loss_i = np.mean([-logits[i, i] + np.log(np.sum(np.exp(logits[i]))) for i in range(n)])
    loss_t = np.mean([-logits[j, j] + np.log(np.sum(np.exp(logits[:, j]))) for j in range(n)])
    return (loss_i + loss_t) / 2


def _logits(img, txt, scale):
    i, t = (l2_normalize(autograd.tensor(a, dtype=autograd.float64)) for a in (img, txt))
    return scale * (i @ t.T)


def test_clip_loss_matches_definition():
    rng = np.random.default_rng(0)
    img, txt = rng.standard_normal((6, 4)), rng.standard_normal((6, 4))
    for scale in (1.0, 14.3, 100.0):
        got = clip_loss(_logits(img, txt, scale)).item()
        assert got == pytest.approx(clip_loss_reference(img, txt, scale), rel=1e-10)


def test_clip_loss_symmetric():
    """Swapping the roles of images and texts leaves the loss unchanged, although the two
    cross-entropy halves differ."""
    rng = np.random.default_rng(1)
    logits = autograd.tensor(rng.standard_normal((5, 5)) * 3, dtype=autograd.float64)
    assert clip_loss(logits).item() == pytest.approx(clip_loss(logits.T).item(), rel=1e-12)
    import minigen.nn.functional as F
    half_i = F.cross_entropy(logits, np.arange(5)).item()
    half_t = F.cross_entropy(logits.T, np.arange(5)).item()
    assert abs(half_i - half_t) > 1e-3


def test_clip_loss_minimum_when_embeddings_coincide():
    """Orthonormal embeddings with image n = text n: the diagonal is the scale, the rest 0,
    so both halves equal -log(e^s / (e^s + N - 1)); any perturbation is worse."""
    n, s = 5, 10.0
    e = np.eye(n, 7)
    got = clip_loss(_logits(e, e, s)).item()
    assert got == pytest.approx(-np.log(np.exp(s) / (np.exp(s) + n - 1)), rel=1e-12)
    rng = np.random.default_rng(2)
    for _ in range(5):
        assert clip_loss(_logits(e, e + 0.3 * rng.standard_normal(e.shape), s)).item() > got
    with pytest.raises(ValueError, match='clip_loss'):
        clip_loss(autograd.randn(3, 4))


def _tiny_clip(dtype=autograd.float32, width=8, widths=(2, 4)):
    tok = Tokenizer()
    autograd.manual_seed(0)
    image = ResNetEncoder(in_channels=1, widths=widths, groups=2)
    text = TextTransformer(tok.vocab_size, tok.context_length, width=width, layers=1, heads=2,
                           eot_token=tok.eot)
    return CLIP(image, text, embed_dim=4, tokenizer=tok).to(dtype=dtype), tok


def test_logit_scale_init_and_clamp():
    model, _ = _tiny_clip()
    assert model.logit_scale.item() == pytest.approx(math.log(1 / 0.07), rel=1e-6)
    assert math.exp(model.logit_scale.item()) == pytest.approx(14.2857, rel=1e-4)
    # an optimiser that pushes the scale up hard: clamped at ln 100 after every step
    opt = Adam([model.logit_scale], lr=1.0)
    for _ in range(5):
        opt.zero_grad()
        (-model.logit_scale * 10).backward()
        opt.step()
        model.clamp_logit_scale()
        assert model.logit_scale.item() <= LOGIT_SCALE_MAX + 1e-6
    assert model.logit_scale.item() == pytest.approx(math.log(100), rel=1e-6)
    model.logit_scale.data[...] = -3.0
    model.clamp_logit_scale()
    assert model.logit_scale.item() == 0.0


def test_clip_forward_matches_reference(device):
    model, tok = _tiny_clip()
    model.to(device)
    rng = np.random.default_rng(3)
    x = autograd.tensor(rng.random((4, 1, 6, 6)).astype(np.float32), device=device)
    li, lt = model(x, CAPTIONS[:4])
    assert li.shape == (4, 4) and np.allclose(lt.numpy(), li.numpy().T)
    img = (model.image_encoder(x) @ model.image_projection).numpy()
    txt = (model.text_encoder(tok.encode(CAPTIONS[:4])) @ model.text_projection).numpy()
    ref = clip_loss_reference(img.astype(np.float64), txt.astype(np.float64), 1 / 0.07)
    assert model.loss(x, CAPTIONS[:4]).item() == pytest.approx(ref, rel=1e-4)


def test_clip_whole_loss_gradcheck():
    """Gradients of the whole loss with respect to the images, both projections and the
    logit scale, through both towers (float64 central differences)."""
    model, tok = _tiny_clip(autograd.float64)
    ids = tok.encode(CAPTIONS[:3])
    rng = np.random.default_rng(4)
    x = autograd.tensor(rng.random((3, 1, 6, 6)), requires_grad=True)

    def loss(images, w_img, w_txt, t):
        i = l2_normalize(model.image_encoder(images) @ w_img)
        e = l2_normalize(model.text_encoder(ids) @ w_txt)
        return clip_loss(t.exp() * (i @ e.T))
    args = [x] + [autograd.tensor(p.numpy(), requires_grad=True) for p in
                  (model.image_projection, model.text_projection, model.logit_scale)]
    autograd.gradcheck(loss, args, atol=1e-6, rtol=1e-4)


def test_clip_whole_loss_gradient_wrt_every_parameter():
    """Directional derivative along a random direction over all the parameters of both
    towers (embeddings, attention, norms, convolutions): backward against differences."""
    model, tok = _tiny_clip(autograd.float64)
    rng = np.random.default_rng(5)
    x = autograd.tensor(rng.random((4, 1, 6, 6)))
    ids = tok.encode(CAPTIONS[:4])
    params = list(model.parameters())
    model.zero_grad()
    model.loss(x, ids).backward()
    assert all(p.grad is not None for p in params)
    dirs = [rng.standard_normal(p.shape) for p in params]
    analytic = sum((p.grad.numpy() * d).sum() for p, d in zip(params, dirs))
    base = [p.data.copy() for p in params]

    def shifted(s):
        for p, b, d in zip(params, base, dirs):
            p.data[...] = b + s * d
        with autograd.no_grad():
            return model.loss(x, ids).item()
    numeric = (shifted(1e-6) - shifted(-1e-6)) / 2e-6
    assert analytic == pytest.approx(numeric, rel=1e-5, abs=1e-8)


def test_tiny_clip_learns_perfect_retrieval():
    """8 random 6x6 'images' paired with 8 distinct captions: a few dozen Adam steps
    bring image->text and text->image recall@1 to 1."""
    model, tok = _tiny_clip(width=16, widths=(8, 16))
    rng = np.random.default_rng(6)
    images = rng.random((8, 1, 6, 6)).astype(np.float32)
    x, ids = autograd.tensor(images), tok.encode(CAPTIONS)
    opt = Adam(model.parameters(), lr=5e-3)
    before = retrieval_recall(model.image_embeddings(images), model.text_embeddings(CAPTIONS))
    for _ in range(60):
        loss = model.loss(x, ids)
        opt.zero_grad()
        loss.backward()
        opt.step()
        model.clamp_logit_scale()
    after = retrieval_recall(model.image_embeddings(images), model.text_embeddings(CAPTIONS))
    assert before['i2t@1'] < 1 and after['i2t@1'] == 1.0 and after['t2i@1'] == 1.0
    assert loss.item() < 0.1


def test_retrieval_recall_bruteforce_and_keys():
    rng = np.random.default_rng(7)
    img, txt = rng.standard_normal((20, 3)), rng.standard_normal((20, 3))
    got = retrieval_recall(img, txt, ks=(1, 3, 5))
    sim = img @ txt.T
    for k in (1, 3, 5):
        i2t = np.mean([i in np.argsort(-sim[i])[:k] for i in range(20)])
        t2i = np.mean([j in np.argsort(-sim[:, j])[:k] for j in range(20)])
        assert got[f'i2t@{k}'] == pytest.approx(i2t) and got[f't2i@{k}'] == pytest.approx(t2i)
    unit = img / np.linalg.norm(img, axis=1, keepdims=True)
    assert retrieval_recall(unit, unit, ks=(1,))['i2t@1'] == 1.0
    # duplicate captions: with keys, retrieving the twin text counts as a hit
    e = np.eye(4)
    twins = np.array([e[0], e[0], e[1], e[2]])
    plain = retrieval_recall(twins, twins, ks=(1,))
    keyed = retrieval_recall(twins, twins, ks=(1,), image_keys=['a', 'a', 'b', 'c'])
    assert plain['i2t@1'] == 0.75 and keyed['i2t@1'] == 1.0


def test_zero_shot_classifier_and_predict():
    model, _ = _tiny_clip()
    w = zero_shot_classifier(model, ['red', 'blue', 'green'],
                             ('a small {} circle in the center', 'a large {} square on the left'))
    assert w.shape == (3, 4)
    np.testing.assert_allclose(np.linalg.norm(w, axis=1), 1, rtol=1e-6)
    # the template average, re-normalised
    e = model.text_embeddings(['a small blue circle in the center', 'a large blue square on the left'])
    m = e.mean(0)
    np.testing.assert_allclose(w[1], m / np.linalg.norm(m), rtol=1e-5, atol=1e-6)
    pred, p = zero_shot_predict(w[[2, 0, 1]], w)
    assert list(pred) == [2, 0, 1]
    np.testing.assert_allclose(p.sum(1), 1)


class _Fixed:
    """A stand-in model whose embeddings are given arrays."""

    def __init__(self, img, txt):
        self.img, self.txt = img, txt

    def image_embeddings(self, images, batch_size=256):
        return self.img

    def text_embeddings(self, captions, batch_size=256):
        return self.txt


def test_clip_score_formula():
    rng = np.random.default_rng(8)
    img, txt = rng.standard_normal((6, 5)), rng.standard_normal((6, 5))
    cos = (img * txt).sum(1) / (np.linalg.norm(img, axis=1) * np.linalg.norm(txt, axis=1))
    got = clip_score(np.zeros((6, 1, 2, 2)), ['x'] * 6, _Fixed(img, txt))
    assert got == pytest.approx(100 * np.maximum(cos, 0).mean(), rel=1e-12)
    assert clip_score(np.zeros((2, 1, 2, 2)), ['x'] * 2, _Fixed(img[:2], img[:2])) == \
        pytest.approx(100)
    assert clip_score(np.zeros((2, 1, 2, 2)), ['x'] * 2, _Fixed(img[:2], -img[:2])) == 0
    with pytest.raises(ValueError, match='clip_score'):
        clip_score(np.zeros((2, 1, 2, 2)), ['x'], _Fixed(img, txt))


def test_clip_score_with_a_model():
    model, _ = _tiny_clip()
    images = np.random.default_rng(9).random((4, 1, 6, 6)).astype(np.float32)
    s = clip_score(images, CAPTIONS[:4], model)
    img, txt = model.image_embeddings(images), model.text_embeddings(CAPTIONS[:4])
    assert s == pytest.approx(100 * np.maximum((img * txt).sum(1), 0).mean(), rel=1e-4)
