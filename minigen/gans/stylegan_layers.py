"""StyleGAN's layers: the mapping network, the modulated convolution, the noise input.

Karras, Laine & Aila 2019, "A Style-Based Generator Architecture for Generative
Adversarial Networks" (arXiv:1812.04948), and Karras et al. 2020, "Analyzing and
Improving the Image Quality of StyleGAN" (StyleGAN2, arXiv:1912.04958). The generator
that puts them together is stylegan.py.

Equalized learning rate (Karras et al. 2018, arXiv:1710.10196, sec. 4.1): every weight
is stored as N(0, 1) / lr_multiplier and scaled at run time,
    W_used = W * c,   c = lr_multiplier / sqrt(fan_in),   b_used = b * lr_multiplier,
so Adam, whose steps have about the same size for every parameter, moves every layer's
output at the same relative speed. The mapping network uses lr_multiplier 0.01: its
weights move 100 times slower than the synthesis network's.

Mapping network (StyleGAN sec. 2; 2 layers at this scale, as the official code's small
configurations): z ~ N(0, I) is pixel-normalized, then an MLP gives the intermediate
latent w,
    pixel_norm(z) = z / sqrt(mean_j z_j^2 + 1e-8),
    h <- lrelu(W h + b) sqrt(2)            (the sqrt(2) gain keeps the variance of h)
and the mean w_avg of the w's it produces is tracked while training,
    w_avg <- w_avg + (1 - beta) (mean_batch w - w_avg),   beta = 0.995,
for the truncation trick (stylegan.py).

Modulated convolution with weight demodulation (StyleGAN2 sec. 2.2, eqs. 1-3). A style
s = A(w) (an affine map of w, bias 1 so that s starts near 1) scales each input channel
of the weight, and the result is renormalized per output channel:
    w'_{o,c,k} = s_c w_{o,c,k}                                           (eq. 1)
    w''_{o,c,k} = w'_{o,c,k} / sqrt(sum_{c,k} w'_{o,c,k}^2 + eps)        (eq. 3)
For inputs of unit variance, independent across channels and pixels, the output
y_o = sum_{c,k} w'_{o,c,k} x_c has std sqrt(sum w'^2) (eq. 2), so demodulation gives
unit-variance outputs again: no AdaIN is needed, and no "droplet" artifacts appear.
Written on the weights, each example has its own kernel (a grouped convolution). Here
the two scalings are moved off the weight, as the official code does with
fused_modconv=False:
    y = d * conv(x * s; w),   d_{n,o} = 1 / sqrt(sum_c s_{n,c}^2 sum_k w_{o,c,k}^2 + eps)
This is the same as convolving with w'': a convolution is linear in its input and in
its weight, sum_{c,k} (s_c w_{o,c,k}) x_{c,p+k} = sum_{c,k} w_{o,c,k} (s_c x_{c,p+k}),
because s_c does not depend on the position k; and d_o multiplies every term of output
channel o's sum, so it can scale the sum afterwards. So the existing conv2d op serves,
and the gradient is that of the composition (tests check it by central differences).

Noise inputs (StyleGAN sec. 2, "stochastic variation"): after each convolution a fresh
single-channel image of N(0, 1) per-pixel noise is added, scaled per channel by learned
factors B (initialized at 0, so noise is switched on only where it helps):
    x_{n,c,p} <- x_{n,c,p} + B_c noise_{n,p}
B can take an lr multiplier as the mapping network does (B = weight * lr_multiplier):
at 16x16 MNIST, B learnt at the full rate makes the generator paint per-pixel speckle
(demos/README.md, stylegan.py's probes), so the demo lets B learn 100 times slower.
"""
import math

import autograd
from minigen import nn
import minigen.nn.functional as F

LRELU_GAIN = math.sqrt(2.0)


def lrelu(x):
    """leaky ReLU(0.2) times sqrt(2), which keeps unit-variance inputs near unit variance."""
    return F.leaky_relu(x, 0.2) * LRELU_GAIN


def pixel_norm(x, eps=1e-8):
    """x / sqrt(mean over features of x^2 + eps), per row of x (N, D)."""
    return x / ((x * x).mean(axis=1, keepdims=True) + eps).sqrt()


def modulated_conv2d(x, weight, styles, demodulate=True, padding=0, eps=1e-8):
    """y = d * conv2d(x * s; w) (the module docstring), for x (N, C, H, W), weight
    (O, C, k, k) and styles s (N, C): each example's own demodulated kernel, without
    building it. demodulate=False leaves out d (toRGB layers)."""
    if x.ndim != 4 or weight.ndim != 4 or styles.shape != (x.shape[0], x.shape[1]) \
            or weight.shape[1] != x.shape[1]:
        raise ValueError(f"modulated_conv2d: expected x (N, C, H, W), weight (O, C, k, k) "
                         f"and styles (N, C) with the same N and C, got x {x.shape}, "
                         f"weight {weight.shape}, styles {styles.shape}")
    n, c = styles.shape
    y = F.conv2d(x * styles.reshape(n, c, 1, 1), weight, None, 1, padding)   # conv(x * s; w)
    if not demodulate:
        return y
    # sum_{c,k} (s_c w_{o,c,k})^2 = sum_c s_c^2 (sum_k w_{o,c,k}^2): (N, C) @ (C, O)
    energy = (styles * styles) @ (weight * weight).sum(axis=(2, 3)).T
    d = 1 / (energy + eps).sqrt()                                          # eq. 3
    return y * d.reshape(n, weight.shape[0], 1, 1)


