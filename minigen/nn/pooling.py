"""Layers that change the shape of images: pooling, upsampling, flattening.

Each wraps one function (formulas in autograd/ops/pool.py and autograd/ops/shape.py):
    MaxPool2d(k, stride=k)    y = max over each k x k window
    AvgPool2d(k, stride=k)    y = mean over each k x k window
    Upsample(scale_factor)    nearest or bilinear resize (F.interpolate)
    Flatten()                 (N, C, H, W) -> (N, C H W): axes start_dim..end_dim as one
"""
import numbers

import minigen.nn.functional as F

from .module import Module, check_size


class _Pool2d(Module):
    def __init__(self, kernel_size, stride=None, padding=0):
        super().__init__()
        name = type(self).__name__
        check_size(name, 'kernel_size', kernel_size, pair=True)
        if stride is not None:
            check_size(name, 'stride', stride, pair=True)
        check_size(name, 'padding', padding, least=0, pair=True)
        self.kernel_size, self.stride, self.padding = kernel_size, stride, padding

    def extra_repr(self):
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class MaxPool2d(_Pool2d):
    def forward(self, x):
        return F.max_pool2d(x, self.kernel_size, self.stride, self.padding)


class AvgPool2d(_Pool2d):
    def forward(self, x):
        return F.avg_pool2d(x, self.kernel_size, self.stride, self.padding)


class Upsample(Module):
    def __init__(self, size=None, scale_factor=None, mode='nearest', align_corners=False):
        super().__init__()
        if (size is None) == (scale_factor is None):
            raise ValueError(f"Upsample: give exactly one of size and scale_factor, got "
                             f"size={size!r}, scale_factor={scale_factor!r}")
        if size is not None:
            check_size('Upsample', 'size', size, pair=True)
        else:
            factors = scale_factor if isinstance(scale_factor, (tuple, list)) else (scale_factor,)
            if not all(isinstance(f, numbers.Real) and not isinstance(f, bool) and f > 0
                       for f in factors) or len(factors) not in (1, 2):
                raise ValueError(f"Upsample: scale_factor must be a positive number or a pair "
                                 f"of them, got {scale_factor!r}")
        self.size, self.scale_factor = size, scale_factor
        self.mode, self.align_corners = mode, align_corners

    def forward(self, x):
        return F.interpolate(x, size=self.size, scale_factor=self.scale_factor, mode=self.mode,
                             align_corners=self.align_corners)

    def extra_repr(self):
        what = f"size={self.size}" if self.size is not None else f"scale_factor={self.scale_factor}"
        return f"{what}, mode={self.mode!r}"


class Flatten(Module):
    def __init__(self, start_dim=1, end_dim=-1):
        super().__init__()
        self.start_dim, self.end_dim = start_dim, end_dim

    def forward(self, x):
        return x.flatten(self.start_dim, self.end_dim)

    def extra_repr(self):
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"
