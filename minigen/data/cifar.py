"""CIFAR-10 from its python batches, read with a restricted unpickler.

The "python version" of CIFAR-10 (Krizhevsky 2009, cs.toronto.edu/~kriz/cifar.html)
is a folder `cifar-10-batches-py` of pickled dicts: `data_batch_1` .. `data_batch_5`
(training, 10,000 images each) and `test_batch`, each holding

    data    uint8 array (10000, 3072): row = 1024 red, 1024 green, 1024 blue values,
            each 32 x 32 in row-major order
    labels  list of 10,000 ints in 0..9

A pickle can name any Python callable and call it while loading, so loading a pickle
from the internet can run any code. `SafeUnpickler` resolves only the few globals a
pickled NumPy array needs (its reconstruction functions, ndarray, dtype, and
_codecs.encode for bytes in protocol 2) and refuses every other name before it is ever
imported or called. numpy's `_reconstruct(ndarray, shape, dtype)` allocates its shape
(pickles write (0,) and fill the array afterwards), so a crafted shape could ask for an
exabyte: it is allowed only up to the file's own size, which is all a real array in it
can carry.
"""
import codecs
import io
import math
import os
import pickle

import numpy as np

from .idx import cache_dir

CIFAR10_CLASSES = ('airplane', 'automobile', 'bird', 'cat', 'deer', 'dog', 'frog', 'horse',
                   'ship', 'truck')
_RECONSTRUCT = np.ndarray.__reduce__(np.zeros(1))[0]           # numpy's array rebuilders,
_FROMBUFFER = np.ndarray.__reduce_ex__(np.zeros(1), 5)[0]      # whichever module they are in
ALLOWED = {('numpy.core.multiarray', '_reconstruct'): _RECONSTRUCT,
           ('numpy._core.multiarray', '_reconstruct'): _RECONSTRUCT,
           ('numpy.core.numeric', '_frombuffer'): _FROMBUFFER,
           ('numpy._core.numeric', '_frombuffer'): _FROMBUFFER,
           ('numpy', 'ndarray'): np.ndarray,
           ('numpy', 'dtype'): np.dtype,
           ('_codecs', 'encode'): codecs.encode}


class SafeUnpickler(pickle.Unpickler):
    """An Unpickler that resolves only the globals in ALLOWED, and lets numpy's
    _reconstruct allocate at most `max_array_bytes` (None: no limit)."""

    def __init__(self, file, *, max_array_bytes=None, **kwargs):
        super().__init__(file, **kwargs)
        self.max_array_bytes = max_array_bytes

    def find_class(self, module, name):
        if (module, name) not in ALLOWED:
            raise pickle.UnpicklingError(f"SafeUnpickler: refusing global {module}.{name}: "
                                         f"only NumPy array reconstruction is allowed")
        found = ALLOWED[(module, name)]
        return self._reconstruct_within_limit if found is _RECONSTRUCT else found

    def _reconstruct_within_limit(self, subtype, shape, dtype):
        """numpy's _reconstruct, refused before it allocates more than max_array_bytes."""
        nbytes = math.prod(int(s) for s in shape) * np.dtype(dtype).itemsize
        if self.max_array_bytes is not None and nbytes > self.max_array_bytes:
            raise pickle.UnpicklingError(f"SafeUnpickler: an array of shape {tuple(shape)} "
                                         f"would allocate {nbytes} bytes, more than the "
                                         f"{self.max_array_bytes} the file holds")
        return _RECONSTRUCT(subtype, shape, dtype)


def read_batch(path):
    """Images (N, 3, 32, 32) uint8 and labels (N,) int64 of one CIFAR-10 batch file."""
    with open(path, 'rb') as f:
        raw = f.read()
    try:  # latin1 turns Python 2 byte strings into str, as NumPy expects
        batch = SafeUnpickler(io.BytesIO(raw), encoding='latin1',
                              max_array_bytes=len(raw)).load()
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError) as e:
        raise ValueError(f"read_batch: {path} is not a CIFAR-10 batch: {e}") from None
    except MemoryError as e:  # a batch is 30 MB: a file this asks for more is not one
        raise ValueError(f"read_batch: {path} is not a CIFAR-10 batch: loading it needs more "
                         f"memory than there is ({e})") from None
    if not isinstance(batch, dict):
        raise ValueError(f"read_batch: {path} holds a {type(batch).__name__}, not a batch dict")
    batch = {k.decode() if isinstance(k, bytes) else k: v for k, v in batch.items()}
    data, labels = batch.get('data'), np.asarray(batch.get('labels', []))
    if not (isinstance(data, np.ndarray) and data.dtype == np.uint8 and data.ndim == 2
            and data.shape[1] == 3 * 32 * 32):
        raise ValueError(f"read_batch: {path} needs 'data' as a uint8 array (N, 3072), got "
                         f"{getattr(data, 'dtype', type(data).__name__)} "
                         f"{getattr(data, 'shape', '')}")
    if labels.shape != (len(data),) or labels.dtype.kind not in 'iu' or \
            (labels.size and (labels.min() < 0 or labels.max() > 9)):
        raise ValueError(f"read_batch: {path} needs {len(data)} 'labels' in 0..9, got "
                         f"{labels.dtype} of shape {labels.shape}")
    return data.reshape(-1, 3, 32, 32), labels.astype(np.int64)


def load_cifar10(split='train', root=None):
    """CIFAR-10: images (N, 3, 32, 32) float32 in [0, 1] and labels (N,) int64.

    `root` is the folder `cifar-10-batches-py` (default <cache>/cifar10/cifar-10-batches-py
    with <cache> = $MINIGEN_DATA or ~/.cache/minigen).
    """
    names = {'train': [f'data_batch_{i}' for i in range(1, 6)], 'test': ['test_batch']}
    if split not in names:
        raise ValueError(f"load_cifar10: split must be 'train' or 'test', got {split!r}")
    root = os.path.join(cache_dir('cifar10'), 'cifar-10-batches-py') if root is None \
        else os.fspath(root)
    missing = [n for n in names[split] if not os.path.exists(os.path.join(root, n))]
    if missing:
        raise FileNotFoundError(
            f"load_cifar10: {missing} not found in {root}; download cifar-10-python.tar.gz "
            f"from https://www.cs.toronto.edu/~kriz/cifar.html, unpack it and pass "
            f"root=<its cifar-10-batches-py folder> (or unpack it into {os.path.dirname(root)})")
    parts = [read_batch(os.path.join(root, n)) for n in names[split]]
    images = np.concatenate([p[0] for p in parts]).astype(np.float32) / 255
    return images, np.concatenate([p[1] for p in parts])
