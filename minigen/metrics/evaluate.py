"""evaluate_samples: every sample-set number of minigen.metrics in one call.

    from minigen.metrics import evaluate_samples
    evaluate_samples(samples, real, 'mnist')
    -> {'fid': ..., 'kid': ..., 'kid_std': ..., 'is': ..., 'is_std': ...,
        'precision': ..., 'recall': ..., 'n_samples': ..., 'n_real': ...}

samples and real are image arrays (N, C, H, W) in [0, 1] (or (N, H, W) for MNIST). Both
pass through one feature net (features.py: 'mnist', 'shapes', a net object or a callable
images -> (features, probs)); then

    fid        Fréchet distance of the two feature Gaussians          (fid.py)
    kid        unbiased MMD^2, cubic kernel, mean and std of subsets  (kid.py)
    is         Inception Score of the samples' class probabilities    (inception_score.py)
    precision  share of samples on the real manifold (k = 3)          (precision_recall.py)
    recall     share of real images on the samples' manifold

FID falls as n grows, so compare numbers only at equal n_samples and n_real, and put
them next to the real-vs-real floor (two real sets of the same sizes: demos/evaluate.py).
"""
from .features import as_feature_net
from .fid import fid
from .inception_score import inception_score
from .kid import kid
from .precision_recall import precision_recall


def evaluate_features(feats_fake, probs_fake, feats_real, k=3, kid_subsets=100,
                      kid_subset_size=1000):
    """The numbers of evaluate_samples from features already computed (reuse the real ones)."""
    if len(feats_fake) < 4 or len(feats_real) < 4:
        raise ValueError(f"evaluate_samples: need at least 4 samples and 4 real images, got "
                         f"{len(feats_fake)} and {len(feats_real)}")
    is_mean, is_std = inception_score(probs_fake, splits=min(10, len(probs_fake)))
    kid_mean, kid_std = kid(feats_real, feats_fake, subsets=kid_subsets,
                            subset_size=kid_subset_size)
    precision, recall = precision_recall(feats_real, feats_fake,
                                         k=min(k, len(feats_fake) - 1, len(feats_real) - 1))
    return {'fid': fid(feats_real, feats_fake), 'kid': kid_mean, 'kid_std': kid_std,
            'is': is_mean, 'is_std': is_std, 'precision': precision, 'recall': recall,
            'n_samples': len(feats_fake), 'n_real': len(feats_real)}


def evaluate_samples(samples, real, dataset, k=3, kid_subsets=100, kid_subset_size=1000):
    """FID, KID, IS, precision and recall of `samples` against `real`, through the feature
    net of `dataset` ('mnist', 'shapes', a net object or a callable)."""
    net = as_feature_net(dataset)
    return evaluate_features(net.features(samples), net.probs(samples), net.features(real),
                             k, kid_subsets, kid_subset_size)
