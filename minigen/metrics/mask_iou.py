"""Does a sample draw its object where the control map put it? Mask IoU.

ControlNet (Zhang, Rao & Agrawala 2023, arXiv:2302.05543) is judged by how well the
generated image follows its condition; for a silhouette condition S, by the intersection
over union of S with the object the image shows,

    IoU(A, S) = |A and S| / |A or S|    (1 when both are empty),

where the drawn object A is segmented without a model, as the shapes images allow: the
background covers most of the image, so its colour is the per-channel median m, and a
pixel p belongs to the object when its distance from it is large,

    A = { p : ||x_p - m|| > max(d_max / 2, 0.15) },   d_max = max_p ||x_p - m||.
"""
import numpy as np


def object_mask(images):
    """The drawn object of each image (N, C, H, W) in [0, 1]: a boolean (N, 1, H, W) of the
    pixels farther from the image's median colour than half the farthest pixel (and 0.15)."""
    images = np.asarray(images)
    if images.ndim != 4:
        raise ValueError(f"mask_iou.object_mask: expected images (N, C, H, W), got "
                         f"{images.shape}")
    background = np.median(images, axis=(2, 3), keepdims=True)
    dist = np.sqrt(((images - background) ** 2).sum(axis=1, keepdims=True))
    return dist > np.maximum(0.5 * dist.max(axis=(2, 3), keepdims=True), 0.15)


def mask_iou(images, silhouettes):
    """Mean over images (N, C, H, W) of IoU(object_mask(image), silhouette), silhouettes
    (N, 1, H, W) boolean (or 0/1)."""
    a, s = object_mask(images), np.asarray(silhouettes, bool)
    if a.shape != s.shape:
        raise ValueError(f"mask_iou: silhouettes {s.shape} do not match the images' masks "
                         f"{a.shape}")
    inter, union = (a & s).sum(axis=(1, 2, 3)), (a | s).sum(axis=(1, 2, 3))
    return float(np.mean(np.where(union > 0, inter / np.maximum(union, 1), 1.0)))