class EqualizedLinear(nn.Module):
    """y = x (W c)^T + b lr_multiplier, c = lr_multiplier / sqrt(in_features), W ~ N(0, 1)
    / lr_multiplier (equalized learning rate); b starts at bias_init."""

    def __init__(self, in_features, out_features, bias_init=0.0, lr_multiplier=1.0):
        super().__init__()
        self.weight = nn.Parameter(autograd.randn(out_features, in_features) / lr_multiplier)
        self.bias = nn.Parameter(autograd.full((out_features,), bias_init / lr_multiplier))
        self.weight_gain = lr_multiplier / math.sqrt(in_features)
        self.lr_multiplier = lr_multiplier

    def forward(self, x):
        return x @ (self.weight * self.weight_gain).T + self.bias * self.lr_multiplier


class MappingNetwork(nn.Module):
    """z (N, z_dim) -> w (N, w_dim): pixel norm, then `num_layers` equalized linear layers
    with leaky ReLU; tracks w_avg (a buffer) while training."""

    def __init__(self, z_dim=64, w_dim=64, num_layers=2, lr_multiplier=0.01, w_avg_beta=0.995):
        super().__init__()
        if num_layers < 1:
            raise ValueError(f"MappingNetwork: num_layers must be >= 1, got {num_layers}")
        self.z_dim, self.w_dim, self.w_avg_beta = z_dim, w_dim, w_avg_beta
        dims = [z_dim] + [w_dim] * num_layers
        self.layers = nn.ModuleList([EqualizedLinear(a, b, lr_multiplier=lr_multiplier)
                                     for a, b in zip(dims[:-1], dims[1:])])
        self.register_buffer('w_avg', autograd.zeros(w_dim))

    def forward(self, z):
        if z.ndim != 2 or z.shape[1] != self.z_dim:
            raise ValueError(f"MappingNetwork: expected z of shape (N, {self.z_dim}), got "
                             f"{z.shape}")
        h = pixel_norm(z)
        for layer in self.layers:
            h = lrelu(layer(h))
        if self.training:  # w_avg <- w_avg + (1 - beta)(mean w - w_avg), outside the graph
            mean = h.detach().mean(axis=0).data
            self.w_avg.data[...] += (1 - self.w_avg_beta) * (mean - self.w_avg.data)
        return h


class NoiseInjection(nn.Module):
    """x + B_c noise_{n,p}: per-pixel N(0, 1) noise, one image per example shared by the
    channels, scaled per channel by learned B (zeros at init), B = weight * lr_multiplier
    (equalized learning rate: B moves lr_multiplier times as fast as with a plain
    parameter). `noise` (N, 1, H, W) may be given; by default it is drawn from the
    engine's seeded generator."""

    def __init__(self, channels, lr_multiplier=1.0):
        super().__init__()
        self.weight = nn.Parameter(autograd.zeros(channels))
        self.lr_multiplier = lr_multiplier

    def strength(self):
        """B, the per-channel noise scales in use."""
        return self.weight * self.lr_multiplier

    def forward(self, x, noise=None):
        n, c, h, w = x.shape
        if noise is None:
            noise = autograd.randn(n, 1, h, w, dtype=x.dtype, device=x.device)
        return x + self.strength().reshape(1, c, 1, 1) * noise


class ModulatedConv2d(nn.Module):
    """The synthesis network's layer: style s = A(w) (equalized linear, bias 1), then
    modulated_conv2d with a k x k equalized weight (same padding), noise, bias, leaky ReLU.
    toRGB is the same with k = 1, no demodulation, no noise and no activation."""

    def __init__(self, in_channels, out_channels, w_dim, kernel_size=3, demodulate=True,
                 noise=True, activation=True, noise_lr_multiplier=1.0):
        super().__init__()
        self.affine = EqualizedLinear(w_dim, in_channels, bias_init=1.0)
        self.weight = nn.Parameter(autograd.randn(out_channels, in_channels, kernel_size,
                                                  kernel_size))
        self.bias = nn.Parameter(autograd.zeros(out_channels))
        self.weight_gain = 1 / math.sqrt(in_channels * kernel_size ** 2)
        self.demodulate, self.activation = demodulate, activation
        self.padding = kernel_size // 2
        self.noise = NoiseInjection(out_channels, noise_lr_multiplier) if noise else None

    def forward(self, x, w, noise=None):
        s = self.affine(w)
        if not self.demodulate:  # toRGB: keep the output's scale fixed by the weight gain
            s = s * self.weight_gain
        y = modulated_conv2d(x, self.weight, s, self.demodulate, self.padding)
        if self.noise is not None:
            y = self.noise(y, noise)
        y = y + self.bias.reshape(1, -1, 1, 1)
        return lrelu(y) if self.activation else y


class EqualizedConv2d(nn.Module):
    """conv2d(x, W c) + b, c = 1 / sqrt(in_channels k^2), W ~ N(0, 1) (equalized learning
    rate, as EqualizedLinear); same padding. The discriminator's layer
    (stylegan_discriminator.py)."""

    def __init__(self, in_channels, out_channels, kernel_size=3, bias=True):
        super().__init__()
        self.weight = nn.Parameter(autograd.randn(out_channels, in_channels, kernel_size,
                                                  kernel_size))
        self.bias = nn.Parameter(autograd.zeros(out_channels)) if bias else None
        self.weight_gain = 1 / math.sqrt(in_channels * kernel_size ** 2)
        self.padding = kernel_size // 2

    def forward(self, x):
        return F.conv2d(x, self.weight * self.weight_gain, self.bias, 1, self.padding)
