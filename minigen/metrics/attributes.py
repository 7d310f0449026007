"""Does a conditional sample show what was asked? Attribute accuracy under a classifier.

A text-to-image model asked for "a large red triangle in the center" is judged, as the
classifier-based scores of text-to-image papers judge it (e.g. the object accuracy of
DALL-E's and GLIDE's evaluations), by a classifier trained on real images: for each of
its heads a (shape, colour, size, position for the shapes net; the digit for MNIST's),

    acc_a = (1/N) sum_n [argmax_k logits_a(x_n)_k = y_{n,a}],
    all   = (1/N) sum_n prod_a [argmax_k logits_a(x_n)_k = y_{n,a}],

with y_{n,a} the value asked of image n. `all` counts the images right on every head at
once. The same figure on real images of the same captions is the ceiling.
"""
import numpy as np


def attribute_accuracy(net, images, attrs, all_key='all_four'):
    """Per-head accuracy of `net` (a minigen.metrics feature net, or anything whose
    .logits(images) gives {head: logits (N, K)}) on images (N, C, H, W) against attrs
    {head: asked values}, of which the first N are read, and under `all_key` the share
    right on every head (named for the shapes net's four); one pass of the net."""
    logits = net.logits(images)
    missing = [a for a in logits if a not in attrs]
    if missing:
        raise ValueError(f"attribute_accuracy: no asked values for the heads {missing} "
                         f"(attrs has {sorted(attrs)})")
    hits = {a: np.asarray(logits[a]).argmax(1) == np.asarray(attrs[a])[:len(images)]
            for a in logits}
    return {a: float(h.mean()) for a, h in hits.items()} | {
        all_key: float(np.logical_and.reduce(list(hits.values())).mean())}
