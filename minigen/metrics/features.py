"""Feature networks: small classifiers whose penultimate layer stands in for Inception.

FID, KID and precision/recall compare images through the features of a network trained
on real images (Heusel et al. 2017 use Inception-v3's 2048-d pool3 layer, trained on
ImageNet). Those weights cannot be downloaded here, and on 28x28 digits a classifier of
the same domain is the usual choice anyway. So minigen trains its own, with minigen
(python -m minigen.metrics.train_features), and ships the weights in weights/*.npz:

    x (C, S, S) in [0, 1]
    -> conv 3x3 32, ReLU, max-pool 2 -> conv 3x3 64, ReLU, max-pool 2
    -> conv 3x3 64, ReLU, max-pool 2 -> flatten -> linear 128, ReLU  =  features (128-d)
    -> one linear head per label: logits, softmax = class probabilities

    'mnist'   1x28x28, one head 'digit' (10 classes).
    'shapes'  3x32x32 single-object images of minigen.data.shapes, four heads on the same
              features: 'shape' (5), 'color' (8), 'size' (2), 'position' (9).

`.features(images)` returns the 128-d penultimate activations h, divided by one fixed
number s stored with the weights: s^2 = mean over the training images of |h|^2 / 128, so
real features have unit mean square per coordinate. Without it the raw scales differ
between nets (and noise images excite the shapes net far more than real ones), and KID's
cubic kernel (x.y/d + 1)^3 turns that into numbers of 10^9. The scale changes FID by the
constant factor 1/s^2 and leaves precision/recall unchanged. `.probs(images)` gives the
softmax of the default head: the digit for MNIST and the shape kind for shapes (so the
Inception Score's maximum is 10 or 5); `.probs(images, head='color')` any other head;
`.predict(...)` the arg-max class. Everything runs in eval mode, under no_grad, in
batches. The numbers these nets give are "classifier FID/KID/IS": comparable between
models scored by the same net, not with published Inception numbers.

Any other extractor plugs in: as_feature_net(f) accepts an object with .features and
.probs, or a callable images -> (features, probs).
"""
import os

import numpy as np

import autograd as ag
import minigen
import minigen.nn as nn
from autograd import backend
from autograd.tensor import Tensor

WEIGHTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'weights')
DATASETS = {'mnist': dict(in_channels=1, image_size=28, heads={'digit': 10}),
            'shapes': dict(in_channels=3, image_size=32,
                           heads={'shape': 5, 'color': 8, 'size': 2, 'position': 9})}


