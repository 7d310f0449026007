"""Pooling and resizing of images (N, C, H, W): max_pool2d, avg_pool2d, interpolate.

Pooling looks at the same windows as a convolution (conv.py, equation (1)): with kernel k,
stride s and padding p, window (h, w) covers x_pad[h s + i, w s + j] for 0 <= i, j < k, and
    H_out = floor((H + 2p - k) / s) + 1
    max_pool2d:  y[n, c, h, w] = max_{i, j} x_pad[n, c, h s + i, w s + j]   (pad = -inf)
    avg_pool2d:  y[n, c, h, w] = 1/(kh kw) sum_{i, j} x_pad[n, c, h s + i, w s + j]   (pad = 0,
                 counted in the mean: PyTorch's count_include_pad=True)
The gradient of a max is the gradient of picking the arg-max, so max pooling keeps the
arg-max of every window: backward puts g back there (max_unpool), and the backward of
putting back is picking again. Average pooling's backward spreads g / (kh kw) over the
window, and the backward of spreading is averaging again.

interpolate resizes with PyTorch's coordinate rules. Each output pixel reads the source
coordinate, along each axis,
    nearest:                       src = min(floor(dst * scale), in - 1)
    bilinear, align_corners=False: src = max((dst + 0.5) * scale - 0.5, 0)
    bilinear, align_corners=True:  src = dst * (in - 1) / (out - 1)
with scale = 1 / scale_factor if it is given, else in / out; bilinear weighs the two
neighbours floor(src) and floor(src) + 1 (clamped to in - 1) by 1 - frac and frac.
Both rules are linear and act on each axis separately, so the resize is two small
matrices, y = A_h x A_w^T  (A_h: H_out x H, A_w: W_out x W), and its gradient is
A_h^T g A_w: the same Function with the matrices transposed. Nearest upsampling by
integer factors (a UNet's x2) has 0/1 repeat matrices; it is done by copying instead
(RepeatPixels), and its gradient by summing each block (SumPixelBlocks).
"""
import numpy as np

from ..backend import array_module
from ..function import Function
from ..tensor import Tensor
from .conv import _pair


def _pad(x, padding, value):
    xp = array_module(x)
    (ph, pw), (N, C, H, W) = padding, x.shape
    x_pad = xp.full((N, C, H + 2 * ph, W + 2 * pw), value, x.dtype)
    x_pad[:, :, ph:ph + H, pw:pw + W] = x
    return x_pad


def _window_offsets(fn):
    """(i * kw + j, the slice of x_pad that offset (i, j) of every window reads)."""
    (kh, kw), (sh, sw), (Ho, Wo) = fn.kernel, fn.stride, fn.size
    for i in range(kh):
        for j in range(kw):
            yield i * kw + j, (Ellipsis, slice(i, i + sh * (Ho - 1) + 1, sh),
                               slice(j, j + sw * (Wo - 1) + 1, sw))


def _crop(x_pad, padding):
    (ph, pw), (Hp, Wp) = padding, x_pad.shape[2:]
    return x_pad[:, :, ph:Hp - ph, pw:Wp - pw]


class MaxPool2d(Function):
    """y = x_pad at the arg-max of each window, found by a running max over the kh*kw
    window offsets. With `idx` given, picks there instead (the backward of MaxUnpool2d).
    (Masks are multiplied rather than passed to `where`, which is 5x slower in NumPy.)"""

    def forward(self, x):
        xp = array_module(x)
        if self.idx is not None:
            x_pad = _pad(x, self.padding, 0)
            return sum(x_pad[window] * (self.idx == offset)
                       for offset, window in _window_offsets(self))
        x_pad = _pad(x, self.padding, -xp.inf)
        y, self.idx = None, xp.zeros(x.shape[:2] + self.size, np.int16)
        for offset, window in _window_offsets(self):
            if y is None:
                y = x_pad[window]
                continue
            later_max = x_pad[window] > y  # strict: a tie keeps the first maximum, as PyTorch
            y = xp.maximum(y, x_pad[window])
            self.idx += later_max * (offset - self.idx)
        return y

    def backward(self, g):  # d max = [x is the arg-max]: g goes back to where the max was
        x, = self.inputs
        return MaxUnpool2d.apply(g, idx=self.idx, in_size=x.shape[2:], kernel=self.kernel,
                                 stride=self.stride, padding=self.padding, size=self.size)


class MaxUnpool2d(Function):
    """Puts g[n, c, h, w] at the saved arg-max of window (h, w) of an x of `in_size`."""

    def forward(self, g):
        xp = array_module(g)
        N, C = g.shape[:2]
        (H, W), (ph, pw) = self.in_size, self.padding
        x_pad = xp.zeros((N, C, H + 2 * ph, W + 2 * pw), g.dtype)
        for offset, window in _window_offsets(self):  # windows may overlap: accumulate
            x_pad[window] += g * (self.idx == offset)
        return _crop(x_pad, self.padding)

    def backward(self, gg):  # the adjoint of putting back at idx is picking at idx
        return MaxPool2d.apply(gg, idx=self.idx, kernel=self.kernel, stride=self.stride,
                               padding=self.padding, size=self.size)


