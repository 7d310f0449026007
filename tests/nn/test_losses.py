"""Losses: each against a direct float64 NumPy formula for every reduction, gradients
against central differences, the stability cases (BCE at |x| = 100, KL at t = 0),
gaussian_kl against a Monte-Carlo estimate, and every bad-input path."""
import numpy as np
import pytest
from hypothesis import given, strategies as st
from hypothesis.extra import numpy as hnp

import autograd as ag
import minigen.nn.functional as F
from autograd.testing import shapes, tensors, assert_forward_close, assert_gradients_close

REDUCE = {'mean': np.mean, 'sum': np.sum, 'none': lambda a: a}


def np_log_softmax(a, axis):
    m = a.max(axis, keepdims=True)
    return a - m - np.log(np.exp(a - m).sum(axis, keepdims=True))


# --- regression losses: (name, loss, pointwise NumPy formula) --------------------------
POINTWISE = [('mse_loss', F.mse_loss, lambda x, y: (x - y) ** 2),
             ('l1_loss', F.l1_loss, lambda x, y: np.abs(x - y)),
             ('binary_cross_entropy_with_logits', F.binary_cross_entropy_with_logits,
              lambda x, y: np.logaddexp(0, x) - x * y)]  # -y log s - (1-y) log(1-s), s = sigmoid(x)


@pytest.mark.parametrize('name,loss,ref', POINTWISE, ids=[p[0] for p in POINTWISE])
@pytest.mark.parametrize('reduction', REDUCE)
@given(data=st.data())
def test_pointwise_loss_matches_numpy_and_central_differences(name, loss, ref, reduction, device,
                                                              data):
    shape = data.draw(shapes(min_dims=1))
    x = data.draw(tensors(shape, low=-4, high=4, noncontiguous=True, device=device))
    # targets: probabilities for BCE; for l1, at least 0.05 from x (|x - y| has a kink at 0)
    offset = data.draw(tensors(shape, low=-2, high=2, avoid=(0,), device=device))
    if name.startswith('binary'):
        probabilities = hnp.arrays(np.float64, shape, elements=st.floats(0, 1))
        y = ag.tensor(data.draw(probabilities), device=device)
    else:
        y = ag.tensor(x.numpy() + offset.numpy(), device=device)

    def fn(x, y):
        return loss(x, y, reduction=reduction)

    assert_forward_close(fn, lambda a, b: REDUCE[reduction](ref(a, b)), x, y)
    assert_gradients_close(fn, x, y)
    if name.startswith('binary'):  # BCEWithLogits' backward is hand-written: check its own
        assert ag.gradgradcheck(fn, [x.double().requires_grad_(), y.double().requires_grad_()])


def test_bce_with_logits_is_exact_and_finite_at_plus_minus_100(device):
    x = ag.tensor([100.0, 100.0, -100.0, -100.0, 0.0], dtype=ag.float64, device=device,
                  requires_grad=True)
    y = ag.tensor([1.0, 0.0, 0.0, 1.0, 0.25], dtype=ag.float64, device=device)
    loss = F.binary_cross_entropy_with_logits(x, y, reduction='none')
    tiny = np.log1p(np.exp(-100.0))  # 3.7e-44: right, not rounded to 0
    np.testing.assert_allclose(loss.numpy(), [tiny, 100, tiny, 100, np.log(2)], rtol=1e-12)
    loss.backward(ag.ones_like(loss))
    # d/dx = sigmoid(x) - y, including x = 0 exactly (0.5 - 0.25)
    np.testing.assert_allclose(x.grad.numpy(), [0, 1, 0, -1, 0.25], atol=1e-15)
    f32 = F.binary_cross_entropy_with_logits(ag.tensor([100.0, -100.0], device=device),
                                             ag.tensor([0.0, 1.0], device=device))
    assert f32.dtype == np.float32 and float(f32.item()) == 100.0


# --- cross entropy --------------------------------------------------------------
def np_cross_entropy(x, t, eps):
    """-sum_c q_c log softmax(x)_c with q = (1 - eps) onehot(t) + eps / C, class axis 1."""
    C = x.shape[1]
    logp = np_log_softmax(x, 1)
    onehot = np.moveaxis(np.eye(C)[t], -1, 1)
    return -(((1 - eps) * onehot + eps / C) * logp).sum(1)