class FeatureCNN(nn.Module):
    """Three conv blocks and a 128-d layer (the features), then one linear head per label."""

    def __init__(self, in_channels, image_size, heads, dim=128):
        super().__init__()
        side = image_size // 2 // 2 // 2
        self.body = nn.Sequential(
            nn.Conv2d(in_channels, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(64, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Flatten(), nn.Linear(64 * side * side, dim), nn.ReLU())
        self.heads = nn.ModuleDict({name: nn.Linear(dim, k) for name, k in heads.items()})

    def forward(self, x):
        """(features (N, 128), {head: logits (N, K)})."""
        h = self.body(x)
        return h, {name: head(h) for name, head in self.heads.items()}


class FeatureNet:
    """A trained FeatureCNN behind a NumPy interface: images in, features/probabilities out."""

    def __init__(self, model, dataset, in_channels, image_size, heads, feature_scale=1.0,
                 batch_size=256):
        self.model, self.dataset, self.feature_scale = model.eval(), dataset, feature_scale
        self.in_channels, self.image_size, self.heads = in_channels, image_size, dict(heads)
        self.default_head, self.batch_size = next(iter(heads)), batch_size

    def _check(self, images):
        images = images.numpy() if isinstance(images, Tensor) else backend.to_numpy(images)
        x = np.asarray(images, dtype=np.float32)   # CuPy samples come back to the CPU net
        if x.ndim == 3 and self.in_channels == 1:
            x = x[:, None]
        shape = (self.in_channels, self.image_size, self.image_size)
        if x.ndim != 4 or x.shape[1:] != shape:
            raise ValueError(f"features.FeatureNet({self.dataset!r}): expected images of shape "
                             f"(N, {', '.join(map(str, shape))}) in [0, 1], got {x.shape}")
        return x

    def _run(self, images):
        """Features and every head's logits, batch by batch, as NumPy arrays."""
        x = self._check(images)
        feats, logits = [], {name: [] for name in self.heads}
        device = next(iter(self.model.parameters())).device
        with ag.no_grad():
            for i in range(0, len(x), self.batch_size):
                h, out = self.model(ag.tensor(x[i:i + self.batch_size], device=device))
                feats.append(h.numpy() / self.feature_scale)
                for name in self.heads:
                    logits[name].append(out[name].numpy())
        def cat(parts, k):
            return np.concatenate(parts) if parts else np.zeros((0, k), np.float32)
        return cat(feats, 128), {name: cat(v, self.heads[name]) for name, v in logits.items()}

    def features(self, images):
        """Penultimate activations / feature_scale (N, 128) of images (N, C, S, S) in [0, 1]."""
        return self._run(images)[0]

    def logits(self, images):
        """{head: logits (N, K)} for every head."""
        return self._run(images)[1]

    def probs(self, images, head=None):
        """Softmax probabilities (N, K) of `head` (default: 'digit' or 'shape')."""
        head = self.default_head if head is None else head
        if head not in self.heads:
            raise ValueError(f"features.FeatureNet({self.dataset!r}): unknown head {head!r}; "
                             f"heads are {list(self.heads)}")
        z = self.logits(images)[head].astype(np.float64)
        z = np.exp(z - z.max(axis=1, keepdims=True))
        return z / z.sum(axis=1, keepdims=True)

    def predict(self, images, head=None):
        """Most probable class (N,) of `head`."""
        return self.probs(images, head).argmax(axis=1)


class CallableFeatureNet:
    """Wraps a user function images -> (features (N, D), probs (N, K))."""

    def __init__(self, fn):
        self.fn = fn

    def features(self, images):
        return np.asarray(self.fn(images)[0])

    def probs(self, images):
        return np.asarray(self.fn(images)[1])


def as_feature_net(net):
    """A feature net from a dataset name, an object with .features and .probs, or a
    callable images -> (features, probs)."""
    if isinstance(net, str):
        return load_feature_net(net)
    if hasattr(net, 'features') and hasattr(net, 'probs'):
        return net
    if callable(net):
        return CallableFeatureNet(net)
    raise TypeError(f"features.as_feature_net: expected 'mnist', 'shapes', an object with "
                    f".features and .probs, or a callable, got {type(net).__name__}")


def build(dataset):
    """An untrained FeatureCNN for 'mnist' or 'shapes'."""
    if dataset not in DATASETS:
        raise ValueError(f"features: dataset must be one of {list(DATASETS)}, got {dataset!r}")
    return FeatureCNN(**DATASETS[dataset])


_loaded = {}


def load_feature_net(dataset, path=None):
    """The trained feature net of 'mnist' or 'shapes' (weights/<dataset>.npz, or `path`)."""
    model = build(dataset)
    path = os.path.join(WEIGHTS, f'{dataset}.npz') if path is None else path
    if path not in _loaded:
        if not os.path.exists(path):
            raise FileNotFoundError(f"features.load_feature_net: no weights at {path}; train "
                                    f"them with python -m minigen.metrics.train_features "
                                    f"--dataset {dataset}")
        ckpt = minigen.load(path)
        model.load_state_dict(ckpt['model'])
        _loaded[path] = FeatureNet(model, dataset, feature_scale=float(ckpt['feature_scale']),
                                   **DATASETS[dataset])
    return _loaded[path]
