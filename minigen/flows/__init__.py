"""minigen.flows: normalizing flows, exact log-likelihoods through invertible maps.

Read in this order:
    flow.py            the change of variables: log p(x) = log N(f(x)) + log |det df/dx|;
                       FlowSequence composes layers (Dinh et al. 2017)
    coupling.py        affine coupling: checkerboard and channel masks, a bounded scale
    nets.py            the networks inside a coupling (zero last layer: identity at start)
    squeeze.py         (C, H, W) -> (4C, H/2, W/2), a permutation
    actnorm.py         per-channel scale and shift, initialised from the first batch (Glow)
    invconv.py         invertible 1x1 convolution, log |det W| by slogdet (Glow)
    multiscale.py      squeeze, steps, factor out half the channels, at each scale
    split_prior.py     Glow's learned prior N(mu, sigma) of a factored half, given the rest
    logit.py           [0, 1] -> R, with its log-det
    dequantization.py  uniform dequantization; bits per dimension with the + 8 term
    image_flow.py      the image model: dequantize, logit, multi-scale flow, samples at T
    flow2d.py          2-D flows on toy2d: density heat maps, the grid carried layer by layer,
                       the fitted Gaussian their -log p is read against
"""
from .flow import FlowSequence, standard_normal_log_prob, log_likelihood  # noqa: F401
from .coupling import AffineCoupling, ChannelCoupling, checkerboard_mask, channel_mask  # noqa: F401
from .nets import ConvNet, MLP  # noqa: F401
from .squeeze import Squeeze  # noqa: F401
from .actnorm import ActNorm  # noqa: F401
from .invconv import InvertibleConv1x1  # noqa: F401
from .split_prior import SplitPrior  # noqa: F401
from .multiscale import MultiScaleFlow, glow_step  # noqa: F401
from .logit import LogitTransform  # noqa: F401
from .dequantization import dequantize, bits_per_dim, to_bins  # noqa: F401
from .image_flow import ImageFlow  # noqa: F401
from .flow2d import (flow_2d, gaussian_nll, grid_points, log_density_grid, grid_lines,  # noqa: F401
                     layer_by_layer)
