"""conv2d and conv_transpose2d: forward against plain loops, gradients and second
derivatives against central differences, the adjoint identity between the two, the
fast kernels (conv_fast.py) against the plain ones (fast=False), and the errors.
Geometry (groups, kernel, stride, padding, dilation, output_padding, image size) is
drawn by hypothesis; values are float64 (float32 where dtype is the property).

Every test takes `device` from the conftest fixture, @given ones included (conftest
lets hypothesis accept a function-scoped fixture: a device is not an example's state)."""
import itertools

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import autograd as ag
from autograd.ops.conv import conv2d, conv_transpose2d


# --- plain-loop references (read these first: they are the definitions) -------------
def conv2d_naive(x, w, b, stride, padding, dilation, groups):
    """y[n, o, h, w] = b[o] + sum_{c,i,j} w[o, c, i, j] x_pad[n, g Cg + c, h s + i d, w s + j d]."""
    (N, _, H, W), (O, Cg, kh, kw) = x.shape, w.shape
    (sh, sw), (ph, pw), (dh, dw) = stride, padding, dilation
    x_pad = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    Ho = (H + 2 * ph - dh * (kh - 1) - 1) // sh + 1
    Wo = (W + 2 * pw - dw * (kw - 1) - 1) // sw + 1
    y = np.zeros((N, O, Ho, Wo))
    for n, o, h, v in itertools.product(range(N), range(O), range(Ho), range(Wo)):
        g = o // (O // groups)
        patch = x_pad[n, g * Cg:(g + 1) * Cg, h * sh:h * sh + dh * (kh - 1) + 1:dh,
                      v * sw:v * sw + dw * (kw - 1) + 1:dw]
        y[n, o, h, v] = (patch * w[o]).sum() + (0 if b is None else b[o])
    return y


def conv_transpose2d_naive(x, w, b, stride, padding, output_padding, groups, dilation):
    """Every input pixel x[n, c, h, w] adds x * w[c] onto the output patch at (h s, w s)."""
    (N, C, H, W), (_, Og, kh, kw) = x.shape, w.shape
    (sh, sw), (ph, pw), (dh, dw) = stride, padding, dilation
    Ho = (H - 1) * sh - 2 * ph + dh * (kh - 1) + output_padding[0] + 1
    Wo = (W - 1) * sw - 2 * pw + dw * (kw - 1) + output_padding[1] + 1
    y = np.zeros((N, Og * groups, Ho + 2 * ph, Wo + 2 * pw))
    for n, c, h, v in itertools.product(range(N), range(C), range(H), range(W)):
        g = c // (C // groups)
        y[n, g * Og:(g + 1) * Og, h * sh:h * sh + dh * (kh - 1) + 1:dh,
          v * sw:v * sw + dw * (kw - 1) + 1:dw] += x[n, c, h, v] * w[c]
    y = y[:, :, ph:ph + Ho, pw:pw + Wo]
    return y if b is None else y + b[:, None, None]


# --- strategies -----------------------------------------------------------------------
pairs = lambda lo, hi: st.tuples(st.integers(lo, hi), st.integers(lo, hi))  # noqa: E731


@st.composite
def seeded(draw, shape, device):
    """A float64 Tensor of `shape` with random values from a drawn seed (hypothesis draws
    the geometry, NumPy the values, so no example is all zeros). Half the time a 4-D one
    is stored channel-major, as conv2d's outputs are."""
    values = np.random.default_rng(draw(st.integers(0, 2 ** 32 - 1))).standard_normal(shape)
    if len(shape) == 4 and draw(st.booleans()):
        values = np.ascontiguousarray(values.transpose(1, 0, 2, 3)).transpose(1, 0, 2, 3)
    return ag.as_tensor(ag.backend.xp_for(device).asarray(values))


