"""Images from a folder tree, one class per sub-folder (like torchvision's ImageFolder).

    root/cat/001.png, root/cat/002.jpg, root/dog/xyz.png, ...

Class k is the k-th sub-folder in sorted order. Each image is read with Pillow, turned
upright by its EXIF orientation tag (as a photo viewer shows it), brought to [0, 1] by the
range of its pixel type, cropped to the centre to the target's aspect ratio (so nothing is
stretched) and resized with a bicubic filter, which Pillow antialiases when it shrinks.

Pixel types (Pillow's modes): 8-bit images (L, RGB, P, ...) are converted to RGB and divided
by 255. High-bit-depth grayscale is scaled by its own range, never through 8 bits (Pillow's
convert('RGB') clips it at 255): I;16 (a 16-bit PNG) and I (32-bit integers, as Pillow
reads 16-bit TIFFs) are divided by 65535, F (32-bit float) is taken as already in [0, 1];
values outside those ranges raise a ValueError naming the file.
"""
import os

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

EXTENSIONS = ('.png', '.jpg', '.jpeg', '.bmp', '.gif', '.webp', '.tif', '.tiff')


def load_image(path, size):
    """One image as float32 (3, H, W) in [0, 1], upright by its EXIF orientation,
    centre-cropped and resized to size (H, W). An unreadable file, an image larger than
    Pillow's decompression-bomb limit or pixels outside their type's range raise a
    ValueError naming the file."""
    h, w = size
    try:
        with Image.open(path) as im:
            im = ImageOps.exif_transpose(im)
            pixels = _high_bit_depth_pixels(im, path)
            im = Image.fromarray(pixels, 'F') if pixels is not None else im.convert('RGB')
    except Image.DecompressionBombError as e:
        raise ValueError(f"load_image: {path} is too large to read safely ({e}); raise "
                         f"PIL.Image.MAX_IMAGE_PIXELS if the file is trusted") from None
    except (UnidentifiedImageError, OSError) as e:
        raise ValueError(f"load_image: cannot read {path} as an image ({e})") from None
    scale = min(im.width / w, im.height / h)       # the largest box of aspect w : h
    cw, ch = w * scale, h * scale
    box = ((im.width - cw) / 2, (im.height - ch) / 2, (im.width + cw) / 2, (im.height + ch) / 2)
    im = im.resize((w, h), Image.BICUBIC, box=box)
    if im.mode == 'F':   # bicubic overshoots at edges; the 8-bit path clips at 0 and 255 too
        return np.repeat(np.clip(np.asarray(im, dtype=np.float32), 0, 1)[None], 3, axis=0)
    return np.asarray(im, dtype=np.float32).transpose(2, 0, 1) / 255


def _high_bit_depth_pixels(im, path):
    """A grayscale image of mode I;16*, I or F as float32 (H, W) in [0, 1]; None for the
    8-bit modes, which convert('RGB') reads correctly."""
    if im.mode.startswith('I;16') or im.mode == 'I':
        top, kind = 65535, '16-bit integer'
    elif im.mode == 'F':
        top, kind = 1, 'float'
    else:
        return None
    pixels = np.asarray(im, dtype=np.float64)
    low, high = pixels.min(), pixels.max()
    if not (0 <= low and high <= top):   # NaN fails both
        raise ValueError(f"load_image: {path} is a {kind} image (mode {im.mode}) with values "
                         f"in [{low:g}, {high:g}]; expected [0, {top}]")
    return (pixels / top).astype(np.float32)


def load_image_folder(root, size=32):
    """Images (N, 3, H, W) float32 in [0, 1], labels (N,) int64 and the class names,
    from root/<class>/<image>; `size` is an int or (H, W)."""
    size = (size, size) if isinstance(size, int) else tuple(size)
    if len(size) != 2 or min(size) < 1:
        raise ValueError(f"load_image_folder: size must be an int or (H, W) >= 1, got {size}")
    if not os.path.isdir(root):
        raise FileNotFoundError(f"load_image_folder: {root} is not a folder")
    classes = sorted(d for d in os.listdir(root) if os.path.isdir(os.path.join(root, d)))
    files = [(os.path.join(root, c, f), k) for k, c in enumerate(classes)
             for f in sorted(os.listdir(os.path.join(root, c))) if f.lower().endswith(EXTENSIONS)]
    if not files:
        raise ValueError(f"load_image_folder: no images ({', '.join(EXTENSIONS)}) in the "
                         f"sub-folders of {root} (found class folders {classes})")
    images = np.stack([load_image(path, size) for path, _ in files])
    return images, np.array([k for _, k in files], dtype=np.int64), classes
