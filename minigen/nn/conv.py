"""Conv2d and ConvTranspose2d: the convolution layers (the ops are autograd/ops/conv.py).

Conv2d, x (N, C_in, H, W) -> y (N, C_out, H_out, W_out):
    y[n, o] = b[o] + sum_c W[o, c] * x[n, c]        (* : 2-D cross-correlation)
    H_out = floor((H + 2 padding - dilation (k - 1) - 1) / stride) + 1
    W: (C_out, C_in / groups, k, k)                  parameters: C_out C_in k^2 / groups + C_out
ConvTranspose2d, the adjoint of Conv2d's input map (it upsamples: stride 2 doubles H):
    H_out = (H - 1) stride - 2 padding + dilation (k - 1) + output_padding + 1
    W: (C_in, C_out / groups, k, k)

Init (PyTorch's): W ~ kaiming_uniform_(a=sqrt(5)) = U(-1/sqrt(fan_in), 1/sqrt(fan_in)) and
b ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in)), with fan_in = W.shape[1] * k * k: that is
C_in / groups * k^2 for Conv2d and, as PyTorch computes it from the weight's shape,
C_out / groups * k^2 for ConvTranspose2d.
"""
import math

import autograd
import minigen.nn.functional as F

from . import init
from .module import Module, Parameter, check_size


class _ConvNd(Module):
    """What the two layers share: the size checks, the weight (C_a, C_b / groups, k, k),
    the bias, init, repr. Every size is checked here, before the initialiser divides by
    fan_in or a forward meets stride 0."""

    def __init__(self, in_channels, out_channels, kernel_size, stride, padding, dilation,
                 groups, bias, transposed):
        super().__init__()
        name = type(self).__name__
        in_channels, out_channels, groups = (check_size(name, n, v) for n, v in (
            ('in_channels', in_channels), ('out_channels', out_channels), ('groups', groups)))
        if in_channels % groups or out_channels % groups:
            raise ValueError(f"{name}: groups={groups} must divide in_channels={in_channels} "
                             f"and out_channels={out_channels}")
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size = check_size(name, 'kernel_size', kernel_size, pair=True)
        self.stride = check_size(name, 'stride', stride, pair=True)
        self.padding = check_size(name, 'padding', padding, least=0, pair=True)
        self.dilation, self.groups = check_size(name, 'dilation', dilation, pair=True), groups
        weight_shape = ((in_channels, out_channels // groups) if transposed
                        else (out_channels, in_channels // groups))
        self.weight = Parameter(autograd.zeros(*weight_shape, *self.kernel_size))
        self.bias = Parameter(autograd.zeros(out_channels)) if bias else None
        self.reset_parameters()

    def reset_parameters(self):
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))  # = U(-1/sqrt(fan_in), 1/sqrt(fan_in))
        if self.bias is not None:
            fan_in, _ = init.calculate_fan_in_and_fan_out(self.weight)
            bound = 1 / math.sqrt(fan_in)
            init.uniform_(self.bias, -bound, bound)

    def extra_repr(self):
        s = (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
             f"stride={self.stride}")
        for name, default in (('padding', (0, 0)), ('output_padding', (0, 0)),
                              ('dilation', (1, 1)), ('groups', 1)):
            value = getattr(self, name, default)
            if value != default:
                s += f", {name}={value}"
        return s + ('' if self.bias is not None else ', bias=False')


class Conv2d(_ConvNd):
    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0,
                 dilation=1, groups=1, bias=True):
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation,
                         groups, bias, transposed=False)

    def forward(self, x):
        return F.conv2d(x, self.weight, self.bias, self.stride, self.padding, self.dilation,
                        self.groups)


class ConvTranspose2d(_ConvNd):
    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0,
                 output_padding=0, groups=1, bias=True, dilation=1):
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation,
                         groups, bias, transposed=True)
        self.output_padding = check_size('ConvTranspose2d', 'output_padding', output_padding,
                                         least=0, pair=True)
        if any(op >= max(s, d) for op, s, d in zip(self.output_padding, self.stride,
                                                    self.dilation)):
            raise ValueError(f"ConvTranspose2d: output_padding {self.output_padding} must be "
                             f"smaller than stride {self.stride} or dilation {self.dilation}")

    def forward(self, x):
        return F.conv_transpose2d(x, self.weight, self.bias, self.stride, self.padding,
                                  self.output_padding, self.groups, self.dilation)
