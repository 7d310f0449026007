"""minigen.data: data sets, a batch loader and augmentations (NumPy arrays in, out).

    shapes.py     captioned procedural shapes, the built-in default (no download), with
                  their silhouettes and outlines on request (pix2pix, ControlNet)
    compositions.py  held-out (shape, colour) pairs and the split without them
    toy2d.py      2-D distributions: swiss roll, moons, Gaussian mixtures, checkerboard, rings
    tokenizer.py  a word-level, CLIP-style tokenizer for the captions
    idx.py        MNIST and Fashion-MNIST from their IDX files
    cifar.py      CIFAR-10 from its python batches, with a restricted unpickler
    folder.py     an image folder with one sub-folder per class, through Pillow
    loader.py     DataLoader: shuffled, seeded mini-batches as Tensors on a device
    augment.py    SimCLR's augmentations, vectorized over a batch

Images are float32 (N, C, H, W) in [0, 1], labels int64 (N,).
"""
from .shapes import (make_shapes, caption, outline, SHAPES, COLORS, SIZES,  # noqa: F401
                     POSITIONS, VOCAB)
from .compositions import HELD_OUT_PAIRS, held_out_mask, split_compositions  # noqa: F401
from .toy2d import toy2d, modes  # noqa: F401
from .tokenizer import Tokenizer  # noqa: F401
from .idx import read_idx, load_mnist, load_fashion_mnist, FASHION_MNIST_CLASSES  # noqa: F401
from .cifar import load_cifar10, read_batch, CIFAR10_CLASSES  # noqa: F401
from .folder import load_image_folder  # noqa: F401
from .loader import DataLoader  # noqa: F401
from . import augment  # noqa: F401