@pytest.mark.parametrize('reduction', REDUCE)
@given(data=st.data())
def test_cross_entropy_matches_numpy_with_label_smoothing(reduction, device, data):
    N, C = data.draw(st.integers(1, 4)), data.draw(st.integers(1, 5))
    extra = tuple(data.draw(st.lists(st.integers(1, 3), max_size=2)))
    x = data.draw(tensors((N, C) + extra, low=-5, high=5, noncontiguous=True, device=device))
    t = data.draw(hnp.arrays(np.int64, (N,) + extra, elements=st.integers(0, C - 1)))
    eps = data.draw(st.sampled_from([0.0, 0.1, 1.0]) | st.floats(0, 1))

    def fn(x):
        return F.cross_entropy(x, ag.tensor(t, device=device), label_smoothing=eps,
                               reduction=reduction)

    assert_forward_close(fn, lambda a: REDUCE[reduction](np_cross_entropy(a, t, eps)), x)
    assert_gradients_close(fn, x)


def np_weighted_cross_entropy(x, t, w, eps, reduction):
    """torch's weighted cross entropy: loss_n = -sum_c w_c q_nc log softmax(x_n)_c, and the
    mean divides by sum_n w_{t_n}, not by N."""
    C = x.shape[1]
    onehot = np.moveaxis(np.eye(C)[t], -1, 1)
    q = ((1 - eps) * onehot + eps / C) * w.reshape((1, C) + (1,) * (x.ndim - 2))
    loss = -(q * np_log_softmax(x, 1)).sum(1)
    return loss.sum() / w[t].sum() if reduction == 'mean' else REDUCE[reduction](loss)


@pytest.mark.parametrize('reduction', REDUCE)
@given(data=st.data())
def test_cross_entropy_third_positional_is_the_class_weight(reduction, device, data):
    """torch.nn.functional.cross_entropy(input, target, weight=None, ...): F.cross_entropy(x,
    y, w) had taken w as the label smoothing."""
    N, C = data.draw(st.integers(1, 4)), data.draw(st.integers(1, 5))
    extra = tuple(data.draw(st.lists(st.integers(1, 3), max_size=1)))
    x = data.draw(tensors((N, C) + extra, low=-5, high=5, device=device))
    t = data.draw(hnp.arrays(np.int64, (N,) + extra, elements=st.integers(0, C - 1)))
    w = data.draw(hnp.arrays(np.float64, C, elements=st.floats(0.1, 3)))
    eps = data.draw(st.sampled_from([0.0, 0.2]))

    def fn(x):
        return F.cross_entropy(x, ag.tensor(t, device=device), ag.tensor(w, device=device),
                               reduction=reduction, label_smoothing=eps)

    assert_forward_close(fn, lambda a: np_weighted_cross_entropy(a, t, w, eps, reduction), x)
    assert_gradients_close(fn, x)


def test_cross_entropy_weight_is_checked_and_the_rest_is_keyword_only(device):
    x = ag.zeros(2, 3, device=device)
    with pytest.raises(ValueError, match=r"cross_entropy: weight must hold one number per "
                                         r"class, shape \(3,\), got \(2,\)"):
        F.cross_entropy(x, [0, 1], [1.0, 2.0])
    with pytest.raises(TypeError):
        F.cross_entropy(x, [0, 1], None, 'sum')     # torch's 4th positional is size_average
    assert F.cross_entropy(x, [0, 1], np.ones(3)).item() == pytest.approx(np.log(3))


def test_cross_entropy_gradient_is_softmax_minus_smoothed_onehot(device):
    x = ag.tensor([[2.0, 0.0, -1.0], [0.5, 0.5, 3.0]], dtype=ag.float64, device=device,
                  requires_grad=True)
    F.cross_entropy(x, [0, 2], label_smoothing=0.3, reduction='sum').backward()
    q = 0.7 * np.eye(3)[[0, 2]] + 0.1
    np.testing.assert_allclose(x.grad.numpy(), np.exp(np_log_softmax(x.numpy(), 1)) - q,
                               rtol=1e-12)


def test_cross_entropy_is_stable_for_huge_logits(device):
    x = ag.tensor([[1e4, -1e4, 0.0]], device=device)
    loss = F.cross_entropy(x, [1])
    assert loss.dtype == np.float32
    np.testing.assert_allclose(loss.numpy(), 2e4)


