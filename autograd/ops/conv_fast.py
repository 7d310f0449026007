"""The fast path of conv.py: the same three computations, arranged for speed.

Read conv.py first. Its plain kernels compute, with X the columns (2) of the input,
    conv2d            y  = W X + b                    (1)
    conv_transpose2d  y  = col2im(W^T x) + b          (4)
    weight_grad       gW = dY X^T                     (3)
and so do the functions here, with the same signatures and the same numbers up to
rounding (tests/engine/test_conv.py holds them to that). Only where the copies go
changes; the Functions in conv.py run these unless called with fast=False.

1. Channel-major columns. X is stored (C, kh, kw, N, H_out, W_out): it is one copy out
   of a strided view of the input padded channel-major, (C, N, Hp, Wp), whose innermost
   runs are whole image rows (the batch-major order (N H_out W_out, C kh kw) copies 4x
   slower). The product's result (C_out, N, H_out, W_out) is the output in (C, N, H, W)
   memory order, returned as a transposed view instead of copied, and a 1x1 convolution
   of such a channel-major input needs no copy at all.

2. Scratch buffers. X is 9x the input for a 3x3 kernel, and a fresh array that big costs
   as much again in page faults (the OS zeroes every new page), so it is written into a
   buffer kept per thread (holding the largest seen so far) and rebuilt for the weight
   gradient rather than kept alive until backward.

3. Stride 1: row shifts instead of columns (every 3x3 of a UNet, and the input gradient
   of each, a stride-1 transposed convolution). Copy only the kh vertical shifts of the
   padded input,
       R[c, i, n, h, v] = x_pad[n, c, h + i d, v]    for every column v < Wp,
   then X[(c, i, j), (n, h, w)] = R[c, i, n, h, w + j d]: flattened over q = (n, h, v),
   kernel column j is R read j d entries further on. With W_j = W[:, :, :, j],
       Y[:, q] = sum_j (W_j R)[:, q + j d]
   is one product [W_0; ...; W_kw-1] R whose kw row blocks are added with shifts of j d
   (output-sized work), from a copy 3x the input instead of 9x. The price: outputs are
   also computed at the padded columns v >= W_out (then dropped), Wp / W_out more
   product; rows padded on the left only, whose zeros serve as the right padding of the
   row before, keep that at (W + p) / W (3% at 32 x 32, 12% at 8 x 8).

4. A stride-1 transposed convolution is a convolution (conv.py, (5)), so it takes 3.
   Building its columns from x is faster than writing W^T x, 9x the output, and
   scattering it back.

5. Threads. BLAS runs the products on every core; the copies around them (padding, the
   columns or row shifts) and the shifted additions are split over the channels across
   CPU threads (parallel.over_rows, as PyTorch runs its copies), each channel's rows
   whole, so the numbers do not depend on the split.
"""
import threading

import numpy as np

from ..backend import array_module
from ..parallel import over_rows
from .conv import col2im

_scratch = threading.local()  # one buffer per thread and (array library, dtype, slot)


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


def _pad_channel_major(x, shape, padding):
    """x (N, C, H, W) copied into zeros of `shape` (C, N, Hp, Wp) at offset `padding`."""
    xp = array_module(x)
    (H, W), (ph, pw) = x.shape[2:], padding
    x_pad = xp.zeros(shape, x.dtype)
    over_rows(_copy, x_pad[:, :, ph:ph + H, pw:pw + W], x.transpose(1, 0, 2, 3))
    return x_pad


def _copy(dst, src):
    dst[...] = src


