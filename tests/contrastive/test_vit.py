"""ViT (minigen/contrastive/vit.py): shapes, the patch embedding and positions against NumPy,
the blocks are the shared TransformerBlock, the class-token attention maps are the block's
own weights, and gradients (images, class token, positions at other sizes) by central
differences."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import autograd
import minigen.nn as nn
from autograd.testing import assert_gradients_close
from minigen.contrastive.vit import ViT


def _vit(**kw):
    autograd.manual_seed(0)
    args = dict(in_channels=3, image_size=8, patch_size=2, width=8, depth=2, heads=2) | kw
    return ViT(**args)


def test_shapes_at_the_trained_size_and_smaller():
    vit = _vit(image_size=32, patch_size=4, width=16)
    x = autograd.randn(2, 3, 32, 32)
    assert vit(x).shape == (2, 16) and vit.feature_dim == 16
    assert vit.tokens(x).shape == (2, 1 + 64, 16)
    tokens = vit.forward_features(x)
    assert tokens.shape == (2, 1 + 64, 16)
    np.testing.assert_array_equal(tokens.numpy()[:, 0], vit(x).numpy())   # y = LN(z^0)
    np.testing.assert_allclose(tokens.numpy().mean(-1), 0, atol=1e-5)       # every token LN'd
    assert vit(autograd.randn(2, 3, 16, 16)).shape == (2, 16)        # a local crop: 4x4 patches
    assert vit(autograd.randn(1, 3, 8, 12)).shape == (1, 16)         # not square
    assert vit.class_attention(x).shape == (2, 2, 8, 8)


def test_bad_sizes_are_refused():
    with pytest.raises(ValueError, match='ViT: image_size=30 is not a multiple'):
        ViT(image_size=30, patch_size=4)
    with pytest.raises(ValueError, match='ViT'):
        ViT(width=0)
    vit = _vit()
    with pytest.raises(ValueError, match='multiples of the patch size 2'):
        vit(autograd.randn(1, 3, 7, 8))
    with pytest.raises(ValueError, match=r'expected images \(N, 3, H, W\)'):
        vit(autograd.randn(1, 1, 8, 8))


def test_the_blocks_are_the_shared_transformer_block():
    vit = _vit()
    assert all(type(b) is nn.TransformerBlock for b in vit.blocks) and len(vit.blocks) == 2


def test_patch_embedding_and_positions_match_numpy():
    """z_0 = [x_class + E_pos^0; x_p^i E + b + E_pos^i]: the strided convolution is a matrix
    product with the flattened patches, read row by row."""
    vit = _vit(image_size=12, patch_size=3, width=5, heads=1)
    x = np.random.default_rng(0).standard_normal((2, 3, 12, 12)).astype(np.float32)
    got = vit.tokens(autograd.tensor(x)).numpy()
    n, c, p, g = 2, 3, 3, 4
    patches = x.reshape(n, c, g, p, g, p).transpose(0, 2, 4, 1, 3, 5).reshape(n, g * g, c * p * p)
    E, b = vit.patch_embed.weight.numpy().reshape(5, -1), vit.patch_embed.bias.numpy()
    pos, cls = vit.pos_embed.numpy()[0], vit.cls_token.numpy()[0, 0]
    np.testing.assert_allclose(got[:, 1:], patches @ E.T + b + pos[1:], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(got[:, 0], np.broadcast_to(cls + pos[0], (2, 5)), rtol=1e-6)


def test_positions_of_a_half_size_image_average_each_2x2_block():
    """Bilinear resizing by exactly 1/2 (pixel centres aligned) averages each 2x2 block."""
    vit = _vit(image_size=8, patch_size=2, width=4)
    grid = vit.pos_embed.numpy()[0, 1:].reshape(4, 4, 4)
    want = grid.reshape(2, 2, 2, 2, 4).mean(axis=(1, 3)).reshape(4, 4)
    np.testing.assert_allclose(vit.patch_positions(2, 2).numpy()[0], want, rtol=1e-6)
    assert vit.patch_positions(4, 4).numpy().shape == (1, 16, 4)


def test_class_attention_is_the_last_block_s_attention():
    """The maps are softmax(q_cls k^T / sqrt d) of the last block: with the class token's
    weight on itself they sum to 1, and weights @ V through W^O give the block's own
    attention output at the class token."""
    vit = _vit(width=8, heads=2)
    x = autograd.randn(3, 3, 8, 8)
    maps = vit.class_attention(x).numpy()                               # (3, 2, 4, 4)
    z = vit.tokens(x)
    z = vit.blocks[0](z)
    block = vit.blocks[1]
    h = block.ln_1(z)
    q, k, v = (t.numpy() for t in block.attn._projections(h, h, h))
    d = 4
    qh = q[:, 0].reshape(3, 2, d)
    kh, vh = k.reshape(3, 17, 2, d), v.reshape(3, 17, 2, d)
    s = np.einsum('nhd,nlhd->nhl', qh, kh) / np.sqrt(d)
    w = np.exp(s - s.max(-1, keepdims=True))
    w /= w.sum(-1, keepdims=True)                                       # (3, heads, 17)
    np.testing.assert_allclose(maps.reshape(3, 2, 16), w[:, :, 1:], rtol=1e-4, atol=1e-6)
    heads_out = np.einsum('nhl,nlhd->nhd', w, vh).reshape(3, 8)
    W_o, b_o = block.attn.out_proj.weight.numpy(), block.attn.out_proj.bias.numpy()
    np.testing.assert_allclose(heads_out @ W_o.T + b_o, block.attn(h).numpy()[:, 0],
                               rtol=1e-4, atol=1e-5)
    assert np.all(maps > 0) and np.all(maps.sum(axis=(2, 3)) < 1)


@settings(max_examples=6)
@given(n=st.integers(1, 2), gh=st.integers(1, 3), gw=st.integers(1, 3), seed=st.integers(0, 99))
def test_gradients_reach_images_class_token_and_positions(n, gh, gw, seed):
    """float64 central differences with a random upstream gradient, at any grid size (the
    positions resized bilinearly whenever it is not 2x2)."""
    vit = _vit(in_channels=1, image_size=4, patch_size=2, width=4, depth=1,
               heads=2).to(dtype=autograd.float64)
    rng = np.random.default_rng(seed)
    x = autograd.tensor(rng.standard_normal((n, 1, 2 * gh, 2 * gw)))
    cls, pos, w = (autograd.tensor(t.numpy()) for t in (vit.cls_token, vit.pos_embed,
                                                       vit.patch_embed.weight))

    def forward(x, cls, pos, w):
        vit.cls_token, vit.pos_embed, vit.patch_embed.weight = cls, pos, w
        return vit(x)
    assert_gradients_close(forward, x, cls, pos, w, atol=1e-6, rtol=1e-4)
