"""2-D convolution and transposed convolution: im2col, then ONE matrix product.

conv2d (PyTorch semantics; cross-correlation, as every deep-learning library does),
for x (N, C, H, W), weight W (C_out, C/G, kh, kw), bias b (C_out,), G groups,
stride s, padding p, dilation d, and output channel o in group g:
    y[n, o, h, w] = b[o] + sum_{c, i, j} W[o, c, i, j] x_pad[n, g C/G + c, h s + i d, w s + j d]
    H_out = floor((H + 2p - d (k - 1) - 1) / s) + 1                              (1)
im2col (Chellapilla, Puri & Simard 2006) copies every input patch into a column,
    X[(c, i, j), (n, h, w)] = x_pad[n, c, h s + i d, w s + j d]                    (2)
so the whole convolution is one matrix product per group:  Y = W X   (C_out x N H_out W_out).

Gradients, with dY = dL/dY as a (C_out, N H_out W_out) matrix:
    dL/dW = dY X^T                                                                 (3)
    dL/dX = W^T dY, then col2im: each column entry is added back to the pixel (2)
            it was copied from.  This is the adjoint of conv2d, the transposed
            convolution (Dumoulin & Visin 2016, arXiv:1603.07285, section 4):       (4)
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

Speed (benchmarks/conv3x3.py). The columns are stored channel-major,
(C, kh, kw, N, H_out, W_out): they are one copy out of a strided view of the padded
input whose innermost runs are whole image rows (the batch-major order, (N H_out W_out,
C kh kw), copies 4x slower), and the product's result (C_out, N, H_out, W_out) is the
output in (C, N, H, W) memory order, returned as a transposed view instead of copied.
A 1x1 convolution of such a channel-major input needs no copy at all. The columns are
9x the input for a 3x3 kernel, and a fresh array that big costs as much again in page
faults (the OS zeroes every new page), so they are written into a scratch buffer kept
per thread (it holds the largest column matrix seen so far) and rebuilt for the weight
gradient rather than kept alive until backward.

Stride 1 (every 3x3 of a UNet, and the input gradient of each, a stride-1 transposed
conv) copies only the kh vertical shifts of the padded input, R (C, kh, N, H_out, Wp):
flattened over (n, h, v), kernel column j is R read j d entries further on, so the
product is one matrix product [W_0; ...; W_kw-1] R whose kw row blocks are summed with
shifts of j d entries (output-sized work), and the copy is 3x x instead of 9x (with
whole padded rows as its contiguous runs). The price: outputs are also computed at the
padded columns v >= W_out (dropped), Wp / W_out more product; rows padded on the left
only, whose zeros serve as the right padding of the row before, keep that at (W + p) / W
(3% at 32 x 32, 12% at 8 x 8). About 1.3-2x faster per convolution here.
"""
import threading

import numpy as np

from ..backend import array_module
from ..function import Function
from ..tensor import Tensor

_scratch = threading.local()  # one buffer per thread and (array library, dtype)


def _scratch_array(xp, shape, dtype, slot='columns'):
    """An uninitialized array of `shape`, reusing this thread's buffer for `slot` (grown as
    needed). Valid only until the next call for that slot: used for arrays that never
    leave a forward."""
    buffers = _scratch.__dict__.setdefault('buffers', {})
    key, size = (xp.__name__, np.dtype(dtype).str, slot), int(np.prod(shape))
    if key not in buffers or buffers[key].size < size:
        buffers[key] = None  # free the old one before allocating the larger one
        buffers[key] = xp.empty(size, dtype)
    return buffers[key][:size].reshape(shape)


def _im2col(x, kernel, size, stride, padding, dilation):
    """Columns (2) of x (N, C, H, W) for an output grid `size`, as (C, kh, kw, N, H_out, W_out).
    x is zero-padded by `padding` before its rows and columns, and after them by
    `padding` or by as much as the grid reaches, whichever is more."""
    xp = array_module(x)
    N, C, H, W = x.shape
    Hp, Wp = (max(n + 2 * p, (m - 1) * s + d * (k - 1) + 1) for n, p, m, s, d, k in
              zip((H, W), padding, size, stride, dilation, kernel))
    if (Hp, Wp) != (H, W):  # channel-major: each column row is one channel's pixels
        x_pad = _pad_channel_major(x, (C, N, Hp, Wp), padding)
    else:
        x_pad = x.transpose(1, 0, 2, 3)
    kh, kw = kernel
    sc, sn, sh, sw = x_pad.strides
    windows = xp.lib.stride_tricks.as_strided(  # a view: windows[c, i, j, n, h, w] = (2)
        x_pad, shape=(C, kh, kw, N) + tuple(size),
        strides=(sc, dilation[0] * sh, dilation[1] * sw, sn, stride[0] * sh, stride[1] * sw))
    if windows.flags.c_contiguous:  # e.g. a 1x1 kernel on a channel-major x: no copy needed
        return windows
    cols = _scratch_array(xp, windows.shape, x.dtype)
    cols[...] = windows  # the one copy
    return cols


