"""Fréchet Inception Distance (FID): how far apart two sets of images are, measured
between Gaussians fitted to their features.

Heusel, Ramsauer, Unterthiner, Nessler, Hochreiter 2017, "GANs Trained by a Two Time-Scale
Update Rule Converge to a Local Nash Equilibrium", arXiv:1706.08500.

Fit N(mu_1, S_1) to the features of one set and N(mu_2, S_2) to the other's
(mu = mean over samples, S = covariance with the 1/(n-1) denominator). The Fréchet
(2-Wasserstein) distance between the two Gaussians is

    d^2 = |mu_1 - mu_2|^2 + tr S_1 + tr S_2 - 2 tr sqrt(S_1 S_2).

The product S_1 S_2 is not symmetric, so reference code calls scipy.linalg.sqrtm on it and
then has to drop the tiny imaginary parts round-off leaves behind. Here the trace is taken
through a symmetric matrix with the same eigenvalues:

    S_1 S_2 = sqrt(S_1) [sqrt(S_1) S_2 sqrt(S_1)] sqrt(S_1)^-1    (a similarity when S_1 > 0;
                                                                  for singular S_1 the nonzero
                                                                  eigenvalues still agree)
    tr sqrt(S_1 S_2) = sum_i sqrt(lambda_i),   lambda_i = eigvalsh(sqrt(S_1) S_2 sqrt(S_1)) >= 0,

with sqrt(S_1) = V diag(sqrt(w)) V^T from S_1 = V diag(w) V^T. Both decompositions are of
symmetric positive semi-definite matrices, so everything stays real; eigenvalues that
round-off pushes slightly below zero are set to zero (their square roots are the "tiny
imaginary parts" of the reference code). A clearly negative one means an input was not a
covariance matrix and is an error. If the result is not finite, eps * I is added to both
covariances and the computation repeated (as pytorch-fid does). All in float64.

FID is biased in the number of samples n (it shrinks as n grows): compare only numbers
computed with the same n, and with n > D (the feature dimension) so S can have full rank:
n samples give S a rank of at most n - 1, and fewer than D + 1 warn.
In minigen the features come from a small classifier trained on the same domain
(minigen.metrics.features), not from Inception: the numbers are "classifier FIDs", not
comparable with published Inception FIDs.
"""
import warnings

import numpy as np


def _as_features(feats, name):
    feats = np.asarray(feats, dtype=np.float64)
    if feats.ndim != 2 or len(feats) < 2:
        raise ValueError(f"fid.{name}: expected features of shape (N, D) with N >= 2, "
                         f"got {feats.shape}")
    if not np.isfinite(feats).all():
        raise ValueError(f"fid.{name}: the features contain NaN or inf")
    return feats


def _warn_if_rank_deficient(n, d, where):
    """S from n samples has rank <= n - 1: below D + 1 samples it is singular and FID is
    biased further than usual; say so, and how many would do."""
    if n < d + 1:
        warnings.warn(f"{where}: {n} samples of {d}-dimensional features give a singular "
                      f"covariance (rank <= {n - 1}); FID needs at least {d + 1} samples per "
                      f"set to be meaningful, and is only comparable between equal counts",
                      UserWarning, stacklevel=3)


def gaussian_stats(feats):
    """mu (D,) and S (D, D) of features (N, D), in float64, S with the 1/(N-1) denominator;
    warns when N < D + 1 (S is then singular)."""
    feats = _as_features(feats, 'gaussian_stats')
    _warn_if_rank_deficient(*feats.shape, 'fid.gaussian_stats')
    return feats.mean(axis=0), np.cov(feats, rowvar=False).reshape(feats.shape[1], -1)


def _check_psd(lam, what):
    """Eigenvalues below -1e-6 * the largest are not round-off: the matrix is no covariance."""
    scale = max(np.abs(lam).max(initial=0.0), np.finfo(np.float64).tiny)
    if lam.min(initial=0.0) < -1e-6 * scale:
        raise ValueError(f"fid.frechet_distance: {what} has the eigenvalue {lam.min():.3g} "
                         f"(largest {scale:.3g}): the covariances must be positive semi-definite")


def _sqrt_psd(S):
    """sqrt(S) = V diag(sqrt(w)) V^T for symmetric PSD S = V diag(w) V^T (round-off w < 0 -> 0)."""
    w, V = np.linalg.eigh(S)
    _check_psd(w, 'sigma1')
    return (V * np.sqrt(np.clip(w, 0, None))) @ V.T


def _trace_sqrt_product(S1, S2):
    """tr sqrt(S1 S2) = sum sqrt(eigvalsh(sqrt(S1) S2 sqrt(S1)))."""
    _check_psd(np.linalg.eigvalsh(S2), 'sigma2')
    r1 = _sqrt_psd(S1)
    M = r1 @ S2 @ r1
    lam = np.linalg.eigvalsh((M + M.T) / 2)
    _check_psd(lam, 'sqrt(sigma1) sigma2 sqrt(sigma1)')
    return np.sqrt(np.clip(lam, 0, None)).sum()


