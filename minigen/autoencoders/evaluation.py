"""Held-out figures of the autoencoder family: run a model over a whole set, reconstruction
quality, and the classifier figures of generated samples.

    in_batches(fn, x, device)            fn over x (NumPy) in chunks, without gradient
    reconstruction_quality(x, x_hat)     MSE, PSNR = 10 log10(1 / MSE) and SSIM (Wang,
                                         Bovik, Sheikh & Simoncelli 2004, "Image Quality
                                         Assessment: From Error Visibility to Structural
                                         Similarity") of images in [0, 1]
    sample_quality(samples, real, name)  FID, KID, IS, precision/recall (minigen.metrics)
                                         and the confident fraction: the share of samples
                                         whose top class probability under the feature
                                         net exceeds 0.9
"""
import numpy as np

import autograd
from minigen import metrics


def in_batches(fn, x, device='cpu', batch=500):
    """fn applied to x (a NumPy array) in chunks of `batch` without gradient, concatenated
    as NumPy."""
    with autograd.no_grad():
        return np.concatenate([fn(autograd.tensor(x[i:i + batch], device=device)).numpy()
                               for i in range(0, len(x), batch)])


def reconstruction_quality(target, output):
    """Held-out reconstruction MSE, PSNR (dB) and SSIM of images in [0, 1]."""
    return {'mse': float(np.mean((target - output) ** 2)),
            'psnr': metrics.psnr(target, output), 'ssim': metrics.ssim(target, output)}


def sample_quality(samples, real, dataset):
    """FID/KID/IS/precision/recall of `samples` against `real` and their confident fraction,
    through the feature net of `dataset` ('mnist' or 'shapes'), as floats; a dict with the
    one key 'unavailable' (the reason) when that net cannot be had or read these images."""
    try:
        net = metrics.load_feature_net(dataset)
        probs = np.asarray(net.probs(samples))
        q = metrics.evaluate_features(net.features(samples), probs, net.features(real))
        q['confident_fraction'] = float((probs.max(1) > 0.9).mean())
    except (ImportError, OSError, ValueError, KeyError) as err:
        return {'unavailable': f'{type(err).__name__}: {err}'}
    return {k: float(v) for k, v in q.items()}
