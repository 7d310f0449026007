"""DataLoader: mini-batches of arrays, shuffled by a seeded generator, on any device.

    loader = DataLoader((images, labels), batch_size=128, shuffle=True, device='cuda',
                        transform=simclr_augment())
    for x, y in loader:        # x, y: autograd.Tensors on the GPU
        ...

The data set is one array or a tuple of arrays sharing their first dimension (images,
labels, token ids, ...; NumPy or CuPy; a list such as the captions is made an array, and
batches of text come out as lists of str). Each
epoch (each `iter`) visits every index once, in a fresh random order when shuffling;
the order comes from the loader's own NumPy generator, seeded by `seed` or, when seed is
None, from autograd's generator (so `autograd.manual_seed` fixes it too). A batch is
gathered by fancy indexing, moved to `device`, passed through `transform(x, rng)` when
one is given (to the first array only, on the device, with the loader's generator: the
augmentations of minigen.data.augment fit) and wrapped as autograd.Tensors.
"""
import math

import numpy as np

from autograd import Tensor, backend


class DataLoader:
    def __init__(self, dataset, batch_size=1, shuffle=False, drop_last=False, transform=None,
                 device=None, seed=None):
        self.single = not isinstance(dataset, tuple)
        arrays = [dataset] if self.single else list(dataset)
        self.arrays = [a if hasattr(a, 'ndim') else np.asarray(a) for a in arrays]
        shapes = [a.shape for a in self.arrays]
        if not arrays or any(len(s) == 0 for s in shapes) or len({s[0] for s in shapes}) != 1:
            raise ValueError(f"DataLoader: the data set must be an array or a tuple of arrays "
                             f"sharing their first dimension, got shapes {shapes}")
        if not (isinstance(batch_size, int) and batch_size >= 1):
            raise ValueError(f"DataLoader: batch_size must be a positive int, got {batch_size!r}")
        self.n, self.batch_size = shapes[0][0], batch_size
        self.shuffle, self.drop_last, self.transform = shuffle, drop_last, transform
        self.device = backend.check_device(device or backend.get_default_device())
        self.rng = np.random.default_rng(backend.rng('cpu').integers(2 ** 63) if seed is None
                                         else seed)

    def __len__(self):
        """The number of batches in an epoch."""
        return self.n // self.batch_size if self.drop_last else math.ceil(self.n / self.batch_size)

    def _wrap(self, array):
        if array.dtype.kind in 'USO':  # text stays text
            return array.tolist()
        return Tensor(backend.to_device(array, self.device), device=self.device)

    def __iter__(self):
        order = self.rng.permutation(self.n) if self.shuffle else np.arange(self.n)
        for b in range(len(self)):
            idx = order[b * self.batch_size:(b + 1) * self.batch_size]
            batch = [a[backend.array_module(a).asarray(idx)] for a in self.arrays]
            if self.transform is not None:
                batch[0] = self.transform(backend.to_device(batch[0], self.device), self.rng)
            batch = [self._wrap(a) for a in batch]
            yield batch[0] if self.single else tuple(batch)
