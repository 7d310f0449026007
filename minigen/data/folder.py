"""Images from a folder tree, one class per sub-folder (like torchvision's ImageFolder).

    root/cat/001.png, root/cat/002.jpg, root/dog/xyz.png, ...

Class k is the k-th sub-folder in sorted order. Each image is read with Pillow, converted
to RGB, cropped to the centre to the target's aspect ratio (so nothing is stretched) and
resized with a bicubic filter, which Pillow antialiases when it shrinks.
"""
import os

import numpy as np
from PIL import Image, UnidentifiedImageError

EXTENSIONS = ('.png', '.jpg', '.jpeg', '.bmp', '.gif', '.webp', '.tif', '.tiff')


def load_image(path, size):
    """One image as float32 (3, H, W) in [0, 1], centre-cropped and resized to size (H, W)."""
    h, w = size
    try:
        with Image.open(path) as im:
            im = im.convert('RGB')
    except (UnidentifiedImageError, OSError) as e:
        raise ValueError(f"load_image: cannot read {path} as an image ({e})") from None
    scale = min(im.width / w, im.height / h)       # the largest box of aspect w : h
    cw, ch = w * scale, h * scale
    box = ((im.width - cw) / 2, (im.height - ch) / 2, (im.width + cw) / 2, (im.height + ch) / 2)
    im = im.resize((w, h), Image.BICUBIC, box=box)
    return np.asarray(im, dtype=np.float32).transpose(2, 0, 1) / 255


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
