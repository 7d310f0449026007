"""SimCLR: contrastive learning of visual representations from two views of each image.

Chen, Kornblith, Norouzi and Hinton 2020, "A Simple Framework for Contrastive Learning of
Visual Representations" (arXiv:2002.05709). Each image x_k of a batch of N is augmented
twice (minigen.data.augment.simclr_augment) into views x_{2k-1}, x_{2k}; an encoder f
gives representations h = f(x) and a projection head g the embeddings z = g(h). The
NT-Xent loss (normalized temperature-scaled cross entropy, eq. 1) of the positive pair
(i, j) is

    l(i, j) = -log  exp(sim(z_i, z_j) / tau) / sum_{k != i} exp(sim(z_i, z_k) / tau),
    sim(u, v) = u^T v / (||u|| ||v||),

and the loss is the average of l over all 2N anchors (both directions of every pair),
L = 1/(2N) sum_k [l(2k-1, 2k) + l(2k, 2k-1)] -- the paper's scale (google's
`tf2/objective.py` sums the two directions, twice this).

Layout: here the views are stacked as z = [z^(1); z^(2)] (2N rows), so the positive of
row i is row i + N (mod 2N). The logits are the 2N x 2N matrix s = z z^T / tau with the
diagonal (self-similarity, always 1 / tau, the largest) pushed to -1e9 before the
softmax (google's LARGE_NUM trick), so that row i is a (2N - 1)-way classification of
its positive: L = mean_i CE(s_i, i + N mod 2N), computed with the stable log-softmax.

The representation used downstream (linear probe, kNN) is h, taken before the head:
the head discards information the contrastive task does not need (Sec. 4.2).

`SimCLR(loss='spectral')` trains the same encoder and head with the spectral contrastive
loss of HaoChen et al. 2021 (spectral.py) in place of NT-Xent.
"""
import numpy as np

import autograd
import minigen.nn as nn
import minigen.nn.functional as F

from .encoders import ProjectionHead, ResNetEncoder, l2_normalize
from .spectral import spectral_contrastive_loss

LARGE_NUM = 1e9


def nt_xent(z1, z2, temperature=0.5):
    """NT-Xent loss of the pairs (z1[k], z2[k]), z1 and z2 of shape (N, D): the mean over
    the 2N anchors of the cross entropy of their positive among the other 2N - 1."""
    if z1.ndim != 2 or z1.shape != z2.shape:
        raise ValueError(f"simclr.nt_xent: expected two (N, D) embeddings of the same shape, "
                         f"got {z1.shape} and {z2.shape}")
    if not temperature > 0:
        raise ValueError(f"simclr.nt_xent: temperature must be > 0, got {temperature}")
    n = z1.shape[0]
    xp = autograd.backend.array_module(z1.data)
    z = l2_normalize(autograd.cat([z1, z2], axis=0))             # (2N, D) on the sphere
    logits = (z @ z.T) / temperature                              # s_ik = sim(z_i, z_k) / tau
    logits = logits - autograd.as_tensor(xp.eye(2 * n, dtype=logits.dtype) * LARGE_NUM)
    positives = xp.concatenate([xp.arange(n, 2 * n), xp.arange(n)])  # i <-> i + N
    return F.cross_entropy(logits, positives)


class SimCLR(nn.Module):
    """Encoder f and projection head g: forward(x) -> (h, z). `loss(x1, x2)` is the
    NT-Xent loss of two batches of views of the same images (loss='nt_xent'), or their
    spectral contrastive loss (loss='spectral', no temperature)."""

    def __init__(self, encoder=None, proj_dim=128, proj_hidden=None, temperature=0.5,
                 loss='nt_xent'):
        super().__init__()
        if loss not in ('nt_xent', 'spectral'):
            raise ValueError(f"simclr.SimCLR: loss must be 'nt_xent' or 'spectral', got {loss!r}")
        self.loss_name = loss
        self.encoder = encoder if encoder is not None else ResNetEncoder()
        d = self.encoder.feature_dim
        self.head = ProjectionHead(d, proj_dim, hidden=proj_hidden or d)
        self.temperature = temperature

    def forward(self, x):
        h = self.encoder(x)
        return h, self.head(h)

    def loss(self, x1, x2):
        if x1.shape != x2.shape:
            raise ValueError(f"simclr.SimCLR.loss: the two views differ in shape: {x1.shape} "
                             f"and {x2.shape}")
        # one pass over both views: 2N images through the encoder at once
        _, z = self(autograd.cat([x1, x2], axis=0))
        n = x1.shape[0]
        if self.loss_name == 'spectral':
            return spectral_contrastive_loss(z[:n], z[n:])
        return nt_xent(z[:n], z[n:], self.temperature)

    def features(self, images, batch_size=256):
        """Frozen representations h (N, feature_dim) as a NumPy array, without gradients."""
        was_training = self.training
        self.eval()
        out = []
        device = next(iter(self.parameters())).device
        with autograd.no_grad():
            for i in range(0, len(images), batch_size):
                x = autograd.tensor(np.asarray(images[i:i + batch_size]), device=device)
                out.append(self.encoder(x).numpy())
        self.train(was_training)
        return np.concatenate(out) if out else np.zeros((0, self.encoder.feature_dim))
