"""The gated PixelCNN (minigen/autoregressive/pixelcnn.py): a gated layer against its NumPy
formula, gradients by central differences, causality and no blind spot by the engine
(output pixel i reads every input pixel j < i and none j >= i), the likelihoods against
NumPy, the sampling window, completions and a tiny run that learns."""
import math

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import autograd
from minigen.autoregressive import GatedLayer, GatedPixelCNN, binarize, bits_per_dim
from minigen.autoregressive.masked_conv import raster_mask
from minigen.optim import Adam
from tests.autoregressive.test_masked_conv import dependence
from tests.nn.test_layers import array, conv2d_reference, gradcheck_module, randn


def randomized(module, seed=0, spread=0.3):
    """float64, every parameter moved by N(0, spread^2): zero class embeddings no longer
    hide a mistake."""
    module = module.double()
    rng = np.random.default_rng(seed)
    for p in module.parameters():
        p.data[...] = p.data + spread * rng.standard_normal(p.shape)
    return module


def conv(x, conv_layer, weight=None):
    w = array(conv_layer.weight) if weight is None else weight
    return conv2d_reference(x, w, array(conv_layer.bias), 1, 0, 1, 1)


def gate(a):
    f, g = np.split(a, 2, axis=1)
    return np.tanh(f) / (1 + np.exp(-g))


