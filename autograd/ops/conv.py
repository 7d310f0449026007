"""2-D convolution and transposed convolution: im2col, then ONE matrix product.

conv2d (PyTorch semantics; cross-correlation, as every deep-learning library does),
for x (N, C, H, W), weight W (C_out, C/G, kh, kw), bias b (C_out,), G groups,
stride s, padding p, dilation d, and output channel o in group g:
    y[n, o, h, w] = b[o] + sum_{c, i, j} W[o, c, i, j] x_pad[n, g C/G + c, h s + i d, w s + j d]
    H_out = floor((H + 2p - d (k - 1) - 1) / s) + 1                              (1)
im2col (Chellapilla, Puri & Simard 2006) copies every input patch into a column,
    X[(c, i, j), (n, h, w)] = x_pad[n, c, h s + i d, w s + j d]                    (2)
so the whole convolution is one matrix product per group:  Y = W X   (C_out x N H_out W_out).
X needs no loop: it is one strided view of x_pad (`as_strided`, each index of (2) one
stride), copied once by the reshape into a matrix.

Gradients, with dY = dL/dY as a (C_out, N H_out W_out) matrix:
    dL/dW = dY X^T          (Y_om = sum_k W_ok X_km, so dL/dW_ok = sum_m dY_om X_km)  (3)
    dL/dX = W^T dY, then col2im: each column entry is added back to the pixel (2)
            it was copied from (im2col copies, so its adjoint sums the copies).
            This is the adjoint of conv2d, the transposed convolution
            (Dumoulin & Visin 2016, arXiv:1603.07285, section 4):                   (4)
    conv_transpose2d(x; W) = col2im(W^T x),  H_out = (H - 1) s - 2p + d (k - 1) + output_padding + 1
With stride 1 the transposed convolution is also a plain convolution (ibid., 4.1-4.4):
    conv_transpose2d(x; W) = conv2d(x; W') padded by p' = d (k - 1) - p,
    W'[o, c, i, j] = W[c, o, k - 1 - i, k - 1 - j]  (flipped, in/out channels swapped)      (5)
So three Functions cover everything, and each one's backward is built from the three
again, which makes them differentiable any number of times (WGAN-GP needs twice;
the structure is DeZero's Conv2d / Deconv2d / Conv2DGradW):
    Conv2d           y = conv(x; W) + b   grads: x <- ConvTranspose2d(g; W),  W <- ConvWeightGrad(x, g)
    ConvTranspose2d  y = conv^T(x; W) + b grads: x <- Conv2d(g; W),           W <- ConvWeightGrad(g, x)
    ConvWeightGrad   gW = dY X^T (3)      grads: x <- ConvTranspose2d(g; gg), g <- Conv2d(x; gg)

This file computes (1)-(4) plainly: `plain_conv2d`, `plain_conv_transpose2d` and
`plain_weight_grad` below, im2col and col2im as written above. What runs by default is
conv_fast.py: the same three with the copies arranged for speed (channel-major
columns in a reused buffer; for stride 1, the kh row shifts of x instead of the kh kw
columns, and (5)), 1.3-2x faster per convolution on a CPU. `fast=False` runs the
plain ones; tests/engine/test_conv.py checks that the two agree.
"""
import numpy as np

from ..backend import array_module
from ..function import Function
from ..tensor import Tensor


# --- the plain kernels: (2), (1), (4), (3) on raw arrays -------------------------------
def im2col(x, kernel, size, stride, padding, dilation):
    """The columns (2) of x (N, C, H, W) for an output grid `size` = (H_out, W_out), as a
    (C, kh, kw, N, H_out, W_out) view of the zero-padded x: index (c, i, j, n, h, w) of the
    view is x_pad[n, c, h s + i d, w s + j d], so each axis is one stride of x_pad's."""
    xp = array_module(x)
    (ph, pw), (kh, kw) = padding, kernel
    x_pad = xp.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    N, C = x.shape[:2]
    sn, sc, sh, sw = x_pad.strides
    return xp.lib.stride_tricks.as_strided(
        x_pad, shape=(C, kh, kw, N) + tuple(size),
        strides=(sc, dilation[0] * sh, dilation[1] * sw, sn, stride[0] * sh, stride[1] * sw))


