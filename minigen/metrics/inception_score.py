"""Inception Score (IS): are the samples confidently classified, and spread over the classes?

Salimans, Goodfellow, Zaremba, Cheung, Radford, Chen 2016, "Improved Techniques for
Training GANs", arXiv:1606.03498.

With p(y|x) the classifier's class probabilities for sample x and p(y) = E_x p(y|x) their
average over the sample set,

    IS = exp( E_x KL( p(y|x) || p(y) ) ),   KL(p || q) = sum_y p_y (log p_y - log q_y).

IS is high when each p(y|x) is peaked (a clear object) and p(y) is flat (all classes
appear): at most K (the number of classes), reached by confident predictions spread
evenly; 1 when every sample gets the same prediction. Following the reference code
(torch-fidelity), the N samples are shuffled with a fixed seed and cut into `splits`
parts; the score of each part uses its own p(y), and the mean and standard deviation of
the parts are returned. Shuffling matters: a class-sorted set cut into parts has a
peaked p(y) in each part and a misleadingly low score. In float64; terms with p_y = 0
contribute 0 (the limit of p log p).

minigen's classifiers are the small ones of minigen.metrics.features (10 digits for MNIST,
the 5 shape kinds for shapes), not Inception, so the maximum is 10 or 5.
"""
import numpy as np


def inception_score(probs, splits=10, shuffle=True, seed=2020):
    """(mean, std) over `splits` parts of exp(mean_x KL(p(y|x) || p(y))) for probs (N, K)."""
    p = np.asarray(probs, dtype=np.float64)
    if p.ndim != 2 or p.shape[1] < 1:
        raise ValueError(f"inception_score: expected probabilities of shape (N, K), got {p.shape}")
    if not (isinstance(splits, (int, np.integer)) and 1 <= splits <= len(p)):
        raise ValueError(f"inception_score: splits must be an int in 1..N = {len(p)}, "
                         f"got {splits!r}")
    if not np.isfinite(p).all() or p.min() < 0 or np.abs(p.sum(axis=1) - 1).max() > 1e-3:
        raise ValueError("inception_score: each row of probs must be a probability vector "
                         "(non-negative, summing to 1); pass softmax outputs, not logits")
    if shuffle:
        p = p[np.random.RandomState(seed).permutation(len(p))]
    scores = []
    for part in np.array_split(p, splits):
        p_y = part.mean(axis=0, keepdims=True)                        # p(y) of this part
        log_ratio = np.log(np.where(part > 0, part, 1)) - np.log(np.where(part > 0, p_y, 1))
        kl = (part * log_ratio).sum(axis=1)                           # KL(p(y|x) || p(y))
        scores.append(np.exp(kl.mean()))
    return float(np.mean(scores)), float(np.std(scores))
