"""minigen.nn.functional: it exports every layer under PyTorch's name, activations keep
their dtype and match NumPy, and inverted dropout has the right statistics (mean
kept, fraction p zeroed, survivors scaled by 1/(1-p), identity in eval, seeded), and
Gumbel-softmax draws are softmax's categorical (their hard counts), near one-hot at low
temperature, with the softmax's gradient (straight-through when hard)."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import autograd as ag
from autograd.testing import assert_forward_close, assert_gradients_close, tensors
import minigen.nn.functional as F

NAMES = ['relu', 'leaky_relu', 'silu', 'gelu', 'tanh', 'sigmoid', 'softplus', 'softmax',
         'log_softmax', 'gumbel_softmax', 'dropout', 'group_norm', 'layer_norm', 'batch_norm',
         'scaled_dot_product_attention', 'mse_loss', 'l1_loss', 'cross_entropy',
         'binary_cross_entropy_with_logits', 'kl_div', 'gaussian_kl', 'pad', 'embedding',
         'conv2d', 'conv_transpose2d', 'max_pool2d', 'avg_pool2d', 'interpolate']


def test_every_layer_is_exported_under_its_pytorch_name():
    missing = [n for n in NAMES if not callable(getattr(F, n, None))]
    assert not missing, f"minigen.nn.functional lacks {missing}"


ACTIVATIONS = {
    'relu': lambda a: np.maximum(a, 0),
    'leaky_relu': lambda a: np.where(a > 0, a, 0.01 * a),
    'silu': lambda a: a / (1 + np.exp(-a)),
    'gelu': lambda a: 0.5 * a * (1 + np.tanh(np.sqrt(2 / np.pi) * (a + 0.044715 * a ** 3))),
    'tanh': np.tanh,
    'sigmoid': lambda a: 1 / (1 + np.exp(-a)),
    'softplus': lambda a: np.log1p(np.exp(a)),
}


@pytest.mark.parametrize('name', ACTIVATIONS)
def test_activation_keeps_float32_and_matches_numpy(name, device):
    a = np.linspace(-4, 4, 17, dtype=np.float32)
    x = ag.tensor(a, device=device, requires_grad=True)
    y = getattr(F, name)(x)
    assert y.dtype == np.float32
    np.testing.assert_allclose(y.numpy(), ACTIVATIONS[name](a.astype(np.float64)), rtol=1e-5,
                               atol=1e-6)
    y.backward(ag.ones_like(y))
    assert x.grad.dtype == np.float32


def test_dropout_keeps_the_mean_and_zeroes_a_fraction_p(device):
    ag.manual_seed(0)
    p, n = 0.3, 200_000
    x = ag.ones(n, device=device)
    y = F.dropout(x, p).numpy()
    zeroed = (y == 0).mean()
    assert abs(zeroed - p) < 4 * np.sqrt(p * (1 - p) / n)  # binomial: 4 standard errors
    np.testing.assert_allclose(y[y != 0], 1 / (1 - p), rtol=1e-6)  # survivors scaled up
    assert abs(y.mean() - 1) < 4 * np.sqrt(p / (1 - p) / n)


def test_dropout_gradient_is_the_same_scaled_mask(device):
    ag.manual_seed(1)
    x = ag.randn(50, 4, dtype=ag.float64, device=device, requires_grad=True)
    y = F.dropout(x, 0.5)
    y.backward(ag.ones_like(y))
    mask = x.grad.numpy()
    assert set(np.unique(mask)) <= {0.0, 2.0}
    np.testing.assert_allclose(y.numpy(), x.numpy() * mask)


def test_dropout_is_identity_in_eval_or_at_p0_and_zero_at_p1(device):
    x = ag.randn(10, device=device)
    assert F.dropout(x, 0.5, training=False) is x
    assert F.dropout(x, 0.0) is x
    assert (F.dropout(x, 1.0).numpy() == 0).all()


def test_dropout_is_reproducible_under_manual_seed_and_keeps_float32(device):
    x = ag.ones(1000, device=device)
    ag.manual_seed(7)
    a = F.dropout(x, 0.5)
    ag.manual_seed(7)
    b = F.dropout(x, 0.5)
    np.testing.assert_array_equal(a.numpy(), b.numpy())
    assert a.dtype == np.float32


@pytest.mark.parametrize('p', [-0.1, 1.5])
def test_dropout_rejects_p_outside_0_1(p, device):
    with pytest.raises(ValueError, match=f"dropout: p must be in \\[0, 1\\], got {p}"):
        F.dropout(ag.ones(3, device=device), p)


# --- positional arguments in PyTorch's order ----------------------------------------
def test_interpolate_second_positional_is_size_as_in_pytorch(device):
    """torch.nn.functional.interpolate(input, size=None, scale_factor=None, mode, ...):
    F.interpolate(x, (4, 4)) resized to 4x4; it had scaled by 4 to 8x8."""
    x = ag.arange(4.0, device=device).reshape(1, 1, 2, 2)
    assert F.interpolate(x, (4, 4)).shape == (1, 1, 4, 4)
    assert F.interpolate(x, 3).shape == (1, 1, 3, 3)
    assert F.interpolate(x, None, 2).shape == (1, 1, 4, 4)
    y = F.interpolate(x, None, 2, 'bilinear', True)   # align_corners: the corners stay
    np.testing.assert_allclose(y.numpy()[0, 0, [0, 0, -1, -1], [0, -1, 0, -1]], [0, 1, 2, 3])


def test_pad_third_positional_is_mode_as_in_pytorch(device):
    """torch.nn.functional.pad(input, pad, mode='constant', value=None): F.pad(x, p,
    'reflect') had taken 'reflect' as the fill value."""
    x = ag.ones(2, 2, device=device)
    np.testing.assert_array_equal(F.pad(x, (1, 0), 'constant', 5.0).numpy(), [[5, 1, 1]] * 2)
    np.testing.assert_array_equal(F.pad(x, (0, 1)).numpy(), [[1, 1, 0]] * 2)
    for mode in ('reflect', 'replicate', 'circular'):
        with pytest.raises(NotImplementedError, match=rf"pad: mode {mode!r} is not "
                                                      rf"implemented.*'constant'"):
            F.pad(x, (1, 1), mode)
    with pytest.raises(ValueError, match=r"pad: mode must be one of"):
        F.pad(x, (1, 1), 2.0)


# --- gumbel_softmax -------------------------------------------------------------------

def _gumbel_reference(x, tau, dim, seed):
    """softmax((x + g) / tau) with g = -log(-log u), u drawn as the engine's seeded CPU
    generator draws it."""
    u = np.random.default_rng(seed).random(x.shape, dtype=x.dtype)
    z = (x - np.log(-np.log(np.clip(u, np.finfo(x.dtype).tiny, 1))
                    + np.finfo(x.dtype).tiny)) / tau
    e = np.exp(z - z.max(dim, keepdims=True))
    return e / e.sum(dim, keepdims=True)


@settings(max_examples=25, deadline=None)
@given(data=st.data())
def test_gumbel_softmax_matches_numpy_and_its_gradient_central_differences(data):
    """Forward against NumPy with the same noise; gradient (reseeding the noise at every
    evaluation, so that the function is deterministic) against central differences, with a
    random upstream gradient, soft and hard (straight-through: the soft one's gradient)."""
    shape = data.draw(st.lists(st.integers(1, 4), min_size=1, max_size=3), label='shape')
    dim = data.draw(st.integers(-len(shape), len(shape) - 1), label='dim')
    tau = data.draw(st.sampled_from([0.5, 1.0, 2.0]), label='tau')
    x = data.draw(tensors(tuple(shape)), label='logits')

    def fn(hard):
        def draw(logits):
            ag.manual_seed(3)
            return F.gumbel_softmax(logits, tau, hard, dim=dim)
        return draw
    assert_forward_close(fn(False), lambda a: _gumbel_reference(a, tau, dim, 3), x)
    assert_gradients_close(fn(False), x)
    soft = fn(False)(x).numpy()
    hard = fn(True)(x)
    one_hot = (soft == soft.max(dim, keepdims=True))
    np.testing.assert_allclose(hard.numpy(), one_hot, atol=1e-12)
    g = np.random.default_rng(0).standard_normal(x.shape)       # same backward as the soft y
    x.grad = None
    x = x.detach().requires_grad_(True)
    hard = fn(True)(x)
    hard.backward(ag.tensor(g))
    straight = x.grad.numpy().copy()
    x.grad = None
    fn(False)(x).backward(ag.tensor(g))
    np.testing.assert_allclose(straight, x.grad.numpy(), rtol=1e-12, atol=1e-12)


def test_gumbel_softmax_approaches_one_hot_as_tau_falls():
    """The mean largest entry of a draw rises towards 1 as the temperature falls."""
    ag.manual_seed(0)
    logits = ag.tensor(np.log(np.array([[0.1, 0.2, 0.3, 0.4]] * 4000)))
    peak = [F.gumbel_softmax(logits, tau).numpy().max(1).mean()
            for tau in (5.0, 1.0, 0.3, 0.1, 0.01)]
    assert all(a < b for a, b in zip(peak, peak[1:])), peak
    assert peak[0] < 0.4 and peak[-1] > 0.99, peak


def test_gumbel_softmax_hard_draws_are_one_hot_with_frequencies_softmax():
    """Gumbel-max: argmax(logits + g) is distributed as softmax(logits), so the mean of
    many hard draws is the softmax (within 4 binomial standard errors)."""
    ag.manual_seed(1)
    p = np.array([0.05, 0.15, 0.3, 0.5])
    n = 40000
    y = F.gumbel_softmax(ag.tensor(np.log(np.tile(p, (n, 1))) + 2.0), 1.0, True).numpy()
    np.testing.assert_allclose(y.sum(1), 1, atol=1e-12)
    assert set(np.unique(np.round(y, 12))) == {0.0, 1.0}
    assert np.all(np.abs(y.mean(0) - p) < 4 * np.sqrt(p * (1 - p) / n)), y.mean(0)


def test_gumbel_softmax_refuses_a_non_positive_tau():
    with pytest.raises(ValueError, match='gumbel_softmax: tau must be positive, got 0'):
        F.gumbel_softmax(ag.ones(2, 3), 0)