class AvgPool2d(Function):
    def forward(self, x):
        x_pad = _pad(x, self.padding, 0)
        y = sum(x_pad[window] for _, window in _window_offsets(self))  # kh*kw strided adds
        return y / x.dtype.type(self.kernel[0] * self.kernel[1])

    def backward(self, g):  # d mean / d x_i = 1 / (kh kw) for each x_i of the window
        x, = self.inputs
        return AvgPool2dBackward.apply(g, in_size=x.shape[2:], kernel=self.kernel,
                                       stride=self.stride, padding=self.padding, size=self.size)


class AvgPool2dBackward(Function):
    """Spreads g[n, c, h, w] / (kh kw) over window (h, w) of an x of `in_size`."""

    def forward(self, g):
        xp = array_module(g)
        N, C = g.shape[:2]
        (H, W), (ph, pw), (kh, kw) = self.in_size, self.padding, self.kernel
        x_pad = xp.zeros((N, C, H + 2 * ph, W + 2 * pw), g.dtype)
        share = g / g.dtype.type(kh * kw)
        for _, window in _window_offsets(self):
            x_pad[window] += share
        return _crop(x_pad, self.padding)

    def backward(self, gg):  # the adjoint of spreading is averaging
        return AvgPool2d.apply(gg, kernel=self.kernel, stride=self.stride, padding=self.padding,
                               size=self.size)


