"""Encoders for contrastive learning (minigen/contrastive/encoders.py): shapes, the end-token
read-out, causal masking, padding invariance, and gradients by finite differences."""
import numpy as np
import pytest

import autograd
from minigen.data.tokenizer import Tokenizer
from minigen.contrastive.encoders import (ProjectionHead, ResNetEncoder, TextTransformer,
                                     l2_normalize)


def test_l2_normalize_matches_numpy_and_gradcheck():
    x = np.random.default_rng(0).standard_normal((4, 5))
    out = l2_normalize(autograd.tensor(x)).numpy()
    np.testing.assert_allclose(out, x / np.linalg.norm(x, axis=1, keepdims=True), rtol=1e-6)
    autograd.gradcheck(l2_normalize, [autograd.tensor(x, dtype=autograd.float64,
                                                      requires_grad=True)])


def test_resnet_shapes_and_bad_input(device):
    autograd.manual_seed(0)
    enc = ResNetEncoder(in_channels=1, widths=(4, 8), groups=2).to(device)
    h = enc(autograd.randn(3, 1, 12, 12, device=device))
    assert h.shape == (3, 8) and enc.feature_dim == 8
    with pytest.raises(ValueError, match='ResNetEncoder'):
        enc(autograd.randn(3, 3, 12, 12, device=device))


def test_resnet_gradcheck_wrt_images():
    autograd.manual_seed(0)
    enc = ResNetEncoder(in_channels=1, widths=(2, 4), groups=2).to(dtype=autograd.float64)
    x = autograd.tensor(np.random.default_rng(1).standard_normal((2, 1, 6, 6)),
                        requires_grad=True)
    autograd.gradcheck(enc, [x], atol=1e-6, rtol=1e-4)


def test_projection_head():
    head = ProjectionHead(6, 3, hidden=5)
    assert head(autograd.randn(2, 6)).shape == (2, 3)
    assert len(list(ProjectionHead(6, 3).parameters())) == 1   # linear, no bias


def _text(causal, **kw):
    tok = Tokenizer()
    autograd.manual_seed(0)
    return tok, TextTransformer(tok.vocab_size, tok.context_length, width=8, layers=1, heads=2,
                                causal=causal, eot_token=tok.eot, **kw)


@pytest.mark.parametrize('causal', [True, False])
def test_text_features_ignore_padding_and_later_tokens(causal):
    tok, enc = _text(causal)
    ids = tok.encode(['a red circle in the center', 'a small blue square on the left'])
    h = enc(ids).numpy()
    assert h.shape == (2, 8)
    # changing tokens after <eot> (the padding) must not change the features
    ids2 = ids.copy()
    for i, p in enumerate(tok.eot_positions(ids)):
        ids2[i, p + 1:] = 5 if causal else tok.pad
    np.testing.assert_allclose(enc(ids2).numpy(), h, rtol=1e-5, atol=1e-6)
    # the features are read at <eot>: a different text gives different features
    assert not np.allclose(enc(tok.encode(['a red circle in the center'] * 2)).numpy()[1], h[1])


def test_causal_mask_hides_the_future():
    """With causal attention the hidden state at position i does not depend on tokens
    after i; with full attention it does."""
    tok = Tokenizer()
    ids = tok.encode(['a red circle in the center', 'a red circle on the left'])
    # read the features at position 3 ('circle') instead of <eot> through eot_positions
    for causal, same in ((True, True), (False, False)):
        _, enc = _text(causal)
        enc.eot_positions = lambda ids: np.full(len(ids), 3)
        h = enc(ids).numpy()
        assert np.allclose(h[0], h[1], atol=1e-6) == same


def test_text_bad_input_and_projection():
    tok, enc = _text(True, out_dim=5)
    assert enc(tok.encode(['a red circle'])).shape == (1, 5)
    with pytest.raises(ValueError, match='TextTransformer'):
        enc(np.zeros((1, 3), np.int64))
