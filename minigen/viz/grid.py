"""Image grids to PNG: samples, captioned samples and interpolation strips.

A batch (N, C, H, W) with C = 1 or 3 (a NumPy or CuPy array or an autograd.Tensor) is
laid out row by row, `nrow` images to a row, like torchvision.utils.make_grid. Values are
mapped from `value_range` to [0, 1] and clipped. Small images are enlarged by an integer
factor with nearest-neighbour sampling (each pixel becomes a crisp square), so a 28 px
digit is readable. Text (row labels on the left, a caption under each image) is drawn
with Pillow's default font.
"""
import math

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from autograd import Tensor
from autograd.backend import to_numpy

TEXT, BACKGROUND = (20, 20, 20), (255, 255, 255)


def font(size):
    """Pillow's default font at `size` px (the fixed bitmap font on Pillow < 10.1)."""
    try:
        return ImageFont.load_default(size=size)
    except TypeError:
        return ImageFont.load_default()


def as_images(images, value_range=(0.0, 1.0), fn='save_image'):
    """(N, C, H, W) with C in (1, 3) as a float NumPy array in [0, 1], 3 channels."""
    array = to_numpy(images.data if isinstance(images, Tensor) else images)
    shape = array.shape
    array = np.asarray(array, dtype=np.float32)
    if array.ndim == 3:  # one image (C, H, W)
        array = array[None]
    if array.ndim != 4 or array.shape[1] not in (1, 3) or array.shape[0] == 0:
        raise ValueError(f"{fn}: expected images of shape (N, C, H, W) or (C, H, W) with "
                         f"C = 1 or 3 and N >= 1, got shape {shape}")
    lo, hi = value_range
    if not hi > lo:
        raise ValueError(f"{fn}: value_range must have hi > lo, got {value_range}")
    array = np.clip((array - lo) / (hi - lo), 0, 1)
    return np.repeat(array, 3, axis=1) if array.shape[1] == 1 else array


def wrap(text, fnt, width):
    """`text` broken into lines no wider than `width` px (greedy, by whole words)."""
    lines = []
    for word in text.split():
        if lines and fnt.getlength(lines[-1] + ' ' + word) <= width:
            lines[-1] += ' ' + word
        else:
            lines.append(word)
    return lines


def auto_scale(height):
    """The integer nearest-neighbour zoom that makes an image at least 64 px tall."""
    return max(1, math.ceil(64 / height))


def make_grid(images, nrow=8, padding=2, pad_value=1.0, value_range=(0.0, 1.0)):
    """The images tiled `nrow` to a row: a float array (3, H', W') in [0, 1]."""
    x = as_images(images, value_range, 'make_grid')
    n, _, h, w = x.shape
    ncol, nrows = min(nrow, n), math.ceil(n / nrow)
    grid = np.full((3, nrows * (h + padding) + padding, ncol * (w + padding) + padding),
                   pad_value, dtype=np.float32)
    for i in range(n):
        top, left = padding + (i // ncol) * (h + padding), padding + (i % ncol) * (w + padding)
        grid[:, top:top + h, left:left + w] = x[i]
    return grid


def _pil(grid, scale):
    pixels = np.round(grid.transpose(1, 2, 0) * 255).astype(np.uint8)
    pixels = pixels.repeat(scale, axis=0).repeat(scale, axis=1)
    return Image.fromarray(pixels, 'RGB')


def grid_image(images, nrow=8, padding=2, value_range=(0.0, 1.0), scale=None,
               row_labels=None, captions=None):
    """The grid as a Pillow RGB image, enlarged `scale` times (None: to >= 64 px per image),
    with optional `row_labels` (one string per row) and `captions` (one per image)."""
    x = as_images(images, value_range, 'grid_image')
    n, _, h, w = x.shape
    scale = auto_scale(h) if scale is None else int(scale)
    nrows, ncol = math.ceil(n / nrow), min(nrow, n)
    if row_labels is not None and len(row_labels) != nrows:
        raise ValueError(f"grid_image: {len(row_labels)} row_labels for {nrows} rows")
    if captions is not None and len(captions) != n:
        raise ValueError(f"grid_image: {len(captions)} captions for {n} images")
    if captions is None and row_labels is None:
        return _pil(make_grid(x, nrow, padding), scale)

    cell_w, cell_h, pad = w * scale, h * scale, padding * scale
    fnt = font(max(10, min(14, cell_w // 7)))
    line_h = fnt.getbbox('Ag')[3] + 2
    wrapped = [wrap(c, fnt, cell_w) for c in captions] if captions else None
    text_h = line_h * max(map(len, wrapped)) + 4 if wrapped else 0
    label_w = (int(max(fnt.getlength(s) for s in row_labels)) + 12) if row_labels else 0
    canvas = Image.new('RGB', (label_w + ncol * (cell_w + pad) + pad,
                               nrows * (cell_h + text_h + pad) + pad), BACKGROUND)
    draw = ImageDraw.Draw(canvas)
    for i in range(n):
        row, col = divmod(i, ncol)
        left, top = label_w + pad + col * (cell_w + pad), pad + row * (cell_h + text_h + pad)
        canvas.paste(_pil(x[i], scale), (left, top))
        for j, line in enumerate(wrapped[i] if wrapped else ()):
            draw.text((left, top + cell_h + 2 + j * line_h), line, fill=TEXT, font=fnt)
    for row, label in enumerate(row_labels or ()):
        top = pad + row * (cell_h + text_h + pad) + cell_h // 2
        draw.text((6, top), label, fill=TEXT, font=fnt, anchor='lm')
    return canvas


def save_image(images, path, nrow=8, padding=2, value_range=(0.0, 1.0), scale=None,
               row_labels=None, captions=None):
    """Write the grid of `images` to a PNG at `path` (see grid_image)."""
    x = as_images(images, value_range, 'save_image')
    grid_image(x, nrow, padding, (0.0, 1.0), scale, row_labels, captions).save(path)


def save_interpolation(strips, path, value_range=(0.0, 1.0), scale=None, row_labels=None):
    """Interpolation strips (R, K, C, H, W): row r shows the K steps from its first image
    to its last (e.g. decoder outputs along a latent path), one strip per row."""
    array = to_numpy(strips.data if isinstance(strips, Tensor) else strips)
    if array.ndim != 5:
        raise ValueError(f"save_interpolation: expected strips of shape (R, K, C, H, W), "
                         f"got shape {array.shape}")
    r, k = array.shape[:2]
    save_image(array.reshape(r * k, *array.shape[2:]), path, nrow=k, value_range=value_range,
               scale=scale, row_labels=row_labels)
