"""max_pool2d, avg_pool2d and interpolate: forward against plain NumPy (loops for pooling,
PyTorch's coordinate formulas for resizing), gradients and the differentiability of the
backward against central differences, tie handling, and the errors.

Every test that takes `device` gets the conftest fixture (cpu, and cuda where present)."""
import itertools

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import autograd as ag
from autograd.ops.pool import max_pool2d, avg_pool2d, interpolate


# --- references -------------------------------------------------------------------------
def pool_naive(x, reduce, pad_value, kernel, stride, padding):
    """y[n, c, h, w] = reduce(x_pad[n, c, h s : h s + k, w s : w s + k]), one window at a time."""
    (N, C, H, W), (kh, kw), (sh, sw), (ph, pw) = x.shape, kernel, stride, padding
    x_pad = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)), constant_values=pad_value)
    Ho, Wo = (H + 2 * ph - kh) // sh + 1, (W + 2 * pw - kw) // sw + 1
    y = np.zeros((N, C, Ho, Wo))
    for h, w in itertools.product(range(Ho), range(Wo)):
        y[:, :, h, w] = reduce(x_pad[:, :, h * sh:h * sh + kh, w * sw:w * sw + kw], axis=(2, 3))
    return y


def source_coordinates(n_in, n_out, scale_factor, mode, align_corners):
    """PyTorch's source coordinate of every output index along one axis."""
    real = np.float32 if mode == 'nearest' else np.float64
    dst = np.arange(n_out, dtype=real)
    if mode == 'bilinear' and align_corners:
        return dst * ((n_in - 1) / (n_out - 1) if n_out > 1 else 0.0)
    scale = real(1 / scale_factor) if scale_factor else real(n_in) / real(n_out)
    if mode == 'nearest':
        return np.minimum(np.floor(dst * scale), n_in - 1)
    return np.maximum((dst + 0.5) * scale - 0.5, 0)


def interpolate_reference(x, out, factors, mode, align_corners):
    """Nearest: x at the source pixel; bilinear: the 4 neighbours weighted by distance."""
    sy, sx = (source_coordinates(n, m, f, mode, align_corners)
              for n, m, f in zip(x.shape[2:], out, factors))
    y0, x0 = sy.astype(int), sx.astype(int)
    if mode == 'nearest':
        return x[:, :, y0[:, None], x0[None, :]]
    y1, x1 = np.minimum(y0 + 1, x.shape[2] - 1), np.minimum(x0 + 1, x.shape[3] - 1)
    ly, lx = (sy - y0)[:, None], (sx - x0)[None, :]
    return ((1 - ly) * (1 - lx) * x[:, :, y0[:, None], x0] + (1 - ly) * lx * x[:, :, y0[:, None], x1]
            + ly * (1 - lx) * x[:, :, y1[:, None], x0] + ly * lx * x[:, :, y1[:, None], x1])


# --- strategies -------------------------------------------------------------------------
pairs = lambda lo, hi: st.tuples(st.integers(lo, hi), st.integers(lo, hi))  # noqa: E731


@st.composite
def seeded(draw, shape, device, unique=False):
    """A float64 (N, C, H, W) Tensor with random values from a drawn seed (hypothesis
    draws the geometry, NumPy the values, so no example is all zeros). `unique`: a
    shuffled grid of step 0.05, so no two values tie within a finite-difference step.
    Half the time the values are stored channel-major, as conv2d's outputs are."""
    rng = np.random.default_rng(draw(st.integers(0, 2 ** 32 - 1)))
    size = int(np.prod(shape))
    values = (rng.permutation(size) * 0.05 - 1 if unique else rng.standard_normal(size)).reshape(shape)
    if draw(st.booleans()):
        values = np.ascontiguousarray(values.transpose(1, 0, 2, 3)).transpose(1, 0, 2, 3)
    return ag.as_tensor(ag.backend.xp_for(device).asarray(values))


