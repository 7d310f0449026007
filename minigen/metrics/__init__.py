"""minigen.metrics: numbers for generated samples, with the papers' formulas.

    fid(feats_a, feats_b), frechet_distance(mu1, S1, mu2, S2), FIDAccumulator   fid.py
    kid(feats_a, feats_b) -> (mean, std)                                         kid.py
    inception_score(probs, splits=10) -> (mean, std)                             inception_score.py
    precision_recall(feats_real, feats_fake, k=3) -> (precision, recall)         precision_recall.py
    ssim(a, b, data_range=1.0), psnr(a, b, data_range=1.0)                      ssim.py, psnr.py
    load_feature_net('mnist' | 'shapes') -> .features(images), .probs(images)   features.py
    evaluate_samples(samples, real, dataset) -> dict of all of the above        evaluate.py
    evaluate_features(feats_fake, probs_fake, feats_real): the same from features
    clip_score(images, captions, model): 100 x the clipped cosine under a CLIP    clip_score.py
    knn_accuracy, linear_probe_accuracy: how good frozen features are            probe.py
    attribute_accuracy(net, images, attrs): does a sample show what was asked     attributes.py
    mask_iou(images, silhouettes), object_mask: is the object where it was put   mask_iou.py

There are no Inception weights here: features and class probabilities come from small
classifiers trained with minigen on the same domain (python -m minigen.metrics.train_features),
so FID/KID/IS are "classifier" versions, comparable only with each other. Any callable
from images to (features, probs) can replace them.
"""
from .fid import fid, frechet_distance, gaussian_stats, FIDAccumulator  # noqa: F401
from .inception_score import inception_score  # noqa: F401
from .kid import kid  # noqa: F401
from .precision_recall import precision_recall  # noqa: F401
from .ssim import ssim  # noqa: F401
from .psnr import psnr  # noqa: F401
from .features import load_feature_net, as_feature_net  # noqa: F401
from .evaluate import evaluate_samples, evaluate_features  # noqa: F401
from .clip_score import clip_score  # noqa: F401
from .probe import knn_accuracy, linear_probe_accuracy  # noqa: F401
from .attributes import attribute_accuracy  # noqa: F401
from .mask_iou import mask_iou, object_mask  # noqa: F401