def _pad_channel_major(x, shape, padding):
    """x (N, C, H, W) copied into zeros of `shape` (C, N, Hp, Wp) at offset `padding`."""
    xp = array_module(x)
    (H, W), (ph, pw) = x.shape[2:], padding
    x_pad = xp.zeros(shape, x.dtype)
    x_pad[:, :, ph:ph + H, pw:pw + W] = x.transpose(1, 0, 2, 3)
    return x_pad


def _row_columns(x, kernel, size, padding, dilation):
    """Columns (2) shifted vertically only, for stride 1: (C, kh, N, H_out, Wp) with
        R[c, i, n, h, v] = x_pad[n, c, h + i d, v]    for every column v of the padded width Wp,
    so that X[(c, i, j), (n, h, w)] = R[c, i, n, h, w + j d]: in R flattened to
    (C kh, N H_out Wp), the kernel column j is the same matrix shifted right by j d entries.
    Returns (R, Wp); R is 3x x for a 3x3 kernel where X is 9x, and each of its rows is a
    contiguous run of x_pad (a fast copy).
    The rows have zeros on the left only (pw of them) and are just wide enough that a patch
    reaching past a row's end reads the next row's left zeros (or past R's end: zero too),
    which serve as its right padding: Wp = W + pw for a 'same' conv, not W + 2 pw, so fewer
    columns are computed and dropped."""
    xp = array_module(x)
    (N, C, H, W), (ph, pw), (kh, kw), (dh, dw) = x.shape, padding, kernel, dilation
    Hp = max(H + 2 * ph, size[0] + dh * (kh - 1))
    Wp = max(W + pw, size[1] + dw * (kw - 1) - pw, size[1])
    x_pad = _pad_channel_major(x, (C, N, Hp, Wp), padding)
    sc, sn, sh, sw = x_pad.strides
    windows = xp.lib.stride_tricks.as_strided(  # windows[c, i, n, h, v] = x_pad[c, n, h + i d, v]
        x_pad, shape=(C, kh, N, size[0], Wp), strides=(sc, dh * sh, sn, sh, sw))
    rows = _scratch_array(xp, windows.shape, x.dtype)
    rows[...] = windows
    return rows, Wp