def _pool_args(fname, x, kernel_size, stride, padding):
    if not isinstance(x, Tensor) or x.ndim != 4:
        raise ValueError(f"{fname}: input must be a 4-D Tensor (N, C, H, W), got "
                         f"{x.shape if isinstance(x, Tensor) else type(x).__name__}")
    kernel = _pair(fname, 'kernel_size', kernel_size, 1)
    stride = kernel if stride is None else _pair(fname, 'stride', stride, 1)
    padding = _pair(fname, 'padding', padding, 0)
    if padding[0] > kernel[0] // 2 or padding[1] > kernel[1] // 2:
        raise ValueError(f"{fname}: padding {padding} must be at most half the kernel {kernel}")
    H, W = x.shape[2:]
    if kernel[0] > H + 2 * padding[0] or kernel[1] > W + 2 * padding[1]:
        raise ValueError(f"{fname}: kernel {kernel} is larger than the padded input "
                         f"{(H + 2 * padding[0], W + 2 * padding[1])} (input {x.shape})")
    size = ((H + 2 * padding[0] - kernel[0]) // stride[0] + 1,
            (W + 2 * padding[1] - kernel[1]) // stride[1] + 1)
    return dict(kernel=kernel, stride=stride, padding=padding, size=size)


def max_pool2d(x, kernel_size, stride=None, padding=0):
    """Max over each window, as torch.nn.functional.max_pool2d (stride defaults to kernel_size)."""
    return MaxPool2d.apply(x, idx=None, **_pool_args('max_pool2d', x, kernel_size, stride, padding))


def avg_pool2d(x, kernel_size, stride=None, padding=0):
    """Mean over each window, as torch.nn.functional.avg_pool2d (padding counts as zeros)."""
    return AvgPool2d.apply(x, **_pool_args('avg_pool2d', x, kernel_size, stride, padding))


# --- interpolate ---------------------------------------------------------------------
class Resize2d(Function):
    """y = A_h x A_w^T over the last two axes."""

    def forward(self, x):
        return self.A_h @ (x @ self.A_w.T)

    def backward(self, g):  # <g, A_h x A_w^T> = <A_h^T g A_w, x>
        return Resize2d.apply(g, A_h=self.A_h.T, A_w=self.A_w.T)


class RepeatPixels(Function):
    """y[n, c, h, w] = x[n, c, h // kh, w // kw]: nearest upsampling by integers (kh, kw)."""

    def forward(self, x):
        (N, C, H, W), (kh, kw) = x.shape, self.factors
        y = array_module(x).empty((N, C, H, kh, W, kw), x.dtype)
        for i in range(kh):  # kh kw strided copies, each with a long innermost loop (one
            for j in range(kw):  # broadcast copy's innermost loop would run over kw items)
                y[:, :, :, i, :, j] = x
        return y.reshape(N, C, H * kh, W * kw)

    def backward(self, g):  # x[h, w] was copied to a kh x kw block: its gradient is the block's sum
        return SumPixelBlocks.apply(g, factors=self.factors)


class SumPixelBlocks(Function):
    """y[n, c, h, w] = sum_{i < kh, j < kw} x[n, c, h kh + i, w kw + j], the adjoint of
    RepeatPixels (<repeat(x), g> = <x, block_sums(g)>), as kh - 1 + kw - 1 strided
    additions (NumPy's sum over the two block axes of a strided view is much slower)."""

    def forward(self, x):
        kh, kw = self.factors
        if kh == kw == 1:
            return x.copy()
        rows = x if kh == 1 else x[:, :, 0::kh] + x[:, :, 1::kh]  # sums of kh rows
        for i in range(2, kh):
            rows += x[:, :, i::kh]
        y = rows if kw == 1 else rows[..., 0::kw] + rows[..., 1::kw]  # then of kw columns
        for j in range(2, kw):
            y += rows[..., j::kw]
        return y

    def backward(self, gg):  # the adjoint of the adjoint
        return RepeatPixels.apply(gg, factors=self.factors)


def _repeat_factor(A):
    """k where A (n_out, n_in) is the 0/1 matrix of repeating every row k times, else None."""
    (n_out, n_in), k = A.shape, A.shape[0] // A.shape[1]
    if n_out != k * n_in or k < 1:
        return None
    return k if np.array_equal(A, np.repeat(np.eye(n_in, dtype=A.dtype), k, axis=0)) else None


def _resize_matrix(n_in, n_out, scale_factor, mode, align_corners, dtype):
    """The (n_out, n_in) matrix of one axis (the formulas of the module docstring). The
    coordinates are computed in PyTorch's precision (float32 for nearest and for float32
    bilinear, the input's otherwise), so the same source pixels are picked."""
    real = np.float32 if mode == 'nearest' else np.dtype(dtype).type
    dst = np.arange(n_out, dtype=real)
    if mode == 'bilinear' and align_corners:
        src = dst * (real(n_in - 1) / real(n_out - 1) if n_out > 1 else real(0))
    else:
        scale = real(1 / scale_factor) if scale_factor else real(n_in) / real(n_out)
        src = (np.floor(dst * scale) if mode == 'nearest'
               else np.maximum((dst + real(0.5)) * scale - real(0.5), 0))
    i0 = np.minimum(src.astype(np.int64), n_in - 1)  # floor: src >= 0
    A = np.zeros((n_out, n_in), dtype)
    if mode == 'nearest':
        A[np.arange(n_out), i0] = 1
    else:
        frac = src - i0
        np.add.at(A, (np.arange(n_out), i0), 1 - frac)
        np.add.at(A, (np.arange(n_out), np.minimum(i0 + 1, n_in - 1)), frac)  # i0 = in-1: both on i0
    return A


def interpolate(x, scale_factor=None, size=None, mode='nearest', align_corners=False):
    """Resize images (N, C, H, W) to `size` or by `scale_factor`, as
    torch.nn.functional.interpolate with mode 'nearest' or 'bilinear'."""
    if not isinstance(x, Tensor) or x.ndim != 4:
        raise ValueError(f"interpolate: input must be a 4-D Tensor (N, C, H, W), got "
                         f"{x.shape if isinstance(x, Tensor) else type(x).__name__}")
    if mode not in ('nearest', 'bilinear'):
        raise ValueError(f"interpolate: mode must be 'nearest' or 'bilinear', got {mode!r}")
    if (scale_factor is None) == (size is None):
        raise ValueError("interpolate: give exactly one of size and scale_factor, "
                         f"got size={size!r}, scale_factor={scale_factor!r}")
    if x.dtype.kind != 'f':
        raise TypeError(f"interpolate: input must be floating point, got {x.dtype}")
    H, W = x.shape[2:]
    if size is not None:
        out = _pair('interpolate', 'size', size, 1)
        factors = (None, None)
    else:
        factors = (scale_factor, scale_factor) if np.isscalar(scale_factor) else tuple(scale_factor)
        if len(factors) != 2 or not all(f > 0 for f in factors):
            raise ValueError(f"interpolate: scale_factor must be a positive number or pair, "
                             f"got {scale_factor!r}")
        out = (int(np.floor(H * factors[0])), int(np.floor(W * factors[1])))
        if min(out) < 1:
            raise ValueError(f"interpolate: scale_factor {scale_factor} makes input {x.shape} "
                             f"an empty {out} image")
    A_h, A_w = (_resize_matrix(n, m, f, mode, align_corners, x.dtype)
                for n, m, f in zip((H, W), out, factors))
    repeats = (_repeat_factor(A_h), _repeat_factor(A_w)) if mode == 'nearest' else (None,)
    if None not in repeats:
        return RepeatPixels.apply(x, factors=repeats)
    xp = array_module(x.data)
    return Resize2d.apply(x, A_h=xp.asarray(A_h), A_w=xp.asarray(A_w))
