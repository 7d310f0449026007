"""The multi-scale architecture: at each scale, squeeze, a few flow steps, then factor
out half of the channels as latents, so that the deeper (costlier) steps run on fewer
dimensions and the latents hold structure at several scales.

Dinh, Sohl-Dickstein & Bengio 2017, "Density estimation using Real NVP" (arXiv:1605.08803),
sec. 3.6, eq. 13-14; Kingma & Dhariwal 2018, "Glow" (arXiv:1807.03039), Fig. 2.

    h^(0) = x
    (z^(l+1), h^(l+1)) = split(f^(l+1)(h^(l)))        half of the channels each
    z^(L) = f^(L)(h^(L-1))
    z = (z^(1), ..., z^(L))                           (RealNVP eq. 13-14)

and p(z) = N(0, I) over all of z (RealNVP's prior), or, with split_prior=True, Glow's
learned prior for each factored half, N(mu, sigma^2) predicted from the half that stays
(split_prior.py, a last layer of the scale that standardises z^(l+1)). A factored half
passes through the later scales untouched, so its Jacobian is the identity and
log |det dz/dx| is the sum of every step's log-det.

Here a scale l is Glow's: squeeze, then K steps of
    ActNorm (actnorm.py) -> InvertibleConv1x1 (invconv.py) -> affine coupling with a channel
    mask (coupling.ChannelCoupling, nets.ConvNet with hidden[l] channels)
and, as in RealNVP's first scale, `checkerboard_steps` couplings with checkerboard masks
(each after an ActNorm) may come first, on the full-resolution image. For a 1 x 28 x 28
image and 2 scales: (1, 28, 28) -> squeeze (4, 14, 14) -> split off 2 x 14 x 14 ->
squeeze (8, 7, 7); z holds 2 * 14 * 14 + 8 * 7 * 7 = 784 numbers, as many as x.
"""
import autograd
import minigen.nn as nn

from .actnorm import ActNorm
from .coupling import AffineCoupling, ChannelCoupling, checkerboard_mask
from .flow import FlowSequence
from .invconv import InvertibleConv1x1
from .split_prior import SplitPrior
from .nets import ConvNet
from .squeeze import Squeeze


def glow_step(channels, hidden, parity, scale):
    """ActNorm, invertible 1x1 convolution, channel-wise affine coupling."""
    return FlowSequence(ActNorm(channels), InvertibleConv1x1(channels),
                        ChannelCoupling(channels, parity, ConvNet(channels // 2, hidden), scale))


class MultiScaleFlow(nn.Module):
    """x (N, C, H, W) -> z (N, C H W) (the latents of every scale, flattened and
    concatenated) and log |det dz/dx| (N,)."""

    def __init__(self, image_shape=(1, 28, 28), steps=4, hidden=(32, 64),
                 checkerboard_steps=2, checkerboard_hidden=16, scale='tanh',
                 split_prior=False):
        super().__init__()
        c, h, w = image_shape
        if h % 2 ** len(hidden) or w % 2 ** len(hidden):
            raise ValueError(f"MultiScaleFlow: {len(hidden)} scales halve {h} x {w} "
                             f"{len(hidden)} times; it must stay whole")
        self.image_shape = tuple(image_shape)
        self.first = FlowSequence(*[
            layer for k in range(checkerboard_steps) for layer in (
                ActNorm(c), AffineCoupling(c, checkerboard_mask(h, w, k % 2),
                                           ConvNet(c, checkerboard_hidden), scale))])
        scales, self.latent_shapes = [], []
        for level, width in enumerate(hidden):
            c, h, w = 4 * c, h // 2, w // 2
            layers = [Squeeze()] + [glow_step(c, width, k % 2, scale) for k in range(steps)]
            if level < len(hidden) - 1:  # factor out half of the channels
                layers += [SplitPrior(c)] if split_prior else []
                c //= 2
                self.latent_shapes.append((c, h, w))
            scales.append(FlowSequence(*layers))
        self.latent_shapes.append((c, h, w))
        self.scales = nn.ModuleList(scales)

    def forward(self, x):
        h, logdet = self.first(x)
        latents = []
        for level, scale in enumerate(self.scales):
            h, ld = scale(h)
            logdet = logdet + ld
            if level < len(self.scales) - 1:  # split: z^(l+1) = first half, go on with the rest
                half = h.shape[1] // 2
                latents.append(h[:, :half].reshape(h.shape[0], -1))
                h = h[:, half:]
        latents.append(h.reshape(h.shape[0], -1))
        return autograd.cat(latents, axis=1), logdet

    def inverse(self, z):
        sizes = [c * h * w for c, h, w in self.latent_shapes]
        parts, start = [], 0
        for size, shape in zip(sizes, self.latent_shapes):
            parts.append(z[:, start:start + size].reshape(z.shape[0], *shape))
            start += size
        h = parts.pop()
        for level in reversed(range(len(self.scales))):
            if level < len(self.scales) - 1:  # put the factored-out half back
                h = autograd.cat([parts.pop(), h], axis=1)
            h = self.scales[level].inverse(h)
        return self.first.inverse(h)