def test_cross_entropy_bad_targets_raise(device):
    x = ag.zeros(2, 3, device=device)
    with pytest.raises(IndexError, match=r"cross_entropy: target holds classes in \[0, 3\] but "
                                         r"logits have 3 classes"):
        F.cross_entropy(x, [0, 3])
    with pytest.raises(IndexError, match="cross_entropy: target holds classes in \\[-1, 0\\]"):
        F.cross_entropy(x, [-1, 0])
    with pytest.raises(TypeError, match="cross_entropy: target must hold integer class indices"):
        F.cross_entropy(x, [0.0, 1.0])
    with pytest.raises(ValueError, match=r"cross_entropy: logits \(N, C, \.\.\.\) \(2, 3\) need "
                                         r"target \(N, \.\.\.\) of class indices, got shape"):
        F.cross_entropy(x, [0, 1, 2])
    with pytest.raises(ValueError, match="cross_entropy: label_smoothing must be in"):
        F.cross_entropy(x, [0, 1], label_smoothing=1.5)
    with pytest.raises(ValueError, match="cross_entropy: reduction must be one of .*'batchmean'"):
        F.cross_entropy(x, [0, 1], reduction='batchmean')


@pytest.mark.parametrize('loss', [F.mse_loss, F.l1_loss, F.binary_cross_entropy_with_logits,
                                  F.kl_div])
def test_bad_reduction_and_mismatched_shapes_raise_naming_the_loss(loss, device):
    x = ag.zeros(2, 3, device=device)
    with pytest.raises(ValueError, match=f"{loss.__name__}: reduction must be one of .*'avg'"):
        loss(x, x, reduction='avg')
    with pytest.raises(ValueError, match=rf"{loss.__name__}: input \(2, 3\) and target \(3,\) "
                                         rf"must have the same shape"):
        loss(x, ag.zeros(3, device=device))


# --- KL divergences ---------------------------------------------------------------
def np_kl_div(x, t, log_target):
    if log_target:
        return np.exp(t) * (t - x)
    return np.where(t > 0, t * (np.log(np.where(t > 0, t, 1)) - x), 0.0)


@pytest.mark.parametrize('reduction', ['mean', 'batchmean', 'sum', 'none'])
@pytest.mark.parametrize('log_target', [False, True])
@given(data=st.data())
def test_kl_div_matches_numpy(reduction, log_target, device, data):
    shape = data.draw(shapes(min_dims=1))
    x = data.draw(tensors(shape, low=-4, high=0, device=device))
    t = data.draw(tensors(shape, low=-3, high=0, device=device) if log_target
                  else tensors(shape, low=0.05, high=1, device=device))
    reduce = {'batchmean': lambda a: a.sum() / shape[0], **REDUCE}[reduction]

    def fn(x, t):
        return F.kl_div(x, t, reduction=reduction, log_target=log_target)

    assert_forward_close(fn, lambda a, b: reduce(np_kl_div(a, b, log_target)), x, t)
    assert_gradients_close(fn, x, t)


def test_kl_div_treats_zero_target_as_zero_with_finite_gradients(device):
    x = ag.tensor([-1.0, -2.0, -0.5], dtype=ag.float64, device=device, requires_grad=True)
    t = ag.tensor([0.0, 0.5, 0.5], dtype=ag.float64, device=device, requires_grad=True)
    loss = F.kl_div(x, t, reduction='sum')
    np.testing.assert_allclose(loss.numpy(), 0.5 * (np.log(0.5) + 2) + 0.5 * (np.log(0.5) + 0.5))
    loss.backward()
    np.testing.assert_allclose(x.grad.numpy(), [0, -0.5, -0.5])
    assert np.isfinite(t.grad.numpy()).all()


def np_gaussian_kl(mu, logvar):
    return -0.5 * (1 + logvar - mu ** 2 - np.exp(logvar)).sum()


@given(data=st.data())
def test_gaussian_kl_matches_closed_form_and_central_differences(device, data):
    shape = data.draw(shapes(min_dims=1))
    mu = data.draw(tensors(shape, device=device))
    logvar = data.draw(tensors(shape, device=device))
    assert_forward_close(F.gaussian_kl, np_gaussian_kl, mu, logvar)
    assert_gradients_close(F.gaussian_kl, mu, logvar)


