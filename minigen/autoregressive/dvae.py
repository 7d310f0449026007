"""The discrete VAE (dVAE) of DALL-E: images as a grid of tokens from a categorical posterior.

Ramesh et al. 2021, "Zero-Shot Text-to-Image Generation" (arXiv:2102.12092), Sec. 2.1.
The VQ-VAE's encoder and decoder (minigen/autoencoders/blocks.py), but the encoder outputs
logits over K codes at each of the h x w grid positions, a categorical posterior

    q_phi(z_ij = k | x) = softmax_k(l_ij),        l = E(x)  (N, K, h, w)

instead of a vector snapped to its nearest code. The draw of z is relaxed by Gumbel-softmax
(Jang, Gu & Poole 2016, arXiv:1611.01144; Maddison et al. 2016, arXiv:1611.00712),

    y_ij = softmax((l_ij + g_ij) / tau),  g ~ Gumbel(0, 1),    e_ij = sum_k y_ijk e_k,

so the gradient reaches the encoder through y ("instead of copying gradients": the VQ-VAE's
straight-through estimator), and the decoder reads the mixture of codes e_ij (a 1 x 1
convolution of the relaxed one-hot by the codebook e (K, D), the first layer of DALL-E's
decoder). The temperature is annealed from tau_0 = 1 towards tau_T = 1/16 (the paper's),
here exponentially over training,  tau(s) = tau_0 (tau_T / tau_0)^(s / S),  so that y ends
close to one-hot and the decoder sees at training what it sees at sampling: e_{argmax l}.
The loss is the negative evidence lower bound with a weight beta on the KL term,

    L = ||x - D(e)||^2 + beta KL(q_phi(z | x) || U(K)),
    KL(q || U) = sum_k q_k log(q_k K)  per position (mean over positions),

the uniform prior U(K); a larger beta keeps the posteriors spread, which keeps many codes in
use (the paper raises beta to 6.6 for "better codebook usage"). Codebook use is reported as
the perplexity exp(-sum_k p_k log p_k) of the frequencies p_k of the argmax codes, as
minigen/autoencoders/vqvae.py reports it (K when every code is used evenly).
"""
import numpy as np

import autograd
import minigen.nn as nn
import minigen.nn.functional as F
from minigen.autoencoders.blocks import ConvDecoder, ConvEncoder, check_images


def temperature(step, steps, tau_start=1.0, tau_end=1 / 16):
    """tau(s) = tau_0 (tau_T / tau_0)^(s / S): exponential annealing, held at tau_T after S."""
    return tau_start * (tau_end / tau_start) ** min(1.0, step / max(steps, 1))


def perplexity(indices, num_codes):
    """exp(entropy) of the code frequencies of `indices` (any shape): 1 (one code) to K."""
    p = np.bincount(np.asarray(indices).ravel(), minlength=num_codes) / np.asarray(indices).size
    return float(np.exp(-(p * np.log(p + 1e-10)).sum()))


class DiscreteVAE(nn.Module):
    """Images (N, C, H, W) in [0, 1] (mapped to [-1, 1] inside) -> logits (N, K, H/2^L, W/2^L)
    -> Gumbel-softmax -> mixture of codes (N, D, h, w) -> ConvDecoder -> images."""

    def __init__(self, image_shape=(3, 32, 32), hidden=(32, 64), num_codes=64, code_dim=16):
        super().__init__()
        c, h, w = image_shape
        s = 2 ** len(hidden)
        if h % s or w % s:
            raise ValueError(f"dvae.DiscreteVAE: {len(hidden)} down levels need H and W "
                             f"divisible by {s}, got {image_shape}")
        self.image_shape, self.num_codes = tuple(image_shape), num_codes
        self.grid = (h // s, w // s)
        self.encoder = ConvEncoder(c, hidden, num_codes)                 # l = E(x)
        self.codebook = nn.Parameter(autograd.randn(num_codes, code_dim).data)   # e (K, D)
        self.decoder = ConvDecoder(code_dim, hidden, c)

    def _check(self, x):
        check_images(x, self.image_shape, 'dvae.DiscreteVAE')

    def logits(self, x):
        """l = E(2x - 1): (N, K, h, w) logits of q(z | x)."""
        self._check(x)
        return self.encoder(2 * x - 1)

    def mix(self, y):
        """e_ij = sum_k y_ijk e_k: a (relaxed) one-hot (N, K, h, w) -> codes (N, D, h, w)."""
        return (y.permute(0, 2, 3, 1) @ self.codebook).permute(0, 3, 1, 2)

    def loss(self, x, tau=1.0, beta=1.0):
        """Dict: loss = recon + beta kl, recon = mean (x - x_hat)^2 in [-1, 1] units, kl =
        mean KL(q || U) per position (nats), perplexity of the argmax codes, indices (N, h, w)."""
        logits = self.logits(x)
        y = F.gumbel_softmax(logits, tau, dim=1)                         # relaxed z
        recon = F.mse_loss(self.decoder(self.mix(y)), 2 * x - 1)
        log_q = F.log_softmax(logits, dim=1)
        kl = (log_q.exp() * (log_q + float(np.log(self.num_codes)))).sum(1).mean()
        indices = logits.data.argmax(1)
        return {'loss': recon + beta * kl, 'recon': recon, 'kl': kl,
                'perplexity': perplexity(autograd.backend.to_numpy(indices), self.num_codes),
                'indices': indices}

    def encode(self, x):
        """The token grid (N, h, w): the most likely code at each position (raw int array)."""
        return autograd.backend.to_numpy(self.logits(x).data.argmax(1))

    def decode(self, indices):
        """Images in [0, 1] (clipped) from a token grid (N, h, w): D(e_{z_ij})."""
        e = F.embedding(indices, self.codebook).permute(0, 3, 1, 2)
        return ((self.decoder(e) + 1) / 2).clip(0, 1)

    def reconstruct(self, x):
        """decode(encode(x)), in [0, 1]."""
        return self.decode(self.encode(x))