@st.composite
def pool_geometry(draw):
    kernel = draw(pairs(1, 3))
    stride = draw(st.none() | pairs(1, 3))
    padding = tuple(draw(st.integers(0, k // 2)) for k in kernel)
    size = tuple(max(1, k - 2 * p) + draw(st.integers(0, 3)) for k, p in zip(kernel, padding))
    return dict(shape=(draw(st.integers(1, 2)), draw(st.integers(1, 2))) + size,
                kernel=kernel, stride=stride, padding=padding)


def pool_args(geo):
    return geo['kernel'], geo['stride'], geo['padding']


# --- max_pool2d ---------------------------------------------------------------------------
@given(data=st.data())
def test_max_pool2d_matches_naive_loop(device, data):
    geo = data.draw(pool_geometry(), label='geometry')
    x = data.draw(seeded(geo['shape'], device), label='x')
    y = max_pool2d(x, *pool_args(geo))
    stride = geo['stride'] or geo['kernel']
    np.testing.assert_array_equal(y.numpy(), pool_naive(x.numpy(), np.max, -np.inf, geo['kernel'],
                                                        stride, geo['padding']))


@given(data=st.data())
def test_max_pool2d_gradients_match_central_differences(device, data):
    """Unique values, 0.05 apart: no tie can flip within the finite-difference step."""
    geo = data.draw(pool_geometry(), label='geometry')
    x = data.draw(seeded(geo['shape'], device, unique=True), label='x')
    ag.gradcheck(lambda x: max_pool2d(x, *pool_args(geo)), [x])


@settings(max_examples=8)
@given(data=st.data())
def test_max_pool2d_backward_is_differentiable(device, data):
    """gradgradcheck: the backward's backward, in x and in the upstream gradient."""
    geo = data.draw(pool_geometry(), label='geometry')
    x = data.draw(seeded(geo['shape'], device, unique=True), label='x')
    ag.gradgradcheck(lambda x: max_pool2d(x, *pool_args(geo)), [x])


def test_max_pool2d_tie_sends_the_gradient_to_the_first_maximum(device):
    """A window of equal values passes its whole gradient to its first element (as
    PyTorch does), never splits or duplicates it."""
    x = ag.ones(1, 2, 4, 6, dtype=np.float64, device=device, requires_grad=True)
    g = ag.randn(1, 2, 2, 3, dtype=np.float64, device=device)
    max_pool2d(x, 2).backward(g)
    want = np.zeros((1, 2, 4, 6))
    want[:, :, ::2, ::2] = g.numpy()
    np.testing.assert_array_equal(x.grad.numpy(), want)


# --- avg_pool2d ---------------------------------------------------------------------------
@given(data=st.data())
def test_avg_pool2d_matches_naive_loop(device, data):
    geo = data.draw(pool_geometry(), label='geometry')
    x = data.draw(seeded(geo['shape'], device), label='x')
    y = avg_pool2d(x, *pool_args(geo))
    stride = geo['stride'] or geo['kernel']
    np.testing.assert_allclose(y.numpy(), pool_naive(x.numpy(), np.mean, 0.0, geo['kernel'],
                                                     stride, geo['padding']), rtol=1e-12, atol=1e-15)


@given(data=st.data())
def test_avg_pool2d_gradients_match_central_differences(device, data):
    geo = data.draw(pool_geometry(), label='geometry')
    x = data.draw(seeded(geo['shape'], device), label='x')
    ag.gradcheck(lambda x: avg_pool2d(x, *pool_args(geo)), [x])


@settings(max_examples=8)
@given(data=st.data())
def test_avg_pool2d_backward_is_differentiable(device, data):
    geo = data.draw(pool_geometry(), label='geometry')
    x = data.draw(seeded(geo['shape'], device), label='x')
    ag.gradgradcheck(lambda x: avg_pool2d(x, *pool_args(geo)), [x])


# --- interpolate --------------------------------------------------------------------------
MODES = [('nearest', False), ('bilinear', False), ('bilinear', True)]


@st.composite
def resize_case(draw, mode, align_corners):
    """An image shape and either an output size or a scale factor."""
    shape = (draw(st.integers(1, 2)), draw(st.integers(1, 2)), draw(st.integers(1, 5)),
             draw(st.integers(1, 5)))
    if draw(st.booleans()):
        out = draw(pairs(1, 9))
        return dict(shape=shape, mode=mode, align_corners=align_corners, size=out,
                    scale_factor=None, out=out, factors=(None, None))
    factor = draw(st.sampled_from([0.5, 0.75, 1.0, 1.5, 2.0, 2.5, 3.0]))
    out = tuple(int(np.floor(n * factor)) for n in shape[2:])
    if min(out) < 1:
        factor, out = 2.0, tuple(2 * n for n in shape[2:])
    return dict(shape=shape, mode=mode, align_corners=align_corners, size=None,
                scale_factor=factor, out=out, factors=(factor, factor))


def resize(case):
    return lambda x: interpolate(x, scale_factor=case['scale_factor'], size=case['size'],
                                 mode=case['mode'], align_corners=case['align_corners'])


@pytest.mark.parametrize('mode, align_corners', MODES)
@given(data=st.data())
def test_interpolate_matches_pytorch_coordinate_formulas(device, mode, align_corners, data):
    case = data.draw(resize_case(mode, align_corners), label='case')
    x = data.draw(seeded(case['shape'], device), label='x')
    want = interpolate_reference(x.numpy(), case['out'], case['factors'], case['mode'],
                                 case['align_corners'])
    np.testing.assert_allclose(resize(case)(x).numpy(), want, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize('mode, align_corners', MODES)
@given(data=st.data())
def test_interpolate_gradients_match_central_differences(device, mode, align_corners, data):
    case = data.draw(resize_case(mode, align_corners), label='case')
    x = data.draw(seeded(case['shape'], device), label='x')
    ag.gradcheck(resize(case), [x])


@pytest.mark.parametrize('mode, align_corners', MODES)
@settings(max_examples=8)
@given(data=st.data())
def test_interpolate_backward_is_differentiable(device, mode, align_corners, data):
    case = data.draw(resize_case(mode, align_corners), label='case')
    x = data.draw(seeded(case['shape'], device), label='x')
    ag.gradgradcheck(resize(case), [x])


def test_nearest_float32_picks_the_pixels_of_float32_coordinates(device):
    """3 -> 7 pixels: scale 3/7 in float32 puts dst 7k/3 exactly on the pixel PyTorch picks."""
    x = ag.arange(2 * 3 * 5, dtype=np.float32, device=device).reshape(1, 2, 3, 5)
    y = interpolate(x, size=(7, 12))
    rows = source_coordinates(3, 7, None, 'nearest', False).astype(int)
    cols = source_coordinates(5, 12, None, 'nearest', False).astype(int)
    np.testing.assert_array_equal(y.numpy(), x.numpy()[:, :, rows[:, None], cols])
    assert y.dtype == np.float32


def test_nearest_upsampling_by_two_repeats_every_pixel(device):
    x = ag.randn(2, 3, 4, 5, device=device)
    want = x.numpy().repeat(2, axis=2).repeat(2, axis=3)
    np.testing.assert_array_equal(interpolate(x, scale_factor=2).numpy(), want)


# --- bad input --------------------------------------------------------------------------------
@pytest.mark.parametrize('call, match', [
    (lambda d: max_pool2d(ag.randn(3, 4, 4, device=d), 2), r"max_pool2d: input must be a 4-D Tensor.*\(3, 4, 4\)"),
    (lambda d: avg_pool2d(ag.randn(1, 1, 4, 4, device=d), 2, padding=2),
     r"avg_pool2d: padding \(2, 2\) must be at most half the kernel \(2, 2\)"),
    (lambda d: max_pool2d(ag.randn(1, 1, 2, 5, device=d), 3),
     r"max_pool2d: kernel \(3, 3\) is larger than the padded input \(2, 5\)"),
    (lambda d: max_pool2d(ag.randn(1, 1, 4, 4, device=d), 2, stride=0), r"max_pool2d: stride must be an int >= 1"),
    (lambda d: avg_pool2d(ag.randn(1, 1, 4, 4, device=d), (2, 2, 2)), r"avg_pool2d: kernel_size must be"),
    (lambda d: interpolate(ag.randn(4, 4, device=d), scale_factor=2), r"interpolate: input must be a 4-D Tensor"),
    (lambda d: interpolate(ag.randn(1, 1, 4, 4, device=d), scale_factor=2, mode='bicubic'),
     r"interpolate: mode must be 'nearest' or 'bilinear', got 'bicubic'"),
    (lambda d: interpolate(ag.randn(1, 1, 4, 4, device=d), scale_factor=2, size=8),
     r"interpolate: give exactly one of size and scale_factor"),
    (lambda d: interpolate(ag.randn(1, 1, 4, 4, device=d)), r"interpolate: give exactly one of size and scale_factor"),
    (lambda d: interpolate(ag.randn(1, 1, 4, 4, device=d), scale_factor=0.1),
     r"interpolate: scale_factor 0.1 makes input \(1, 1, 4, 4\) an empty \(0, 0\) image"),
    (lambda d: interpolate(ag.randn(1, 1, 4, 4, device=d), scale_factor=-2),
     r"interpolate: scale_factor must be a positive number or pair"),
    (lambda d: interpolate(ag.randn(1, 1, 4, 4, device=d), size=(0, 3)), r"interpolate: size must be an int >= 1"),
])
def test_bad_input_raises_a_clear_error(device, call, match):
    with pytest.raises(ValueError, match=match):
        call(device)


@settings(max_examples=8)
@given(data=st.data(), factors=st.tuples(st.integers(1, 3), st.integers(1, 3)))
def test_integer_nearest_upsampling_is_the_repeat_matrices_product(device, data, factors):
    """The RepeatPixels fast path equals Resize2d with the 0/1 matrices it replaces, and so
    does its gradient (and the gradient of that, through g)."""
    from autograd.ops.pool import RepeatPixels, Resize2d
    x = data.draw(seeded((2, 2, 3, 4), device), label='x')
    size = (3 * factors[0], 4 * factors[1])
    y = interpolate(x.detach().requires_grad_(), size=size)
    assert isinstance(y.creator, RepeatPixels)
    A_h, A_w = (ag.backend.xp_for(device).asarray(np.repeat(np.eye(n), k, axis=0))
                for n, k in zip((3, 4), factors))
    want = Resize2d.apply(x, A_h=A_h, A_w=A_w)
    np.testing.assert_array_equal(y.numpy(), want.numpy())
    ag.gradgradcheck(lambda t: interpolate(t, size=size), [x])
