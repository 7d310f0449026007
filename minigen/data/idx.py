"""MNIST and Fashion-MNIST from their IDX files (raw or gzipped).

The IDX format (LeCun et al., yann.lecun.com/exdb/mnist) is a big-endian header and
then the raw values:

    bytes 0-1   0x00 0x00
    byte  2     the value type: 0x08 uint8, 0x09 int8, 0x0B int16, 0x0C int32,
                0x0D float32, 0x0E float64
    byte  3     the number of dimensions d
    then        d sizes as big-endian uint32, then prod(sizes) values, big-endian

MNIST's images are (N, 28, 28) uint8 and its labels (N,) uint8. Any header that breaks
this layout, a file shorter or longer than its header says, or image and label files of
different counts is an error naming the file, never a silently wrong array.

Files are looked for in `root`, by default <cache>/mnist or <cache>/fashion-mnist with
<cache> = $MINIGEN_DATA or ~/.cache/minigen; missing ones are downloaded there from the
canonical mirrors when `download` is true (the Fashion-MNIST files have the MNIST names).
"""
import gzip
import math
import os
import urllib.request
import zlib

import numpy as np

IDX_TYPES = {0x08: '>u1', 0x09: '>i1', 0x0B: '>i2', 0x0C: '>i4', 0x0D: '>f4', 0x0E: '>f8'}
FILES = {'train': ('train-images-idx3-ubyte', 'train-labels-idx1-ubyte'),
         'test': ('t10k-images-idx3-ubyte', 't10k-labels-idx1-ubyte')}
MIRRORS = {'mnist': ['https://ossci-datasets.s3.amazonaws.com/mnist/',
                     'http://yann.lecun.com/exdb/mnist/'],
           'fashion-mnist': ['http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/']}
FASHION_MNIST_CLASSES = ('T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat', 'Sandal',
                         'Shirt', 'Sneaker', 'Bag', 'Ankle boot')


def cache_dir(name):
    """Where data set `name` is kept: $MINIGEN_DATA/name or ~/.cache/minigen/name."""
    base = os.environ.get('MINIGEN_DATA') or os.path.join(os.path.expanduser('~'), '.cache',
                                                          'minigen')
    return os.path.join(base, name)


def read_idx(path):
    """The array stored in the IDX file at `path` (gzip is recognised by its magic bytes)."""
    with open(path, 'rb') as f:
        raw = f.read()
    if raw[:2] == b'\x1f\x8b':
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError, zlib.error) as e:  # bad header or CRC, cut, bad deflate data
            raise ValueError(f"read_idx: {path} is a damaged or truncated gzip file ({e})") from None
    if len(raw) < 4 or raw[:2] != b'\x00\x00' or raw[2] not in IDX_TYPES:
        raise ValueError(f"read_idx: {path} is not an IDX file: its magic number is "
                         f"0x{raw[:4].hex() or 'empty'} (expected 0x0000TTDD with type TT in "
                         f"{sorted(hex(t) for t in IDX_TYPES)})")
    dtype, ndim = np.dtype(IDX_TYPES[raw[2]]), raw[3]
    if len(raw) < 4 + 4 * ndim:
        raise ValueError(f"read_idx: {path} is truncated inside its header")
    shape = tuple(int(s) for s in np.frombuffer(raw, '>u4', count=ndim, offset=4))
    expected = 4 + 4 * ndim + math.prod(shape) * dtype.itemsize
    if len(raw) != expected:
        raise ValueError(f"read_idx: {path} holds {len(raw)} bytes but its header {shape} of "
                         f"{dtype.name} needs {expected}: the file is "
                         f"{'truncated' if len(raw) < expected else 'longer than declared'}")
    return np.frombuffer(raw, dtype, offset=4 + 4 * ndim).reshape(shape).astype(dtype.newbyteorder('='))


def _find(root, name, dataset, download):
    """The path of IDX file `name` (or name.gz) in root, downloading it if asked."""
    for candidate in (name, name + '.gz'):
        if os.path.exists(os.path.join(root, candidate)):
            return os.path.join(root, candidate)
    where = (f"put {name}.gz (or {name}) into {root}, or pass root=<folder>, or set "
             f"MINIGEN_DATA=<folder> to use <folder>/{dataset}")
    if not download:
        raise FileNotFoundError(f"{dataset}: {name} not found; {where}")
    os.makedirs(root, exist_ok=True)
    errors = []
    for mirror in MIRRORS[dataset]:
        target = os.path.join(root, name + '.gz')
        try:
            with urllib.request.urlopen(mirror + name + '.gz', timeout=30) as r:
                data = r.read()
            with open(target + '.part', 'wb') as f:
                f.write(data)
            os.replace(target + '.part', target)
            return target
        except OSError as e:
            errors.append(f"{mirror}: {e}")
    raise FileNotFoundError(f"{dataset}: {name} not found and the download failed "
                            f"({'; '.join(errors)}); {where}")


def _load(dataset, split, root, download):
    if split not in FILES:
        raise ValueError(f"{dataset}: split must be 'train' or 'test', got {split!r}")
    root = cache_dir(dataset) if root is None else os.fspath(root)
    paths = [_find(root, name, dataset, download) for name in FILES[split]]
    images, labels = (read_idx(p) for p in paths)
    if images.ndim != 3 or images.dtype != np.uint8 or labels.ndim != 1:
        raise ValueError(f"{dataset}: expected uint8 images (N, H, W) and labels (N,), got "
                         f"{images.dtype} {images.shape} in {paths[0]} and {labels.shape} "
                         f"in {paths[1]}")
    if len(images) != len(labels):
        raise ValueError(f"{dataset}: {paths[0]} holds {len(images)} images but {paths[1]} "
                         f"holds {len(labels)} labels")
    if labels.size and (labels.min() < 0 or labels.max() > 9):
        raise ValueError(f"{dataset}: labels in {paths[1]} must lie in 0..9, found "
                         f"{labels.min()}..{labels.max()}")
    return (images[:, None].astype(np.float32) / 255), labels.astype(np.int64)


def load_mnist(split='train', root=None, download=True):
    """MNIST digits: images (N, 1, 28, 28) float32 in [0, 1] and labels (N,) int64."""
    return _load('mnist', split, root, download)


def load_fashion_mnist(split='train', root=None, download=True):
    """Fashion-MNIST (Xiao et al. 2017, arXiv:1708.07747): images (N, 1, 28, 28) float32
    in [0, 1] and labels (N,) int64 naming FASHION_MNIST_CLASSES."""
    return _load('fashion-mnist', split, root, download)
