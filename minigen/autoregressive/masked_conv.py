"""Masked convolutions: a convolution that sees only the pixels before the centre.

van den Oord, Kalchbrenner & Kavukcuoglu 2016, "Pixel Recurrent Neural Networks"
(arXiv:1601.06759), section 3.4. An autoregressive image model factorises

    p(x) = prod_i p(x_i | x_1, ..., x_{i-1})        (pixels in raster order: row by row)

so output pixel i may depend on input pixels j < i only. A k x k convolution (padding k // 2)
obeys this when its weight is multiplied by a mask M over the kernel's (row, column) offsets:

    M[r, c] = 1  if r < k // 2, or r = k // 2 and c < k // 2     (type A: centre excluded)
    M[r, c] = 1  if r < k // 2, or r = k // 2 and c <= k // 2    (type B: centre included)

Type A is the first layer (output i must not see input i); type B every later one (feature i
already summarises pixels < i, so it may be read). The mask multiplies the weight inside the
forward, y = conv(x, W * M), so the existing conv op does the work and the engine's product
rule masks the gradient too: dL/dW = M * dL/d(W * M), and a masked weight never moves.

The mask is spatial only: one channel per pixel (binary or grey images), as in this family.
"""
import numpy as np

import autograd
import minigen.nn.functional as F
from minigen.nn import Conv2d


def raster_mask(kernel_size, mask_type):
    """The (kh, kw) kernel mask of type 'A' or 'B' (ones at the offsets before the centre)."""
    if mask_type not in ('A', 'B'):
        raise ValueError(f"raster_mask: mask_type must be 'A' or 'B', got {mask_type!r}")
    kh, kw = kernel_size
    mask = np.zeros((kh, kw))
    mask[:kh // 2] = 1                                        # rows above the centre
    mask[kh // 2, :kw // 2 + (mask_type == 'B')] = 1   # the centre row: left of (B: and at) it
    return mask


class MaskedConv2d(Conv2d):
    """Conv2d(in, out, k, padding=k // 2) whose weight is masked (type 'A' or 'B') on every
    forward: output pixel (i, j) reads inputs before (i, j) in raster order (B: and (i, j))."""

    def __init__(self, in_channels, out_channels, kernel_size, mask_type, bias=True):
        super().__init__(in_channels, out_channels, kernel_size, bias=bias)
        kh, kw = self.kernel_size
        if kh % 2 == 0 or kw % 2 == 0:
            raise ValueError(f"MaskedConv2d: kernel_size must be odd to have a centre, got "
                             f"{self.kernel_size}")
        self.padding = (kh // 2, kw // 2)
        self.mask_type = mask_type
        self.register_buffer('mask', autograd.tensor(raster_mask(self.kernel_size, mask_type),
                                                     dtype=self.weight.dtype))

    def forward(self, x):
        return F.conv2d(x, self.weight * self.mask, self.bias, 1, self.padding)  # W * M

    def extra_repr(self):
        return super().extra_repr() + f", mask_type={self.mask_type!r}"