def col2im(cols, size, stride, padding, dilation):
    """The adjoint of im2col: every entry of cols (C, kh, kw, N, h_in, w_in) is added back
    to the pixel (2) it was copied from; returns (N, C) + size.
    (Loops over the kh kw kernel offsets, each adding every patch's entry at once.)"""
    xp = array_module(cols)
    C, kh, kw, N, h_in, w_in = cols.shape
    (H, W), (ph, pw), (sh, sw), (dh, dw) = size, padding, stride, dilation
    x_pad = xp.zeros((C, N, H + 2 * ph, W + 2 * pw), cols.dtype)
    for i in range(kh):
        for j in range(kw):
            x_pad[:, :, i * dh:i * dh + sh * (h_in - 1) + 1:sh,
                  j * dw:j * dw + sw * (w_in - 1) + 1:sw] += cols[:, i, j]
    return x_pad[:, :, ph:ph + H, pw:pw + W].transpose(1, 0, 2, 3)


def plain_conv2d(x, w, b, size, stride, padding, dilation, groups):
    """y = W X + b (1), one matrix product per group; (N, C_out) + size."""
    xp = array_module(x)
    N, C_out, G = x.shape[0], w.shape[0], groups
    X = im2col(x, w.shape[2:], size, stride, padding, dilation)
    X = X.reshape(G, -1, N * size[0] * size[1])           # (G, C/G kh kw, N H_out W_out): the copy
    Y = xp.matmul(w.reshape(G, C_out // G, -1), X)       # (G, C_out/G, N H_out W_out)
    y = Y.reshape(C_out, N, *size).transpose(1, 0, 2, 3)
    return y if b is None else y + b[:, None, None]


def plain_conv_transpose2d(x, w, b, size, stride, padding, dilation, groups):
    """y = col2im(W^T x) + b (4), weight W (C_in, C_out/G, kh, kw); (N, C_out) + size."""
    xp = array_module(x)
    (N, C_in, H, W), (kh, kw), G = x.shape, w.shape[2:], groups
    C_out = w.shape[1] * G
    x_mat = x.transpose(1, 0, 2, 3).reshape(G, C_in // G, N * H * W)
    cols = xp.matmul(w.reshape(G, C_in // G, -1).transpose(0, 2, 1), x_mat)  # W^T x
    y = col2im(cols.reshape(C_out, kh, kw, N, H, W), size, stride, padding, dilation)
    return y if b is None else y + b[:, None, None]


def plain_weight_grad(x, g, kernel, stride, padding, dilation, groups):
    """gW = dY X^T (3) for y = conv(x; W) and g = dL/dy; (C_out, C/G) + kernel."""
    xp = array_module(x)
    (N, C), C_out, G = x.shape[:2], g.shape[1], groups
    M = N * g.shape[2] * g.shape[3]
    X = im2col(x, kernel, g.shape[2:], stride, padding, dilation).reshape(G, -1, M)
    dY = g.transpose(1, 0, 2, 3).reshape(G, C_out // G, M)
    return xp.matmul(dY, X.transpose(0, 2, 1)).reshape(C_out, C // G, *kernel)


# --- the Functions: forward by the fast kernels (conv_fast.py) or the plain ones ---------
from . import conv_fast  # noqa: E402  (after col2im, which conv_fast reuses)


class Conv2d(Function):
    """y = W X + b (1, 2). Params: size (H_out, W_out), stride, padding, dilation, groups,
    fast (run conv_fast.conv2d rather than plain_conv2d)."""
    fast = True

    def forward(self, x, w, b=None):
        conv = conv_fast.conv2d if self.fast else plain_conv2d
        return conv(x, w, b, self.size, self.stride, self.padding, self.dilation, self.groups)

    def backward(self, g):  # (3) and (4); db = sum of g over every pixel of its channel
        x, w = self.inputs[:2]
        need, geometry = self.needs_input_grad + (False,), _geometry(self)
        gx = ConvTranspose2d.apply(g, w, size=x.shape[2:], **geometry) if need[0] else None
        gw = ConvWeightGrad.apply(x, g, kernel=w.shape[2:], **geometry) if need[1] else None
        gb = g.sum(axis=(0, 2, 3)) if need[2] else None
        return gx, gw, gb


class ConvTranspose2d(Function):
    """y = col2im(W^T x) + b (4), weight W (C_in, C_out/G, kh, kw); `size` = (H_out, W_out)."""
    fast = True

    def forward(self, x, w, b=None):
        conv_t = conv_fast.conv_transpose2d if self.fast else plain_conv_transpose2d
        return conv_t(x, w, b, self.size, self.stride, self.padding, self.dilation, self.groups)

    def backward(self, g):  # <conv^T(x; W), g> = <x, conv(g; W)>: the adjoint's adjoint is conv
        x, w = self.inputs[:2]
        need, geometry = self.needs_input_grad + (False,), _geometry(self)
        gx = Conv2d.apply(g, w, size=x.shape[2:], **geometry) if need[0] else None
        gw = ConvWeightGrad.apply(g, x, kernel=w.shape[2:], **geometry) if need[1] else None
        gb = g.sum(axis=(0, 2, 3)) if need[2] else None
        return gx, gw, gb


class ConvWeightGrad(Function):
    """dL/dW = dY X^T (3) of y = conv(x; W) with upstream g = dL/dy; W's shape is
    (C_out, C/G, kernel), with C_out = g's channels and C = x's channels."""
    fast = True

    def forward(self, x, g):
        weight_grad = conv_fast.weight_grad if self.fast else plain_weight_grad
        return weight_grad(x, g, self.kernel, self.stride, self.padding, self.dilation,
                           self.groups)

    def backward(self, gg):  # gW is bilinear in (x, g): <gg, gW(x, g)> = <conv(x; gg), g>
        x, g = self.inputs
        need, geometry = self.needs_input_grad, _geometry(self)
        gx = ConvTranspose2d.apply(g, gg, size=x.shape[2:], **geometry) if need[0] else None
        g_grad = Conv2d.apply(x, gg, size=g.shape[2:], **geometry) if need[1] else None
        return gx, g_grad


def _geometry(fn):
    return dict(stride=fn.stride, padding=fn.padding, dilation=fn.dilation, groups=fn.groups,
                fast=fn.fast)


# --- the functional API: argument checks, output sizes (1) and (4) --------------------
def _pair(fname, name, value, least):
    pair = (value, value) if isinstance(value, (int, np.integer)) else tuple(value)
    if len(pair) != 2 or not all(isinstance(v, (int, np.integer)) and v >= least for v in pair):
        raise ValueError(f"{fname}: {name} must be an int >= {least} or a pair of them, "
                         f"got {value!r}")
    return tuple(int(v) for v in pair)


def _check_inputs(fname, x, w, b, groups):
    for name, t in (('input', x), ('weight', w)):
        if not isinstance(t, Tensor) or t.ndim != 4:
            shape = t.shape if isinstance(t, Tensor) else type(t).__name__
            raise ValueError(f"{fname}: {name} must be a 4-D Tensor (N, C, H, W) / "
                             f"(C_out, C_in/groups, kH, kW), got {shape}")
    if b is not None and not isinstance(b, Tensor):
        raise TypeError(f"{fname}: bias must be a Tensor or None, got {type(b).__name__}")
    if not isinstance(groups, (int, np.integer)) or groups < 1:
        raise ValueError(f"{fname}: groups must be a positive int, got {groups!r}")
    if x.dtype != w.dtype or (b is not None and b.dtype != x.dtype):
        raise TypeError(f"{fname}: input, weight and bias need one dtype, got {x.dtype}, "
                        f"{w.dtype}" + (f", {b.dtype}" if b is not None else ''))


def _check_bias(fname, b, channels):
    if b is not None and b.shape != (channels,):
        raise ValueError(f"{fname}: bias must have shape ({channels},), got {b.shape}")


def conv2d(x, w, b=None, stride=1, padding=0, dilation=1, groups=1, *, fast=True):
    """2-D convolution (1), as torch.nn.functional.conv2d.
    x (N, C, H, W), w (C_out, C/groups, kH, kW), b (C_out,) or None. fast=False runs the
    plain kernels of this file (forward and every backward) instead of conv_fast.py's."""
    _check_inputs('conv2d', x, w, b, groups)
    stride, padding, dilation = (_pair('conv2d', 'stride', stride, 1),
                                 _pair('conv2d', 'padding', padding, 0),
                                 _pair('conv2d', 'dilation', dilation, 1))
    (C, H, W), (C_out, C_group, kh, kw) = x.shape[1:], w.shape
    if C % groups or C_out % groups:
        raise ValueError(f"conv2d: groups={groups} must divide the input channels ({C}, input "
                         f"{x.shape}) and the output channels ({C_out}, weight {w.shape})")
    if C_group * groups != C:
        raise ValueError(f"conv2d: input {x.shape} has {C} channels but weight {w.shape} with "
                         f"groups={groups} expects {C_group * groups}")
    _check_bias('conv2d', b, C_out)
    span = (dilation[0] * (kh - 1) + 1, dilation[1] * (kw - 1) + 1)
    padded = (H + 2 * padding[0], W + 2 * padding[1])
    if span[0] > padded[0] or span[1] > padded[1]:
        raise ValueError(f"conv2d: kernel {(kh, kw)} (spanning {span} with dilation "
                         f"{dilation}) is larger than the padded input {padded} (input "
                         f"{x.shape}, padding {padding})")
    size = tuple((padded[k] - span[k]) // stride[k] + 1 for k in (0, 1))
    inputs = (x, w) if b is None else (x, w, b)
    return Conv2d.apply(*inputs, size=size, stride=stride, padding=padding, dilation=dilation,
                        groups=groups, fast=fast)


def conv_transpose2d(x, w, b=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1,
                     *, fast=True):
    """Transposed convolution (4), as torch.nn.functional.conv_transpose2d.
    x (N, C_in, H, W), w (C_in, C_out/groups, kH, kW), b (C_out,) or None; fast as conv2d."""
    fname = 'conv_transpose2d'
    _check_inputs(fname, x, w, b, groups)
    stride, padding, dilation = (_pair(fname, 'stride', stride, 1),
                                 _pair(fname, 'padding', padding, 0),
                                 _pair(fname, 'dilation', dilation, 1))
    output_padding = _pair(fname, 'output_padding', output_padding, 0)
    (C_in, H, W), (C_w, C_group, kh, kw) = x.shape[1:], w.shape
    if C_in % groups:
        raise ValueError(f"{fname}: groups={groups} must divide the input channels ({C_in}, "
                         f"input {x.shape})")
    if C_w != C_in:
        raise ValueError(f"{fname}: input {x.shape} has {C_in} channels but weight {w.shape} "
                         f"expects {C_w} (its first axis)")
    _check_bias(fname, b, C_group * groups)
    for k in (0, 1):
        if output_padding[k] >= max(stride[k], dilation[k]):
            raise ValueError(f"{fname}: output_padding {output_padding} must be smaller than "
                             f"stride {stride} or dilation {dilation}")
    size = tuple((n - 1) * s - 2 * p + d * (k - 1) + op + 1 for n, k, s, p, d, op in
                 zip((H, W), (kh, kw), stride, padding, dilation, output_padding))
    if min(size) < 1:
        raise ValueError(f"{fname}: output size {size} is empty (input {x.shape}, weight "
                         f"{w.shape}, padding {padding})")
    inputs = (x, w) if b is None else (x, w, b)
    return ConvTranspose2d.apply(*inputs, size=size, stride=stride, padding=padding,
                                 dilation=dilation, groups=groups, fast=fast)
