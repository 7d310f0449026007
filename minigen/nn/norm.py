"""Normalization layers: GroupNorm, LayerNorm, BatchNorm2d, and GroupNormSiLU (the ops are
in autograd/ops/norm.py).

Each one standardizes x over some axes R and then scales and shifts per channel:
    y = (x - mean_R(x)) / sqrt(var_R(x) + eps) * gamma + beta      (var: biased, 1/n)
What R is:
    BatchNorm2d  (Ioffe & Szegedy 2015, arXiv:1502.03167)  over N, H, W for each channel;
                 at eval time the running estimates replace the batch's statistics:
                     running <- (1 - momentum) running + momentum batch statistic
                 (running_var from the unbiased batch variance, as PyTorch)
    LayerNorm    (Ba et al. 2016, arXiv:1607.06450)  over the last axes, normalized_shape
    GroupNorm    (Wu & He 2018, arXiv:1803.08494)  over each group of C / G channels and H, W
gamma (`weight`) and beta (`bias`) have one entry per channel (per element of
normalized_shape for LayerNorm). Init (PyTorch's): weight 1, bias 0; running_mean 0,
running_var 1.

Fused for speed: GroupNormSiLU is SiLU(GroupNorm(x)), the pair that opens every residual
branch of a diffusion UNet (Ho et al. 2020, arXiv:2006.11239, appendix B), computed as one
op (F.group_norm_silu) that makes fewer passes over x than the two layers in a row. Its
adaptive form, for a per-sample (scale, shift),

    SiLU(GN(x) (1 + scale) + shift)          (adaptive group norm: Dhariwal & Nichol 2021,
                                              arXiv:2105.05233, section 3; the 1 + scale
                                              form of github.com/openai/guided-diffusion)

composes GroupNorm and SiLU, since the modulation sits between the two.
"""
import autograd
import minigen.nn.functional as F

from .module import Module, Parameter, check_size


def _affine(shape, affine):
    if not affine:
        return None, None
    return Parameter(autograd.ones(*shape)), Parameter(autograd.zeros(*shape))


class GroupNorm(Module):
    def __init__(self, num_groups, num_channels, eps=1e-5, affine=True):
        super().__init__()
        name = type(self).__name__
        num_groups = check_size(name, 'num_groups', num_groups)
        num_channels = check_size(name, 'num_channels', num_channels)
        if num_channels % num_groups:
            raise ValueError(f"{name}: num_groups={num_groups} must divide "
                             f"num_channels={num_channels}")
        self.num_groups, self.num_channels, self.eps = num_groups, num_channels, eps
        self.weight, self.bias = _affine((num_channels,), affine)

    def forward(self, x):
        return F.group_norm(x, self.num_groups, self.weight, self.bias, self.eps)

    def extra_repr(self):
        return (f"{self.num_groups}, {self.num_channels}, eps={self.eps}, "
                f"affine={self.weight is not None}")


class GroupNormSiLU(GroupNorm):
    """SiLU(GroupNorm(x)) with GroupNorm's parameters (and state_dict names); fused for speed.

    forward(x) is one op, F.group_norm_silu. forward(x, scale, shift), with scale and shift
    broadcasting against x (e.g. (N, C, 1, 1)), is SiLU(GN(x) (1 + scale) + shift), the
    adaptive group norm of Dhariwal & Nichol 2021 (arXiv:2105.05233), as two ops."""

    def forward(self, x, scale=None, shift=None):
        if scale is None and shift is None:
            return F.group_norm_silu(x, self.num_groups, self.weight, self.bias, self.eps)
        h = super().forward(x)
        if scale is not None:
            h = h * (1 + scale)
        return F.silu(h if shift is None else h + shift)


class LayerNorm(Module):
    def __init__(self, normalized_shape, eps=1e-5, elementwise_affine=True):
        super().__init__()
        shape = (normalized_shape,) if isinstance(normalized_shape, int) else normalized_shape
        try:
            shape = tuple(check_size('LayerNorm', 'normalized_shape', n) for n in shape)
        except (ValueError, TypeError):
            raise ValueError(f"LayerNorm: normalized_shape must be an int >= 1 or a tuple of "
                             f"them, got {normalized_shape!r}") from None
        if not shape:
            raise ValueError("LayerNorm: normalized_shape must be an int >= 1 or a tuple of "
                             "them, got ()")
        self.normalized_shape, self.eps = shape, eps
        self.weight, self.bias = _affine(shape, elementwise_affine)

    def forward(self, x):
        return F.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)

    def extra_repr(self):
        return (f"{self.normalized_shape}, eps={self.eps}, "
                f"elementwise_affine={self.weight is not None}")


class BatchNorm2d(Module):
    """Training (model.train()) normalizes with the batch's statistics and updates the
    running estimates in place; eval (model.eval()) normalizes with the running estimates."""

    def __init__(self, num_features, eps=1e-5, momentum=0.1, affine=True):
        super().__init__()
        num_features = check_size('BatchNorm2d', 'num_features', num_features)
        self.num_features, self.eps, self.momentum = num_features, eps, momentum
        self.weight, self.bias = _affine((num_features,), affine)
        self.register_buffer('running_mean', autograd.zeros(num_features))
        self.register_buffer('running_var', autograd.ones(num_features))

    def forward(self, x):
        if x.ndim != 4:
            raise ValueError(f"BatchNorm2d: x must be (N, C, H, W), got shape {x.shape}")
        return F.batch_norm(x, self.running_mean, self.running_var, self.weight, self.bias,
                            self.training, self.momentum, self.eps)

    def extra_repr(self):
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, "
                f"affine={self.weight is not None}")