def _conv_rows(x, w, b, size, padding, dilation, groups):
    """conv2d with stride 1 from _row_columns: with W_j = W[:, :, :, j] as a (C_out, C kh)
    matrix and q = (n, h, v) flattened over (N, H_out, Wp),
        Y[:, q] = sum_j (W_j R)[:, q + j d]
    The kw products are one: Z = [W_0; W_1; ...] R, then kw - 1 shifted additions of
    output-sized slices (a term with q + j d past R's end reads zeros: it is left out).
    Y is computed for every v < Wp; the columns v >= W_out are dropped. Returns
    y (N, C_out) + size, a view of a channel-major (C_out, N, H_out, Wp) array."""
    xp = array_module(x)
    N, (C_out, Cg, kh, kw), G, dw = x.shape[0], w.shape, groups, dilation[1]
    rows, Wp = _row_columns(x, (kh, kw), size, padding, dilation)
    Q = N * size[0] * Wp
    w_stack = w.reshape(G, C_out // G, Cg, kh, kw).transpose(0, 4, 1, 2, 3).reshape(
        G, kw * (C_out // G), Cg * kh)  # [W_0; W_1; ...] per group
    Z = _scratch_array(xp, (G, kw * (C_out // G), Q), x.dtype, slot='product')
    xp.matmul(w_stack, rows.reshape(G, Cg * kh, Q), out=Z)
    Z = Z.reshape(G, kw, C_out // G, Q)
    y = xp.empty((G, C_out // G, Q), x.dtype)
    L = max(Q - dw, 0)  # (W_1 R)[:, q + d] exists for q < L
    if kw == 1:
        y[...] = Z[:, 0]
    else:
        xp.add(Z[:, 0, :, :L], Z[:, 1, :, dw:], out=y[..., :L])
        y[..., L:] = Z[:, 0, :, L:]
    for j in range(2, kw):
        y[..., :max(Q - j * dw, 0)] += Z[:, j, :, j * dw:]
    y = y.reshape(C_out, N, size[0], Wp)
    if b is not None:
        y += b[:, None, None, None]
    return y[..., :size[1]].transpose(1, 0, 2, 3)


def _weight_grad_rows(x, g, kernel, padding, dilation, groups):
    """dL/dW = dY X^T (3) for stride 1 from _row_columns: column j of the kernel is
        dW[:, :, :, j] = dY_pad[:, :Q - j d] R[:, j d:]^T
    with dY_pad = g channel-major and zero-padded to the width Wp (so that the columns
    v >= W_out, which R pairs with other pixels, contribute nothing; reads past R's end
    are zeros, left out)."""
    xp = array_module(x)
    (N, C), (_, C_out, H_out, W_out), G = x.shape[:2], g.shape, groups
    (kh, kw), dw = kernel, dilation[1]
    rows, Wp = _row_columns(x, kernel, (H_out, W_out), padding, dilation)
    Q = N * H_out * Wp
    R = rows.reshape(G, C // G * kh, Q)
    g_pad = _pad_channel_major(g, (C_out, N, H_out, Wp), (0, 0)).reshape(G, C_out // G, Q)
    gw = xp.empty((kw, G, C // G * kh, C_out // G), x.dtype)  # R dY^T: the faster order
    for j in range(kw):
        L = max(Q - j * dw, 0)
        xp.matmul(R[..., j * dw:j * dw + L], g_pad[..., :L].transpose(0, 2, 1), out=gw[j])
    gw = gw.reshape(kw, G, C // G, kh, C_out // G).transpose(1, 4, 2, 3, 0)
    return xp.ascontiguousarray(gw).reshape(C_out, C // G, kh, kw)


def _col2im(cols, size, stride, padding, dilation):
    """The adjoint of _im2col: add each column entry back to its pixel; (N, C, H, W) = size."""
    xp = array_module(cols)
    C, kh, kw, N, h_in, w_in = cols.shape
    (H, W), (ph, pw), (sh, sw), (dh, dw) = size, padding, stride, dilation
    x_pad = xp.zeros((C, N, H + 2 * ph, W + 2 * pw), cols.dtype)
    for i in range(kh):  # kh*kw strided adds: offset (i, j) of every patch at once
        for j in range(kw):
            x_pad[:, :, i * dh:i * dh + sh * (h_in - 1) + 1:sh,
                  j * dw:j * dw + sw * (w_in - 1) + 1:sw] += cols[:, i, j]
    return x_pad[:, :, ph:ph + H, pw:pw + W].transpose(1, 0, 2, 3)


def _channel_matrix(y, groups):
    """y (N, C, H, W) as the (G, C/G, N H W) matrix of the product (free if y is channel-major)."""
    N, C, H, W = y.shape
    return y.transpose(1, 0, 2, 3).reshape(groups, C // groups, N * H * W)


def _conv(x, w, b, size, stride, padding, dilation, groups):
    """y = W X + b (the product per group), X the columns (2) of x; (N, C_out) + size.
    Stride 1 with a kernel wider than 1 goes through _conv_rows (3x copies instead of 9x)."""
    if stride == (1, 1) and w.shape[3] > 1:
        return _conv_rows(x, w, b, size, padding, dilation, groups)
    N, C_out, G = x.shape[0], w.shape[0], groups
    cols = _im2col(x, w.shape[2:], size, stride, padding, dilation)
    M = N * size[0] * size[1]
    y = array_module(x).matmul(w.reshape(G, C_out // G, -1), cols.reshape(G, -1, M))
    y = y.reshape(C_out, N, *size)
    if b is not None:
        y += b[:, None, None, None]
    return y.transpose(1, 0, 2, 3)


class Conv2d(Function):
    """y = W X + b (1, 2); `size` is the output grid (H_out, W_out)."""

    def forward(self, x, w, b=None):
        return _conv(x, w, b, self.size, self.stride, self.padding, self.dilation, self.groups)

    def backward(self, g):  # (3) and (4); db = sum of g over every pixel of its channel
        x, w = self.inputs[:2]
        need, geometry = self.needs_input_grad + (False,), _geometry(self)
        gx = ConvTranspose2d.apply(g, w, size=x.shape[2:], **geometry) if need[0] else None
        gw = ConvWeightGrad.apply(x, g, kernel=w.shape[2:], **geometry) if need[1] else None
        gb = g.sum(axis=(0, 2, 3)) if need[2] else None
        return gx, gw, gb


class ConvTranspose2d(Function):
    """y = col2im(W^T x) + b (4), weight W (C_in, C_out/G, kh, kw); `size` = (H_out, W_out).

    With stride 1 it is computed as the convolution (5) (output pixel h gathers
    x[h + p - i d] W[i] = x_pad'[h + i' d] W[k - 1 - i']): building its columns from x is
    about 1.5x faster than writing W^T x, 9x the size of the output, and scattering it back."""

    def forward(self, x, w, b=None):
        xp = array_module(x)
        (N, C_in, H, W), (kh, kw), G = x.shape, w.shape[2:], self.groups
        C_out = w.shape[1] * G
        flipped_padding = tuple(d * (k - 1) - p
                                for d, k, p in zip(self.dilation, (kh, kw), self.padding))
        if self.stride == (1, 1) and min(flipped_padding) >= 0:  # (5)
            w_flipped = w.reshape(G, C_in // G, C_out // G, kh, kw).transpose(0, 2, 1, 3, 4)
            w_flipped = w_flipped.reshape(C_out, C_in // G, kh, kw)[:, :, ::-1, ::-1]
            return _conv(x, w_flipped, b, self.size, (1, 1), flipped_padding, self.dilation, G)
        cols = _scratch_array(xp, (G, C_out // G * kh * kw, N * H * W), x.dtype)
        xp.matmul(w.reshape(G, C_in // G, -1).transpose(0, 2, 1), _channel_matrix(x, G), out=cols)
        y = _col2im(cols.reshape(C_out, kh, kw, N, H, W), self.size, self.stride, self.padding,
                    self.dilation)
        if b is not None:
            y = y + b[:, None, None]  # a new array: y is a view of col2im's padded buffer
        return y

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

    def forward(self, x, g):
        xp = array_module(x)
        (N, C), (C_out, G) = x.shape[:2], (g.shape[1], self.groups)
        if self.stride == (1, 1) and self.kernel[1] > 1:
            return _weight_grad_rows(x, g, self.kernel, self.padding, self.dilation, G)
        cols = _im2col(x, self.kernel, g.shape[2:], self.stride, self.padding, self.dilation)
        cols = cols.reshape(G, -1, N * g.shape[2] * g.shape[3])
        gw_t = xp.matmul(cols, _channel_matrix(g, G).transpose(0, 2, 1))  # X dY^T: faster order
        return gw_t.transpose(0, 2, 1).reshape(C_out, C // G, *self.kernel)

    def backward(self, gg):  # gW is bilinear in (x, g): <gg, gW(x, g)> = <conv(x; gg), g>
        x, g = self.inputs
        need, geometry = self.needs_input_grad, _geometry(self)
        gx = ConvTranspose2d.apply(g, gg, size=x.shape[2:], **geometry) if need[0] else None
        g_grad = Conv2d.apply(x, gg, size=g.shape[2:], **geometry) if need[1] else None
        return gx, g_grad


def _geometry(fn):
    return dict(stride=fn.stride, padding=fn.padding, dilation=fn.dilation, groups=fn.groups)


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


def conv2d(x, w, b=None, stride=1, padding=0, dilation=1, groups=1):
    """2-D convolution (1), as torch.nn.functional.conv2d.
    x (N, C, H, W), w (C_out, C/groups, kH, kW), b (C_out,) or None."""
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
                        groups=groups)


def conv_transpose2d(x, w, b=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1):
    """Transposed convolution (4), as torch.nn.functional.conv_transpose2d.
    x (N, C_in, H, W), w (C_in, C_out/groups, kH, kW), b (C_out,) or None."""
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
                                 dilation=dilation, groups=groups)