@st.composite
def conv_geometry(draw, max_channels=2, max_extra=3):
    """Channels, weight shape and hyper-parameters of a valid conv2d, and an image size
    at least as large as the dilated kernel needs."""
    groups = draw(st.integers(1, 2))
    c_in, c_out = groups * draw(st.integers(1, max_channels)), groups * draw(st.integers(1, max_channels))
    kernel, stride, dilation, padding = draw(pairs(1, 3)), draw(pairs(1, 2)), draw(pairs(1, 2)), draw(pairs(0, 2))
    size = tuple(max(1, d * (k - 1) + 1 - 2 * p) + draw(st.integers(0, max_extra))
                 for k, d, p in zip(kernel, dilation, padding))
    return dict(N=draw(st.integers(1, 2)), c_in=c_in, c_out=c_out, groups=groups, kernel=kernel,
                stride=stride, dilation=dilation, padding=padding, size=size,
                bias=draw(st.booleans()))


def conv_inputs(draw, geo, device):
    x = draw(seeded((geo['N'], geo['c_in']) + geo['size'], device))
    w = draw(seeded((geo['c_out'], geo['c_in'] // geo['groups']) + geo['kernel'], device))
    b = draw(seeded((geo['c_out'],), device)) if geo['bias'] else None
    return x, w, b


def conv_fn(geo, fast=True):
    def fn(x, w, b=None):
        return conv2d(x, w, b, stride=geo['stride'], padding=geo['padding'],
                      dilation=geo['dilation'], groups=geo['groups'], fast=fast)
    return fn


@st.composite
def transpose_geometry(draw):
    """A transposed conv's geometry: x has c_in channels, weight (c_in, c_out/groups, kernel)."""
    geo = draw(conv_geometry())
    geo['size'] = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    geo['output_padding'] = tuple(draw(st.integers(0, max(s, d) - 1))
                                  for s, d in zip(geo['stride'], geo['dilation']))
    out = [(n - 1) * s - 2 * p + d * (k - 1) + op + 1 for n, s, p, d, k, op in
           zip(geo['size'], geo['stride'], geo['padding'], geo['dilation'], geo['kernel'],
               geo['output_padding'])]
    geo['padding'] = tuple(p if o >= 1 else 0 for p, o in zip(geo['padding'], out))
    return geo


def transpose_inputs(draw, geo, device):
    x = draw(seeded((geo['N'], geo['c_in']) + geo['size'], device))
    w = draw(seeded((geo['c_in'], geo['c_out'] // geo['groups']) + geo['kernel'], device))
    b = draw(seeded((geo['c_out'],), device)) if geo['bias'] else None
    return x, w, b


def transpose_fn(geo, fast=True):
    def fn(x, w, b=None):
        return conv_transpose2d(x, w, b, stride=geo['stride'], padding=geo['padding'],
                                output_padding=geo['output_padding'], groups=geo['groups'],
                                dilation=geo['dilation'], fast=fast)
    return fn


def present(*ts):
    return [t for t in ts if t is not None]


# --- conv2d -----------------------------------------------------------------------------
@given(data=st.data())
def test_conv2d_matches_naive_loop(device, data):
    geo = data.draw(conv_geometry(), label='geometry')
    x, w, b = conv_inputs(data.draw, geo, device)
    y = conv_fn(geo)(*present(x, w, b))
    want = conv2d_naive(x.numpy(), w.numpy(), None if b is None else b.numpy(), geo['stride'],
                        geo['padding'], geo['dilation'], geo['groups'])
    assert y.shape == want.shape
    np.testing.assert_allclose(y.numpy(), want, rtol=1e-10, atol=1e-12)


@given(data=st.data())
def test_conv2d_gradients_match_central_differences(device, data):
    geo = data.draw(conv_geometry(), label='geometry')
    ag.gradcheck(conv_fn(geo), present(*conv_inputs(data.draw, geo, device)))


@settings(max_examples=5)
@given(data=st.data())
def test_conv2d_second_derivatives_match_central_differences(device, data):
    """In x, w, b and in the upstream gradient g (gradgradcheck): the backward of every
    Function that conv2d's backward builds (ConvWeightGrad, the transposed convolution),
    the paths from g included."""
    geo = data.draw(conv_geometry(max_channels=1, max_extra=1), label='geometry')
    ag.gradgradcheck(conv_fn(geo), present(*conv_inputs(data.draw, geo, device)))


def test_conv2d_float32_stays_float32(device):
    x = ag.randn(2, 3, 5, 5, device=device, requires_grad=True)
    w = ag.randn(4, 3, 3, 3, device=device, requires_grad=True)
    b = ag.randn(4, device=device, requires_grad=True)
    y = conv2d(x, w, b, padding=1)
    y.sum().backward()
    assert {y.dtype, x.grad.dtype, w.grad.dtype, b.grad.dtype} == {np.dtype(np.float32)}


def test_conv2d_int_and_pair_arguments_agree(device):
    x, w = ag.randn(1, 2, 6, 7, device=device), ag.randn(3, 2, 3, 2, device=device)
    a = conv2d(x, w, stride=2, padding=1, dilation=1)
    b = conv2d(x, w, stride=(2, 2), padding=(1, 1), dilation=(1, 1))
    np.testing.assert_array_equal(a.numpy(), b.numpy())


def test_conv2d_output_feeds_another_conv(device):
    """conv2d returns a channel-major view; a second conv2d (forward and backward) on it
    agrees with the same computation on a contiguous copy."""
    x = ag.randn(2, 3, 6, 6, dtype=np.float64, device=device, requires_grad=True)
    w1, w2 = ag.randn(4, 3, 3, 3, dtype=np.float64, device=device), ag.randn(2, 4, 1, 1, dtype=np.float64, device=device)
    h = conv2d(x, w1, padding=1)
    y1 = conv2d(h, w2)
    y2 = conv2d(ag.tensor(h.numpy(), device=device), w2)
    np.testing.assert_allclose(y1.numpy(), y2.numpy(), rtol=1e-12)
    ag.gradcheck(lambda x: conv2d(conv2d(x, w1, padding=1), w2, stride=2), [x])


# --- conv_transpose2d -------------------------------------------------------------------
@given(data=st.data())
def test_conv_transpose2d_matches_naive_loop(device, data):
    geo = data.draw(transpose_geometry(), label='geometry')
    x, w, b = transpose_inputs(data.draw, geo, device)
    y = transpose_fn(geo)(*present(x, w, b))
    want = conv_transpose2d_naive(x.numpy(), w.numpy(), None if b is None else b.numpy(),
                                  geo['stride'], geo['padding'], geo['output_padding'],
                                  geo['groups'], geo['dilation'])
    assert y.shape == want.shape
    np.testing.assert_allclose(y.numpy(), want, rtol=1e-10, atol=1e-12)


@given(data=st.data())
def test_conv_transpose2d_is_the_adjoint_of_conv2d(device, data):
    """<conv2d(x; w), y> == <x, conv_transpose2d(y; w)> for the same w and geometry."""
    geo = data.draw(conv_geometry(), label='geometry')
    x, w, _ = conv_inputs(data.draw, geo, device)
    cx = conv_fn(geo)(x, w)
    y = data.draw(seeded(cx.shape, device), label='y')
    output_padding = tuple((n + 2 * p - d * (k - 1) - 1) % s for n, p, d, k, s in
                           zip(geo['size'], geo['padding'], geo['dilation'], geo['kernel'], geo['stride']))
    ty = conv_transpose2d(y, w, stride=geo['stride'], padding=geo['padding'],
                          output_padding=output_padding, groups=geo['groups'], dilation=geo['dilation'])
    assert ty.shape == x.shape
    np.testing.assert_allclose((cx.numpy() * y.numpy()).sum(), (x.numpy() * ty.numpy()).sum(),
                               rtol=1e-10, atol=1e-10)


@given(data=st.data())
def test_conv_transpose2d_gradients_match_central_differences(device, data):
    geo = data.draw(transpose_geometry(), label='geometry')
    ag.gradcheck(transpose_fn(geo), present(*transpose_inputs(data.draw, geo, device)))


@settings(max_examples=5)
@given(data=st.data())
def test_conv_transpose2d_second_derivatives_match_central_differences(device, data):
    """In x, w, b and in the upstream gradient, as for conv2d."""
    geo = data.draw(transpose_geometry(), label='geometry')
    ag.gradgradcheck(transpose_fn(geo), present(*transpose_inputs(data.draw, geo, device)))


# --- the fast kernels (conv_fast.py) against the plain ones (fast=False) ----------------
def forward_and_gradients(fn, x, w, b, seed):
    """fn's output, its gradients for x, w, b under a random upstream gradient g, and the
    gradients of a random combination of those for x, w and g: every Function's forward
    that fn's first and second backward run."""
    rng = np.random.default_rng(seed)
    xp = ag.backend.array_module(x.data)
    with ag.enable_grad():
        x, w, b = (None if t is None else t.detach().requires_grad_() for t in (x, w, b))
        y = fn(*present(x, w, b))
        g = ag.as_tensor(xp.asarray(rng.standard_normal(y.shape))).requires_grad_()
        first = ag.grad(y, present(x, w, b), g, create_graph=True)
        r = [ag.as_tensor(xp.asarray(rng.standard_normal(t.shape))) for t in first]
        second = ag.grad(sum((t * u).sum() for t, u in zip(first[:2], r)), [x, w, g])
    return [y] + list(first) + list(second)


def assert_all_close(fast, plain):
    assert len(fast) == len(plain)
    for a, b in zip(fast, plain):
        assert a.shape == b.shape
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-10, atol=1e-10)


@given(data=st.data())
def test_fast_conv2d_agrees_with_plain_in_forward_and_every_gradient(device, data):
    geo = data.draw(conv_geometry(max_channels=3), label='geometry')
    x, w, b = conv_inputs(data.draw, geo, device)
    seed = data.draw(st.integers(0, 2 ** 32 - 1), label='seed')
    assert_all_close(forward_and_gradients(conv_fn(geo, fast=True), x, w, b, seed),
                     forward_and_gradients(conv_fn(geo, fast=False), x, w, b, seed))


@given(data=st.data())
def test_fast_conv_transpose2d_agrees_with_plain_in_forward_and_every_gradient(device, data):
    geo = data.draw(transpose_geometry(), label='geometry')
    x, w, b = transpose_inputs(data.draw, geo, device)
    seed = data.draw(st.integers(0, 2 ** 32 - 1), label='seed')
    assert_all_close(forward_and_gradients(transpose_fn(geo, fast=True), x, w, b, seed),
                     forward_and_gradients(transpose_fn(geo, fast=False), x, w, b, seed))


def test_fast_and_plain_agree_on_a_unet_sized_3x3_conv(device):
    """The stride-1 row shifts at the size they are for (64 channels, 16 x 16, padding 1)."""
    geo = dict(stride=(1, 1), padding=(1, 1), dilation=(1, 1), groups=1)
    x = ag.randn(2, 16, 16, 16, dtype=np.float64, device=device)
    w = ag.randn(8, 16, 3, 3, dtype=np.float64, device=device)
    b = ag.randn(8, dtype=np.float64, device=device)
    assert_all_close(forward_and_gradients(conv_fn(geo, fast=True), x, w, b, 0),
                     forward_and_gradients(conv_fn(geo, fast=False), x, w, b, 0))


@settings(max_examples=8)
@given(data=st.data())
def test_plain_conv2d_gradients_match_central_differences(device, data):
    geo = data.draw(conv_geometry(max_channels=1, max_extra=1), label='geometry')
    inputs = present(*conv_inputs(data.draw, geo, device))
    ag.gradcheck(conv_fn(geo, fast=False), inputs)
    ag.gradgradcheck(conv_fn(geo, fast=False), inputs)


@settings(max_examples=8)
@given(data=st.data())
def test_plain_conv_transpose2d_gradients_match_central_differences(device, data):
    geo = data.draw(transpose_geometry(), label='geometry')
    inputs = present(*transpose_inputs(data.draw, geo, device))
    ag.gradcheck(transpose_fn(geo, fast=False), inputs)
    ag.gradgradcheck(transpose_fn(geo, fast=False), inputs)


# --- bad input: a clear error naming the function and the shapes ------------------------
@pytest.mark.parametrize('call, match', [
    (lambda d: conv2d(ag.randn(3, 5, 5, device=d), ag.randn(2, 3, 3, 3, device=d)),
     r"conv2d: input must be a 4-D Tensor.*\(3, 5, 5\)"),
    (lambda d: conv2d(ag.randn(1, 3, 5, 5, device=d), ag.randn(2, 3, 3, device=d)),
     r"conv2d: weight must be a 4-D Tensor.*\(2, 3, 3\)"),
    (lambda d: conv2d(ag.randn(1, 3, 5, 5, device=d), ag.randn(2, 4, 3, 3, device=d)),
     r"conv2d: input \(1, 3, 5, 5\) has 3 channels but weight \(2, 4, 3, 3\)"),
    (lambda d: conv2d(ag.randn(1, 4, 5, 5, device=d), ag.randn(3, 2, 3, 3, device=d), groups=2),
     r"conv2d: groups=2 must divide .*\(3, weight \(3, 2, 3, 3\)\)"),
    (lambda d: conv2d(ag.randn(1, 3, 5, 5, device=d), ag.randn(2, 1, 3, 3, device=d), groups=2),
     r"conv2d: groups=2 must divide the input channels \(3, input \(1, 3, 5, 5\)\)"),
    (lambda d: conv2d(ag.randn(1, 1, 4, 4, device=d), ag.randn(1, 1, 3, 3, device=d), dilation=2),
     r"conv2d: kernel \(3, 3\) \(spanning \(5, 5\).* larger than the padded input \(4, 4\)"),
    (lambda d: conv2d(ag.randn(1, 1, 4, 4, device=d), ag.randn(1, 1, 3, 3, device=d), stride=0),
     r"conv2d: stride must be an int >= 1"),
    (lambda d: conv2d(ag.randn(1, 1, 4, 4, device=d), ag.randn(1, 1, 3, 3, device=d), padding=(1, -1)),
     r"conv2d: padding must be an int >= 0"),
    (lambda d: conv2d(ag.randn(1, 1, 4, 4, device=d), ag.randn(2, 1, 3, 3, device=d), ag.randn(3, device=d)),
     r"conv2d: bias must have shape \(2,\), got \(3,\)"),
    (lambda d: conv_transpose2d(ag.randn(1, 3, 4, 4, device=d), ag.randn(2, 1, 3, 3, device=d)),
     r"conv_transpose2d: input \(1, 3, 4, 4\) has 3 channels but weight \(2, 1, 3, 3\)"),
    (lambda d: conv_transpose2d(ag.randn(1, 3, 4, 4, device=d), ag.randn(3, 1, 3, 3, device=d), groups=2),
     r"conv_transpose2d: groups=2 must divide the input channels \(3"),
    (lambda d: conv_transpose2d(ag.randn(1, 2, 4, 4, device=d), ag.randn(2, 1, 3, 3, device=d),
                                stride=2, output_padding=2),
     r"conv_transpose2d: output_padding \(2, 2\) must be smaller than stride \(2, 2\)"),
    (lambda d: conv_transpose2d(ag.randn(1, 2, 1, 1, device=d), ag.randn(2, 1, 1, 1, device=d), padding=1),
     r"conv_transpose2d: output size \(-1, -1\) is empty"),
    (lambda d: conv_transpose2d(ag.randn(2, 4, 4, device=d), ag.randn(2, 1, 3, 3, device=d)),
     r"conv_transpose2d: input must be a 4-D Tensor"),
])
def test_bad_input_raises_a_clear_error(device, call, match):
    with pytest.raises(ValueError, match=match):
        call(device)


def test_mixed_dtypes_raise_a_clear_error(device):
    x, w = ag.randn(1, 1, 4, 4, device=device), ag.randn(1, 1, 3, 3, dtype=np.float64, device=device)
    with pytest.raises(TypeError, match="conv2d: input, weight and bias need one dtype, got float32, float64"):
        conv2d(x, w)
