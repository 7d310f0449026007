"""Kernel Inception Distance (KID): an unbiased distance between feature sets, usable
where FID is biased (small sample counts).

Binkowski, Sutherland, Arbel, Gretton 2018, "Demystifying MMD GANs", arXiv:1801.01401.

KID is the squared maximum mean discrepancy (MMD) between the two feature distributions
under the cubic polynomial kernel

    k(x, y) = (x . y / d + 1)^3,                     d = feature dimension,

estimated without bias from m samples x_i of one set and m samples y_j of the other:

    MMD^2 = sum_{i != j} k(x_i, x_j) / (m (m-1)) + sum_{i != j} k(y_i, y_j) / (m (m-1))
            - 2 sum_{i, j} k(x_i, y_j) / m^2.

Its expectation is exactly the population MMD^2, so it is near zero (and can be slightly
negative) for two samples of one distribution, whatever m. As in the reference code
(torch-fidelity), the estimate is averaged over `subsets` random subsets of
`subset_size` samples drawn without replacement from each set; the mean and standard
deviation over subsets are returned. Here subset_size is capped at the smaller set's size;
when that takes in both sets whole, every subset is the same and the std is 0.
"""
import numpy as np


def polynomial_kernel(x, y):
    """k(x, y) = (x . y / d + 1)^3 for all pairs: (n, d), (m, d) -> (n, m)."""
    return (x @ y.T / x.shape[1] + 1) ** 3


def mmd2_unbiased(x, y):
    """The unbiased MMD^2 of two equal-size samples x, y (m, d) under the cubic kernel."""
    m = len(x)
    k_xx, k_yy, k_xy = polynomial_kernel(x, x), polynomial_kernel(y, y), polynomial_kernel(x, y)
    off_diag = (k_xx.sum() - np.trace(k_xx) + k_yy.sum() - np.trace(k_yy)) / (m * (m - 1))
    return off_diag - 2 * k_xy.sum() / m ** 2


def kid(feats_a, feats_b, subsets=100, subset_size=1000, seed=0):
    """(mean, std) over `subsets` random subsets of the unbiased MMD^2 between two feature
    sets (N_a, D) and (N_b, D); NaN or inf features raise a ValueError."""
    a, b = np.asarray(feats_a, np.float64), np.asarray(feats_b, np.float64)
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1]:
        raise ValueError(f"kid: expected feature sets (N_a, D) and (N_b, D), got {a.shape} "
                         f"and {b.shape}")
    if not (np.isfinite(a).all() and np.isfinite(b).all()):
        raise ValueError("kid: the features contain NaN or inf")
    m = min(subset_size, len(a), len(b))
    if m < 2 or subsets < 1:
        raise ValueError(f"kid: need subsets >= 1 and at least 2 samples in each set, got "
                         f"subsets={subsets}, {len(a)} and {len(b)} samples")
    rng = np.random.default_rng(seed)
    values = [mmd2_unbiased(a[rng.choice(len(a), m, replace=False)],
                            b[rng.choice(len(b), m, replace=False)]) for _ in range(subsets)]
    return float(np.mean(values)), float(np.std(values))