def _channel_matrix(y, groups):
    """y (N, C, H, W) as the (G, C/G, N H W) matrix of the product (free if y is channel-major)."""
    N, C, H, W = y.shape
    return y.transpose(1, 0, 2, 3).reshape(groups, C // groups, N * H * W)


# --- 1 and 2: channel-major columns in a scratch buffer ---------------------------------
def _im2col(x, kernel, size, stride, padding, dilation):
    """Columns (2) of x (N, C, H, W) for an output grid `size`, as (C, kh, kw, N, H_out, W_out).
    x is zero-padded by `padding` before its rows and columns, and after them by
    `padding` or by as much as the grid reaches, whichever is more (the flipped
    padding of 4 with an output_padding reaches one further)."""
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
    over_rows(_copy, cols, windows)  # the one copy
    return cols


# --- 3: stride 1, row shifts ------------------------------------------------------------
def _row_columns(x, kernel, size, padding, dilation):
    """R (C, kh, N, H_out, Wp) of 3 for stride 1, and Wp. Each of its rows is a row of x_pad
    (a fast copy, written straight from x by _shifted_rows). The rows have zeros on the
    left only (pw of them) and are just wide enough that a patch reaching past a row's end
    reads the next row's left zeros (or past R's end: zero too), which serve as its right
    padding: Wp = W + pw for a 'same' conv, not W + 2 pw, so fewer columns are computed
    and dropped."""
    xp = array_module(x)
    (N, C, H, W), (ph, pw), (kh, kw), (dh, dw) = x.shape, padding, kernel, dilation
    Wp = max(W + pw, size[1] + dw * (kw - 1) - pw, size[1])
    rows = _scratch_array(xp, (C, kh, N, size[0], Wp), x.dtype)
    over_rows(lambda rows, x: _shifted_rows(rows, x, ph, pw, dh), rows, x.transpose(1, 0, 2, 3))
    return rows, Wp


def _shifted_rows(rows, x, ph, pw, dh):
    """rows[c, i, n, h, v] = x_pad[c, n, h + i dh, v] for channel-major x (C, N, H, W) zero-padded
    by ph rows above and pw columns on the left, written without building x_pad: kernel row
    i copies the rows of x it reaches and zeros the rest (one pass over rows, not three)."""
    (H, W), (H_out, Wp) = x.shape[2:], rows.shape[3:]
    for i in range(rows.shape[1]):
        r = rows[:, i]
        lo = min(max(ph - i * dh, 0), H_out)  # output rows h whose h + i dh falls inside x
        hi = max(min(ph + H - i * dh, H_out), lo)
        r[:, :, :lo] = 0
        r[:, :, hi:] = 0
        r[:, :, lo:hi, :pw] = 0
        r[:, :, lo:hi, pw + W:] = 0
        r[:, :, lo:hi, pw:pw + W] = x[:, :, lo + i * dh - ph:hi + i * dh - ph]


def _conv_rows(x, w, b, size, padding, dilation, groups):
    """conv2d with stride 1 from _row_columns: Z = [W_0; W_1; ...] R, then the kw - 1
    shifted additions Y[:, q] += Z_j[:, q + j d] (a term with q + j d past R's end reads
    zeros: it is left out). Y is computed for every v < Wp; the columns v >= W_out are
    dropped. Returns y (N, C_out) + size, a view of a channel-major (C_out, N, H_out, Wp)
    array."""
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
    for g in range(G):  # each group's output channels, split over threads (b cut with them)
        b_g = () if b is None else (b.reshape(G, C_out // G)[g],)
        over_rows(lambda y, Z, b=None: _add_shifted(y, Z, b, dw),
                  y[g], Z[g].transpose(1, 0, 2), *b_g)
    y = y.reshape(C_out, N, size[0], Wp)
    return y[..., :size[1]].transpose(1, 0, 2, 3)


def _add_shifted(y, Z, b, dw):
    """y[:, q] = sum_j Z[:, j, q + j dw] (+ b) for output channels y (C, Q) and the
    product's kw blocks Z (C, kw, Q); terms past Z's end are zeros, left out."""
    Q, kw = y.shape[1], Z.shape[1]
    L = max(Q - dw, 0)  # (W_1 R)[:, q + d] exists for q < L
    if kw == 1:
        y[...] = Z[:, 0]
    else:
        array_module(y).add(Z[:, 0, :L], Z[:, 1, dw:], out=y[:, :L])
        y[:, L:] = Z[:, 0, L:]
    for j in range(2, kw):
        y[:, :max(Q - j * dw, 0)] += Z[:, j, j * dw:]
    if b is not None:
        y += b[:, None]


def _weight_grad_rows(x, g, kernel, padding, dilation, groups):
    """gW = dY X^T (3) for stride 1 from _row_columns: column j of the kernel is
        gW[:, :, :, j] = dY_pad[:, :Q - j d] R[:, j d:]^T
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
    # R dY^T: the faster order in place (dY R^T, faster alone, slowed the conv3x3 benchmark's
    # whole step 1.3x and the forward products after it 1.6x on OpenBLAS 0.3.31, Haswell)
    gw = xp.empty((kw, G, C // G * kh, C_out // G), x.dtype)
    for j in range(kw):
        L = max(Q - j * dw, 0)
        xp.matmul(R[..., j * dw:j * dw + L], g_pad[..., :L].transpose(0, 2, 1), out=gw[j])
    gw = gw.reshape(kw, G, C // G, kh, C_out // G).transpose(1, 4, 2, 3, 0)
    return xp.ascontiguousarray(gw).reshape(C_out, C // G, kh, kw)


# --- the three kernels, as conv.py's plain ones ------------------------------------------
def conv2d(x, w, b, size, stride, padding, dilation, groups):
    """y = W X + b (1); (N, C_out) + size. Stride 1 with a kernel wider than 1 takes the
    row shifts of 3; every other geometry the columns of 1 and 2."""
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


def conv_transpose2d(x, w, b, size, stride, padding, dilation, groups):
    """y = col2im(W^T x) + b (4), weight W (C_in, C_out/G, kh, kw). Stride 1 takes 4: the
    convolution (5) with the flipped kernel (output pixel h gathers
    x[h + p - i d] W[i] = x_pad'[h + i' d] W[k - 1 - i'])."""
    xp = array_module(x)
    (N, C_in, H, W), (kh, kw), G = x.shape, w.shape[2:], groups
    C_out = w.shape[1] * G
    flipped_padding = tuple(d * (k - 1) - p for d, k, p in zip(dilation, (kh, kw), padding))
    if stride == (1, 1) and min(flipped_padding) >= 0:  # (5)
        w_flipped = w.reshape(G, C_in // G, C_out // G, kh, kw).transpose(0, 2, 1, 3, 4)
        w_flipped = w_flipped.reshape(C_out, C_in // G, kh, kw)[:, :, ::-1, ::-1]
        return conv2d(x, w_flipped, b, size, (1, 1), flipped_padding, dilation, G)
    cols = _scratch_array(xp, (G, C_out // G * kh * kw, N * H * W), x.dtype)
    xp.matmul(w.reshape(G, C_in // G, -1).transpose(0, 2, 1), _channel_matrix(x, G), out=cols)
    y = col2im(cols.reshape(C_out, kh, kw, N, H, W), size, stride, padding, dilation)
    if b is not None:
        y = y + b[:, None, None]  # a new array: y is a view of col2im's padded buffer
    return y


def weight_grad(x, g, kernel, stride, padding, dilation, groups):
    """gW = dY X^T (3), of shape (C_out, C/G) + kernel. Stride 1 with a kernel wider than 1
    takes the row shifts of 3."""
    xp = array_module(x)
    (N, C), (C_out, G) = x.shape[:2], (g.shape[1], groups)
    if stride == (1, 1) and kernel[1] > 1:
        return _weight_grad_rows(x, g, kernel, padding, dilation, G)
    cols = _im2col(x, kernel, g.shape[2:], stride, padding, dilation)
    cols = cols.reshape(G, -1, N * g.shape[2] * g.shape[3])
    gw_t = xp.matmul(cols, _channel_matrix(g, G).transpose(0, 2, 1))  # X dY^T: the faster order
    return gw_t.transpose(0, 2, 1).reshape(C_out, C // G, *kernel)
