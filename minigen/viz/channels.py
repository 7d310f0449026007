"""Latent channels as pictures: each image beside its latent's channels in grey."""
import numpy as np

from .grid import grid_image


def latent_channels_image(images, latents, scale=None):
    """A grid, one row per image: the image (N, C, H, W) in [0, 1], then each of the c
    channels of its latent (N, c, h, w), enlarged to H x W by pixel repetition and shown
    in grey, min..max of that channel over all images. Returns a Pillow image."""
    images, latents = np.asarray(images, np.float32), np.asarray(latents, np.float32)
    n, C, H, W = images.shape
    if latents.ndim != 4 or len(latents) != n or H % latents.shape[2] or W % latents.shape[3]:
        raise ValueError(f"latent_channels_image: latents (N, c, h, w) dividing the images' "
                         f"size, got images {images.shape} and latents {latents.shape}")
    lo = latents.min(axis=(0, 2, 3), keepdims=True)
    hi = latents.max(axis=(0, 2, 3), keepdims=True)
    z = (latents - lo) / np.maximum(hi - lo, 1e-8)
    z = z.repeat(H // z.shape[2], axis=2).repeat(W // z.shape[3], axis=3)
    cells = [images] + [np.repeat(z[:, j:j + 1], C, axis=1) for j in range(z.shape[1])]
    rows = np.stack(cells, axis=1).reshape(-1, C, H, W)
    return grid_image(rows, nrow=len(cells), scale=scale)


def save_latent_channels(images, latents, path, scale=None):
    """Write latent_channels_image to a PNG at `path`."""
    latent_channels_image(images, latents, scale).save(path)
