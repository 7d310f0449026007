"""Improved precision and recall: sample quality and coverage as two separate numbers.

Kynkäänniemi, Karras, Laine, Lehtinen, Aila 2019, "Improved Precision and Recall Metric
for Assessing Generative Models", arXiv:1904.06991.

Each set of features approximates its manifold by a union of balls: around every sample
phi, a ball reaching its k-th nearest neighbour in the same set,

    f(phi, Phi) = 1  if |phi - phi'| <= |phi' - NN_k(phi', Phi)| for some phi' in Phi, else 0.

    precision = mean over fake phi_g of f(phi_g, Phi_real)    (fakes that look real)
    recall    = mean over real phi_r of f(phi_r, Phi_fake)    (reals the fakes cover)

A generator that collapses onto a few good modes keeps high precision but has low recall;
one that produces junk everywhere has low precision. The paper uses k = 3.
Distances are computed in row batches, |a - b|^2 = |a|^2 + |b|^2 - 2 a.b, so memory stays
at batch x N and no Python loop runs over samples.
"""
import numpy as np


def _sq_distances(a, b):
    """Squared Euclidean distances (len(a), len(b)), clipped at 0 against round-off."""
    return np.maximum((a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2 * a @ b.T, 0)


def knn_radii(feats, k=3, batch_size=1024):
    """Squared distance from each sample to its k-th nearest neighbour in the same set
    (the sample itself, at distance 0, is the 0-th)."""
    rows = (_sq_distances(feats[i:i + batch_size], feats) for i in range(0, len(feats), batch_size))
    return np.concatenate([np.partition(d, k, axis=1)[:, k] for d in rows])


def manifold_coverage(points, manifold, radii, batch_size=1024):
    """Share of `points` inside at least one ball (manifold_j, radii_j)."""
    inside = [(_sq_distances(points[i:i + batch_size], manifold) <= radii[None, :]).any(axis=1)
              for i in range(0, len(points), batch_size)]
    return float(np.concatenate(inside).mean())


def precision_recall(feats_real, feats_fake, k=3, batch_size=1024):
    """(precision, recall) of fake features against real ones, with k-NN balls; NaN or inf
    features raise a ValueError."""
    real, fake = np.asarray(feats_real, np.float64), np.asarray(feats_fake, np.float64)
    if real.ndim != 2 or fake.ndim != 2 or real.shape[1] != fake.shape[1]:
        raise ValueError(f"precision_recall: expected feature sets (N_real, D) and (N_fake, D), "
                         f"got {real.shape} and {fake.shape}")
    if not (np.isfinite(real).all() and np.isfinite(fake).all()):
        raise ValueError("precision_recall: the features contain NaN or inf")
    if not 1 <= k < min(len(real), len(fake)):
        raise ValueError(f"precision_recall: need 1 <= k < the size of each set, got k={k} "
                         f"with {len(real)} real and {len(fake)} fake samples")
    precision = manifold_coverage(fake, real, knn_radii(real, k, batch_size), batch_size)
    recall = manifold_coverage(real, fake, knn_radii(fake, k, batch_size), batch_size)
    return precision, recall