def frechet_distance(mu1, sigma1, mu2, sigma2, eps=1e-6):
    """d^2 = |mu1 - mu2|^2 + tr S1 + tr S2 - 2 tr sqrt(S1 S2) between N(mu1, S1) and N(mu2, S2)."""
    mu1, mu2 = (np.atleast_1d(np.asarray(m, np.float64)) for m in (mu1, mu2))
    S1, S2 = (np.atleast_2d(np.asarray(s, np.float64)) for s in (sigma1, sigma2))
    d = mu1.shape[0]
    if mu1.shape != (d,) or mu2.shape != (d,) or S1.shape != (d, d) or S2.shape != (d, d):
        raise ValueError(f"fid.frechet_distance: expected mu1, mu2 of shape (D,) and sigma1, "
                         f"sigma2 of shape (D, D), got {mu1.shape}, {mu2.shape}, {S1.shape}, "
                         f"{S2.shape}")
    if not all(np.isfinite(a).all() for a in (mu1, mu2, S1, S2)):
        raise ValueError("fid.frechet_distance: the statistics contain NaN or inf")
    S1, S2 = (S1 + S1.T) / 2, (S2 + S2.T) / 2
    diff = mu1 - mu2
    tr_covmean = _trace_sqrt_product(S1, S2)
    if not np.isfinite(tr_covmean):  # singular product: offset both covariances (pytorch-fid)
        offset = eps * np.eye(d)
        tr_covmean = _trace_sqrt_product(S1 + offset, S2 + offset)
    return float(diff @ diff + np.trace(S1) + np.trace(S2) - 2 * tr_covmean)


def fid(feats_a, feats_b):
    """FID of feature sets (N_a, D) and (N_b, D): the Fréchet distance of their Gaussians."""
    a, b = _as_features(feats_a, 'fid'), _as_features(feats_b, 'fid')
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"fid.fid: the feature sets have different dimensions "
                         f"{a.shape[1]} and {b.shape[1]}")
    return frechet_distance(*gaussian_stats(a), *gaussian_stats(b))


class FIDAccumulator:
    """Mean and covariance of features streamed in batches, in float64, without keeping them.

    Chan, Golub, LeVeque 1979 pairwise update: a running (n, mu, M2) and a batch
    (n_b, mu_b, M2_b = (X_b - mu_b)^T (X_b - mu_b)) merge into

        n' = n + n_b,   delta = mu_b - mu,   mu' = mu + delta n_b / n',
        M2' = M2 + M2_b + delta delta^T n n_b / n',          S = M2 / (n - 1),

    which avoids the cancellation of the textbook E[x x^T] - mu mu^T.

        acc = FIDAccumulator()
        for batch in batches: acc.update(net.features(batch))
        acc.fid(reference_acc)      # or frechet_distance(*acc.stats(), mu, S)
    """

    def __init__(self):
        self.n, self.mu, self.M2 = 0, None, None

    def update(self, feats):
        """Add a batch of features (B, D); returns self."""
        x = np.asarray(feats, dtype=np.float64)
        if x.ndim != 2 or (self.mu is not None and x.shape[1] != self.mu.shape[0]):
            raise ValueError(f"fid.FIDAccumulator.update: expected a batch of shape (B, D)"
                             f"{'' if self.mu is None else f' with D = {self.mu.shape[0]}'}, "
                             f"got {x.shape}")
        if not np.isfinite(x).all():
            raise ValueError("fid.FIDAccumulator.update: the features contain NaN or inf; "
                             "nothing was added")
        if len(x) == 0:
            return self
        mu_b = x.mean(axis=0)
        M2_b = (x - mu_b).T @ (x - mu_b)
        if self.mu is None:
            self.n, self.mu, self.M2 = len(x), mu_b, M2_b
            return self
        n = self.n + len(x)
        delta = mu_b - self.mu
        self.mu = self.mu + delta * (len(x) / n)
        self.M2 = self.M2 + M2_b + np.outer(delta, delta) * (self.n * len(x) / n)
        self.n = n
        return self

    def stats(self):
        """(mu, S) of everything seen so far; warns when fewer than D + 1 samples were seen."""
        if self.n < 2:
            raise ValueError(f"fid.FIDAccumulator.stats: need at least 2 samples, have {self.n}")
        _warn_if_rank_deficient(self.n, len(self.mu), 'fid.FIDAccumulator.stats')
        return self.mu.copy(), self.M2 / (self.n - 1)

    def fid(self, other):
        """The Fréchet distance to another FIDAccumulator or to a (mu, S) pair."""
        mu, S = other.stats() if isinstance(other, FIDAccumulator) else other
        return frechet_distance(*self.stats(), mu, S)
