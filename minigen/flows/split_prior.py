"""Glow's learned prior for the factored-out half: a Gaussian whose mean and scale are
predicted from the half that stays, instead of a fixed N(0, I).

Kingma & Dhariwal 2018, "Glow" (arXiv:1807.03039), Fig. 2 and its code (`split2d`,
`split2d_prior`); the idea is RealNVP's factoring-out (Dinh et al. 2017, arXiv:1605.08803,
sec. 3.6) with a conditional prior. At a split, h = (z, h_kept) along the channels: z is
factored out, h_kept goes on to the next scale. Rather than p(z) = N(0, I),

    (mu, log sigma) = NN(h_kept)            a zero-initialised 3x3 convolution
    p(z | h_kept) = N(z; mu, sigma^2)

which costs nothing to invert, since h_kept is known on both ways. Written as a flow layer,
the prior is a standard normal on

    eps = (z - mu) * exp(-log sigma),       h_kept unchanged
    log |det d eps / dz| = -sum log sigma

because then log N(eps; 0, I) - sum log sigma = log N(z; mu, sigma^2) exactly (the
Gaussian's density, written out), so the engine's standard-normal prior over all latents
(flow.py) scores z by its learned prior; the inverse is z = mu + sigma * eps. It is an
affine coupling (coupling.py) whose network sees only the kept half and whose log-scale is
unbounded, as in Glow. With the convolution zero at first, mu = 0 and sigma = 1: the layer
starts as the identity and the prior as RealNVP's N(0, I). Sampling at temperature T,
eps ~ N(0, T^2 I), draws z ~ N(mu, (T sigma)^2) (Glow sec. 5.4).
"""
import autograd
import minigen.nn as nn


class SplitPrior(nn.Module):
    """h (N, 2C, H, W) = (z, h_kept) -> (eps, h_kept): the first C channels are the
    factored-out z (multiscale.py keeps the second half), standardised by the Gaussian
    N(mu, sigma^2) that a zero-initialised conv predicts from h_kept."""

    def __init__(self, channels):
        super().__init__()
        if channels % 2:
            raise ValueError(f"SplitPrior: the channels split in two halves, got {channels}")
        half = channels // 2
        self.conv = nn.Conv2d(half, 2 * half, 3, padding=1)
        nn.init.zeros_(self.conv.weight)
        nn.init.zeros_(self.conv.bias)

    def prior(self, h_kept):
        """mu and log sigma of the factored-out half, each (N, C, H, W)."""
        out = self.conv(h_kept)
        c = h_kept.shape[1]
        return out[:, :c], out[:, c:]

    def forward(self, h):
        c = h.shape[1] // 2
        z, h_kept = h[:, :c], h[:, c:]
        mu, log_sigma = self.prior(h_kept)
        eps = (z - mu) * (-log_sigma).exp()
        return (autograd.cat([eps, h_kept], axis=1),
                -log_sigma.reshape(h.shape[0], -1).sum(axis=1))

    def inverse(self, h):
        c = h.shape[1] // 2
        eps, h_kept = h[:, :c], h[:, c:]
        mu, log_sigma = self.prior(h_kept)
        return autograd.cat([mu + eps * log_sigma.exp(), h_kept], axis=1)
