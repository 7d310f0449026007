"""The spectral contrastive loss: contrastive learning as a factorisation of the graph of
augmentations.

HaoChen, Wei, Gaidon and Ma 2021, "Provable Guarantees for Self-Supervised Deep Learning
with Spectral Contrastive Loss" (arXiv:2106.04156), Sec. 3, eq. 5. Link two augmented
images by the probability that they are views of the same image; the top eigenvectors of
this graph's normalised adjacency matrix are features a linear probe can read, and they
are found, up to a rotation, by minimising over the embeddings f(x) in R^k

    L(f) = - 2 E_{x, x+} [ f(x)^T f(x+) ]  +  E_{x, x'} [ (f(x)^T f(x'))^2 ],

x, x+ two views of one image, x, x' views of independent images: the first term pulls the
positives together, the second pushes every pair towards orthogonality, like NT-Xent's
denominator but with a square where NT-Xent has log-sum-exp, so no temperature and no
normalisation. On a batch of N pairs (z1_i, z2_i), as the authors' `models/spectral.py`:

    L = ( - 2/N sum_i z1_i . z2_i  +  1/(N (N - 1)) sum_{i != j} (z1_i . z2_j)^2 ) / mu

with every embedding first shrunk to a norm of at most sqrt(mu) (z <- z min(1,
sqrt(mu) / ||z||)), which keeps the square term from blowing up early in training.
"""
import math


def cap_norm(z, mu=1.0, eps=1e-12):
    """Each row shrunk to a norm of at most sqrt(mu): z min(1, sqrt(mu) / ||z||)."""
    norm = (z * z).sum(axis=-1, keepdims=True).sqrt().clip(min=eps)
    return z * (math.sqrt(mu) / norm).clip(max=1.0)


def spectral_contrastive_loss(z1, z2, mu=1.0):
    """L of the pairs (z1[i], z2[i]), z1 and z2 of shape (N, D), N >= 2 (eq. 5 on a batch)."""
    if z1.ndim != 2 or z1.shape != z2.shape or z1.shape[0] < 2:
        raise ValueError(f"spectral.spectral_contrastive_loss: expected two (N, D) embeddings "
                         f"of the same shape with N >= 2, got {z1.shape} and {z2.shape}")
    if not mu > 0:
        raise ValueError(f"spectral.spectral_contrastive_loss: mu must be > 0, got {mu}")
    n = z1.shape[0]
    z1, z2 = cap_norm(z1, mu), cap_norm(z2, mu)
    positive = (z1 * z2).sum(axis=1)                                   # z1_i . z2_i
    similarity = z1 @ z2.T                                             # z1_i . z2_j
    off_diagonal = (similarity * similarity).sum() - (positive * positive).sum()
    return (-2 * positive.mean() + off_diagonal / (n * (n - 1))) / mu