def gated_layer_reference(layer, v, h, y):
    """v_pre = W_v * v + V_v y, h_pre = W_h * h + W_link shift(v_pre) + V_h y, v' =
    gate(v_pre), h' = gate(h_pre) (first layer) or h + W_res gate(h_pre)."""
    k = layer.k
    v_pre = conv(np.pad(v, ((0, 0), (0, 0), (k // 2, 0), (k // 2, k // 2))), layer.v_conv)
    w_h = array(layer.h_conv.weight) * raster_mask((1, k), 'A' if layer.first else 'B')
    h_pre = conv(np.pad(h, ((0, 0), (0, 0), (0, 0), (k // 2, k // 2))), layer.h_conv, w_h)
    shifted = np.pad(v_pre, ((0, 0), (0, 0), (1, 0), (0, 0)))[:, :, :-1]
    h_pre = h_pre + conv(shifted, layer.link)
    if layer.cond is not None:
        cv, ch = np.split(array(layer.cond.weight)[y], 2, axis=1)
        v_pre, h_pre = v_pre + cv[:, :, None, None], h_pre + ch[:, :, None, None]
    h_out = gate(h_pre) if layer.first else h + conv(gate(h_pre), layer.res)
    return gate(v_pre), h_out


@settings(max_examples=10, deadline=None)
@given(first=st.booleans(), k=st.sampled_from([3, 5]), p=st.integers(1, 2),
       classes=st.sampled_from([None, 3]), seed=st.integers(0, 2 ** 16))
def test_gated_layer_matches_the_gated_formula_and_its_gradients(first, k, p, classes, seed):
    rng = np.random.default_rng(seed)
    cin = 1 if first else p
    layer = randomized(GatedLayer(cin, p, k, first=first, n_classes=classes), seed)
    v, h = randn(rng, 2, cin, 4, 5), randn(rng, 2, cin, 4, 5)
    y = None if classes is None else np.array([0, 2])
    want_v, want_h = gated_layer_reference(layer, array(v), array(h), y)
    got_v, got_h = layer(v, h, y)
    np.testing.assert_allclose(got_v.numpy(), want_v, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(got_h.numpy(), want_h, rtol=1e-10, atol=1e-10)
    gradcheck_module(layer, v, h, y)


@pytest.mark.parametrize('output', ['bernoulli', 'softmax'])
def test_the_model_gradients_match_central_differences(output):
    autograd.manual_seed(0)
    model = randomized(GatedPixelCNN(channels=2, layers=2, first_kernel=3, n_classes=2,
                                     output=output, head_channels=2))
    x = autograd.tensor((np.random.default_rng(0).random((2, 1, 3, 4)) < 0.5) * 1.0)
    gradcheck_module(model, x, np.array([0, 1]))


def test_every_output_pixel_reads_every_earlier_pixel_and_no_later_one():
    """The two stacks leave no blind spot: D[i, j] is non-zero exactly for j < i."""
    autograd.manual_seed(0)
    model = randomized(GatedPixelCNN(channels=2, layers=6, first_kernel=3))
    H, W = 5, 5
    D = dependence(model, H, W)
    np.testing.assert_array_equal(D, np.tril(np.ones((H * W, H * W), dtype=bool), -1))


def test_the_logits_of_a_pixel_need_only_its_window():
    """What sampling relies on: the net on the window of pixel (i, j) (rows i - reach .. i,
    columns within side_reach) gives the logits of the whole image at (i, j), and a window
    one pixel smaller does not."""
    autograd.manual_seed(0)
    model = randomized(GatedPixelCNN(channels=3, layers=3, first_kernel=5, n_classes=2,
                                     output='softmax'))
    H, W = 12, 14
    x = autograd.tensor(np.random.default_rng(0).integers(0, 256, (2, 1, H, W)) / 255)
    y = np.array([1, 0])
    full = model(x, y).numpy()
    assert (model.reach, model.side_reach) == (1 + 2 + 2, 2 + 2)
    for i, j in ((5, 6), (8, 0), (11, 13), (11, 7), (2, 3)):
        rows, cols = model.window(i, j, H, W)
        got = model(x[:, :, rows, cols], y).numpy()[:, :, i - rows.start, j - cols.start]
        np.testing.assert_allclose(got, full[:, :, i, j], rtol=1e-10, atol=1e-10)
    rows, cols = model.window(11, 7, H, W)
    smaller = model(x[:, :, rows.start + 1:rows.stop, cols], y).numpy()[:, :, -1, 7 - cols.start]
    assert not np.allclose(smaller, full[:, :, 11, 7])


def test_nll_is_the_bernoulli_or_categorical_log_likelihood_in_nats():
    autograd.manual_seed(0)
    rng = np.random.default_rng(0)
    bern = randomized(GatedPixelCNN(channels=2, layers=2, first_kernel=3))
    x = (rng.random((3, 1, 4, 4)) < 0.5) * 1.0
    a = bern(autograd.tensor(x)).numpy()
    log_p = x * -np.log1p(np.exp(-a)) + (1 - x) * -np.log1p(np.exp(a))
    np.testing.assert_allclose(bern.nll(autograd.tensor(x)).numpy(),
                               -log_p.sum(axis=(1, 2, 3)), rtol=1e-10)
    soft = randomized(GatedPixelCNN(channels=2, layers=2, first_kernel=3, output='softmax'))
    levels = rng.integers(0, 256, (3, 1, 4, 4))
    a = soft(autograd.tensor(levels / 255)).numpy()
    log_softmax = a - np.log(np.exp(a).sum(axis=1, keepdims=True))
    picked = np.take_along_axis(log_softmax, levels, axis=1)
    np.testing.assert_allclose(soft.nll(autograd.tensor(levels / 255)).numpy(),
                               -picked.sum(axis=(1, 2, 3)), rtol=1e-10)
    assert bits_per_dim(81.3, 784) == pytest.approx(81.3 / (784 * math.log(2)))
    assert bits_per_dim(81.3, 784) == pytest.approx(0.150, abs=5e-4)  # the published pair


def test_sampling_follows_the_logits_and_completion_keeps_the_rows_above():
    autograd.manual_seed(0)
    model = GatedPixelCNN(channels=2, layers=2, first_kernel=3).double()
    for p in model.head_2.parameters():
        p.data[...] = 0
    model.head_2.bias.data[...] = 30.0                  # p(x_i = 1) = sigmoid(30)
    assert np.all(model.sample(3, size=(4, 5)) == 1)
    model.head_2.bias.data[...] = -30.0
    image = np.full((2, 1, 6, 5), 0.5)
    done = model.sample(image=image, start_row=3)
    np.testing.assert_array_equal(done[:, :, :3], 0.5)
    assert np.all(done[:, :, 3:] == 0)
    grey = GatedPixelCNN(channels=2, layers=2, first_kernel=3, output='softmax')
    levels = grey.sample(4, size=(3, 3)) * 255
    assert np.allclose(levels, np.rint(levels)) and levels.min() >= 0 and levels.max() <= 255


def test_dynamic_binarization_draws_each_pixel_with_its_grey_level():
    x = np.full((200, 1, 10, 10), 0.3)
    autograd.manual_seed(0)
    b = binarize(x)
    assert set(np.unique(b)) <= {0.0, 1.0} and abs(b.mean() - 0.3) < 0.01


def test_a_tiny_class_conditional_model_learns_its_data():
    """Two classes of 6x6 binary images, each one fixed picture: the NLL falls far."""
    autograd.manual_seed(0)
    rng = np.random.default_rng(0)
    pictures = (rng.random((2, 1, 6, 6)) < 0.5) * 1.0
    y = np.array([0, 1] * 4)
    x = autograd.tensor(pictures[y].astype(np.float32))
    model = GatedPixelCNN(channels=8, layers=3, first_kernel=3, n_classes=2)
    opt = Adam(model.parameters(), lr=1e-2)
    first = model.nll(x, y).mean().item()
    for _ in range(60):
        loss = model.nll(x, y).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < first / 4
