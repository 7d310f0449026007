"""Masked convolutions (minigen/autoregressive/masked_conv.py): the masks, the forward against
a sliding-window sum of the masked weight, gradients by central differences, and causality
by the engine: output pixel i of a stack has zero gradient at every input pixel j >= i
(type A first) or j > i (type B only), in raster order."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import autograd
from minigen.autoregressive import MaskedConv2d, raster_mask
from tests.nn.test_layers import array, conv2d_reference, gradcheck_module, randn


def test_type_a_excludes_the_centre_and_type_b_includes_it():
    np.testing.assert_array_equal(raster_mask((3, 3), 'A'), [[1, 1, 1], [1, 0, 0], [0, 0, 0]])
    np.testing.assert_array_equal(raster_mask((3, 3), 'B'), [[1, 1, 1], [1, 1, 0], [0, 0, 0]])
    np.testing.assert_array_equal(raster_mask((1, 5), 'A'), [[1, 1, 0, 0, 0]])
    with pytest.raises(ValueError, match="mask_type must be 'A' or 'B'"):
        raster_mask((3, 3), 'C')
    with pytest.raises(ValueError, match='must be odd'):
        MaskedConv2d(1, 1, 4, 'A')


@settings(max_examples=15, deadline=None)
@given(cin=st.integers(1, 2), cout=st.integers(1, 2), kh=st.sampled_from([1, 3, 5]),
       kw=st.sampled_from([1, 3]), mask_type=st.sampled_from('AB'), bias=st.booleans(),
       seed=st.integers(0, 2 ** 16))
def test_masked_conv_is_the_sliding_window_sum_of_the_masked_weight(cin, cout, kh, kw,
                                                                   mask_type, bias, seed):
    rng = np.random.default_rng(seed)
    conv = MaskedConv2d(cin, cout, (kh, kw), mask_type, bias=bias).double()
    x = randn(rng, 2, cin, 4, 5)
    w = array(conv.weight) * raster_mask((kh, kw), mask_type)
    padded = np.pad(array(x), ((0, 0), (0, 0), (kh // 2, kh // 2), (kw // 2, kw // 2)))
    want = conv2d_reference(padded, w, array(conv.bias) if bias else None, 1, 0, 1, 1)
    np.testing.assert_allclose(conv(x).numpy(), want, rtol=1e-10, atol=1e-10)
    gradcheck_module(conv, x)


def test_the_masked_weights_get_no_gradient():
    conv = MaskedConv2d(2, 3, 5, 'A').double()
    x = randn(np.random.default_rng(0), 2, 2, 6, 6)
    (conv(x) ** 2).sum().backward()
    hidden = raster_mask((5, 5), 'A') == 0
    assert np.all(conv.weight.grad.numpy()[:, :, hidden] == 0)
    assert np.all(conv.weight.grad.numpy()[:, :, ~hidden] != 0)


def dependence(net, H, W, channels=1):
    """D[i, j] = whether output pixel i (raster order) has a non-zero gradient at input
    pixel j, by the engine: one backward per output pixel."""
    x = autograd.tensor(np.random.default_rng(1).standard_normal((1, channels, H, W)))
    D = np.zeros((H * W, H * W), dtype=bool)
    for i in range(H * W):
        xi = x.detach().requires_grad_()
        out = net(xi)
        (g,) = autograd.grad(out[0, :, i // W, i % W].sum(), xi)
        D[i] = np.abs(g.numpy()).sum(axis=(0, 1)).reshape(-1) > 0
    return D


def stack(types, channels=3, k=3):
    autograd.manual_seed(0)
    layers = [MaskedConv2d(1 if n == 0 else channels, channels, k, t).double()
              for n, t in enumerate(types)]

    def net(x):
        for layer in layers:
            x = layer(x).tanh()
        return x
    return net


def test_a_stack_after_type_a_reads_only_earlier_pixels():
    D = dependence(stack('ABBB'), 5, 6)
    assert not np.any(np.triu(D))                   # j >= i: zero gradient
    assert D[1, 0] and D[7, 6] and D[6, 0] and D[29, 28]  # the pixel before and above


def test_a_stack_of_type_b_reads_earlier_pixels_and_its_own():
    D = dependence(stack('BB'), 4, 4)
    assert not np.any(np.triu(D, 1))                # j > i: zero gradient
    assert np.all(np.diag(D))


def test_stacked_masked_convolutions_leave_a_blind_spot():
    """Up and to the right of pixel i, some earlier pixels are never read however deep the
    stack (van den Oord et al. 2016, figure 1): what the gated PixelCNN's two stacks fix."""
    H = W = 5
    D = dependence(stack('ABBBBB'), H, W)
    i = 3 * W + 1                                    # row 3, column 1
    unseen = [j for j in range(i) if not D[i, j]]
    assert unseen and all(j % W > 1 for j in unseen)  # all of them right of the column