def test_gaussian_kl_agrees_with_monte_carlo_estimate():
    """KL(q || p) = E_q[log q(z) - log p(z)], estimated from 200,000 samples of q."""
    rng = np.random.default_rng(0)
    mu, logvar = np.array([0.5, -1.0, 0.0]), np.array([-0.5, 0.3, 0.0])
    sigma = np.exp(0.5 * logvar)
    z = mu + sigma * rng.standard_normal((200_000, 3))
    log_q = -0.5 * (((z - mu) / sigma) ** 2 + logvar + np.log(2 * np.pi))
    log_p = -0.5 * (z ** 2 + np.log(2 * np.pi))
    estimate = (log_q - log_p).sum(1)
    kl = F.gaussian_kl(ag.tensor(mu, dtype=ag.float64), ag.tensor(logvar, dtype=ag.float64))
    assert abs(float(kl.item()) - estimate.mean()) < 4 * estimate.std() / np.sqrt(len(estimate))
    assert abs(float(kl.item()) - 0.70319) < 1e-5  # closed form, worked by hand


def test_gaussian_kl_is_zero_at_the_prior_and_rejects_mismatched_shapes(device):
    zeros = ag.zeros(4, 2, device=device)
    assert float(F.gaussian_kl(zeros, zeros).item()) == 0
    with pytest.raises(ValueError, match=r"gaussian_kl: mu \(4, 2\) and logvar \(4,\) must have"):
        F.gaussian_kl(ag.zeros(4, 2, device=device), ag.zeros(4, device=device))


@pytest.mark.parametrize('reduction', ['mean', 'sum'])
@given(data=st.data())
def test_mse_loss_fast_path_equals_its_lines(reduction, device, data):
    """mse_loss's 'mean' and 'sum' run as one op (losses.MSE); its value and both
    gradients equal those of the lines `d = x - y; (d * d).mean()` (or .sum())."""
    shape = data.draw(shapes(min_dims=1))
    x = data.draw(tensors(shape, noncontiguous=True, device=device)).requires_grad_()
    y = data.draw(tensors(shape, noncontiguous=True, device=device)).requires_grad_()
    g = ag.tensor(data.draw(st.floats(-2, 2)), dtype=np.float64, device=device)
    fused = F.mse_loss(x, y, reduction=reduction)
    d = x - y
    lines = (d * d).mean() if reduction == 'mean' else (d * d).sum()
    np.testing.assert_allclose(fused.numpy(), lines.numpy(), rtol=1e-12)
    for a, b in zip(ag.grad(fused, (x, y), g), ag.grad(lines, (x, y), g)):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize('reduction', ['mean', 'sum'])
@given(data=st.data())
def test_cross_entropy_fast_path_equals_its_lines(reduction, device, data):
    """cross_entropy's plain case (logits (N, C), no weight, no smoothing) runs as one op
    (losses.CrossEntropy); value and gradient equal those of the lines
    -(onehot * log_softmax(x)).sum(1).mean(), and its second derivative matches central
    differences (create_graph runs the softmax as recorded ops)."""
    N, C = data.draw(st.integers(1, 5)), data.draw(st.integers(1, 6))
    x = data.draw(tensors((N, C), low=-5, high=5, noncontiguous=True, device=device))
    t = data.draw(hnp.arrays(np.int64, (N,), elements=st.integers(0, C - 1)))
    g = ag.tensor(data.draw(st.floats(-2, 2)), dtype=np.float64, device=device)
    x = x.detach().requires_grad_()
    fused = F.cross_entropy(x, ag.tensor(t, device=device), reduction=reduction)
    onehot = ag.tensor(np.eye(C)[t], device=device)
    per_row = -(onehot * F.log_softmax(x, 1)).sum(1)
    lines = per_row.mean() if reduction == 'mean' else per_row.sum()
    np.testing.assert_allclose(fused.numpy(), lines.numpy(), rtol=1e-12)
    a, = ag.grad(fused, (x,), g)
    b, = ag.grad(lines, (x,), g)
    np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-10, atol=1e-14)
    assert_gradients_close(lambda x: F.cross_entropy(x, ag.tensor(t, device=device),
                                                     reduction=reduction), x, gradgrad=True)
