"""A normalizing flow: an invertible map whose Jacobian determinant is cheap, and the exact
log-likelihood it gives by the change of variables.

Dinh, Sohl-Dickstein & Bengio 2017, "Density estimation using Real NVP" (arXiv:1605.08803),
sec. 3.1; Kingma & Dhariwal 2018, "Glow" (arXiv:1807.03039), sec. 2.

A bijection f: x -> z onto a simple prior p_Z = N(0, I) gives x the density

    log p_X(x) = log p_Z(f(x)) + log |det df/dx|                         (RealNVP eq. 3)

and f = f_K o ... o f_1 adds the layers' log-determinants, h_0 = x, h_k = f_k(h_{k-1}):

    log p_X(x) = log p_Z(h_K) + sum_k log |det dh_k / dh_{k-1}|           (Glow eq. 3-4)

Sampling runs the layers backwards, x = f_1^{-1}(... f_K^{-1}(z)), z ~ p_Z. Every layer of
minigen.flows therefore offers

    forward(x) -> (z, logdet)   logdet: (N,), log |det dz/dx| of each sample
    inverse(z) -> x

and the standard normal's log-density, summed over every axis but the batch's, is

    log N(z; 0, I) = -1/2 sum_i z_i^2 - D/2 log(2 pi).
"""
import math

import minigen.nn as nn


def standard_normal_log_prob(z):
    """log N(z; 0, I) of each sample (N,): -1/2 |z|^2 - D/2 log 2 pi, D = z[0].size."""
    d = z[0].size
    return -0.5 * (z * z).reshape(z.shape[0], -1).sum(axis=1) - 0.5 * d * math.log(2 * math.pi)


class FlowSequence(nn.Module):
    """f = f_K o ... o f_1: forward runs the layers in order and adds their log-dets;
    inverse runs their inverses in reverse order."""

    def __init__(self, *layers):
        super().__init__()
        self.layers = nn.ModuleList(list(layers))

    def forward(self, x):
        logdet = 0
        for layer in self.layers:
            x, ld = layer(x)
            logdet = logdet + ld
        return x, logdet

    def inverse(self, z):
        for layer in reversed(list(self.layers)):
            z = layer.inverse(z)
        return z

    def inverse_trajectory(self, z):
        """z, then each h_{k-1} = f_k^{-1}(h_k) down to x: how the prior's samples are moved,
        layer by layer, into the data's shape (K + 1 arrays)."""
        path = [z]
        for layer in reversed(list(self.layers)):
            path.append(layer.inverse(path[-1]))
        return path


def log_likelihood(flow, x):
    """log p_X(x) = log N(f(x); 0, I) + log |det df/dx| of each sample (N,) (RealNVP eq. 3)."""
    z, logdet = flow(x)
    return standard_normal_log_prob(z) + logdet
