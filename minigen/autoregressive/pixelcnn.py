"""Gated PixelCNN: an image generated pixel by pixel, with an exact log-likelihood.

van den Oord, Kalchbrenner, Vinyals, Espeholt, Graves & Kavukcuoglu 2016, "Conditional Image
Generation with PixelCNN Decoders" (arXiv:1606.05328), on the PixelCNN of arXiv:1601.06759:

    p(x | y) = prod_i p(x_i | x_<i, y)          x_<i: the pixels before i in raster order

Stacked masked 3x3 convolutions (masked_conv.py) leave a blind spot: the pixels up and to the
right of i are never seen. The gated PixelCNN removes it with two stacks (section 2.2):

  - the vertical stack v sees every row above (a (k // 2 + 1) x k convolution of the input
    padded on top only, so v at row i reads rows i - k // 2 .. i, never below);
  - the horizontal stack h sees the pixels left of i in its row (a 1 x k masked convolution,
    type A in the first layer, B after), plus v shifted down one row, so that row i of h
    reads v of row i - 1: all rows above, at every column within reach.

Each layer gates (eq. 2 and 4, with the class y as a one-hot h of the paper):

    v_pre = W_v * v + V_v y,                 v' = tanh(v_pre[:p]) . sigmoid(v_pre[p:])
    h_pre = W_h * h + W_link shift(v_pre) + V_h y,
    h' = h + W_res (tanh(h_pre[:p]) . sigmoid(h_pre[p:]))     (no residual in the first layer)

and the output is 1x1 convolutions from h: one logit per pixel (Bernoulli, binarized MNIST)
or 256 (a softmax over 8-bit grey levels). Training minimises the negative log-likelihood,
in nats per image, or bits per dimension = nats / (H W ln 2) (PixelCNN: 81.3 nats on
binarized MNIST, arXiv:1601.06759 table 2).

Every convolution reads rows at or above its output row only, and at most k // 2 columns
to either side, so the logits of pixel (i, j) are those of the image cropped to rows
i - reach .. i and columns j - (reach - 1) .. j + (reach - 1) (`window`): sampling runs the
net on that window, not on the whole image, for each of the H W pixels.
"""
import math

import numpy as np

import autograd
import minigen.nn.functional as F
from minigen.nn import Conv2d, Embedding, Module, ModuleList, init

from .masked_conv import MaskedConv2d


def shift_down(x):
    """x moved one row down, a zero row on top: row i then holds what row i - 1 held."""
    return F.pad(x, (0, 0, 1, 0))[:, :, :-1]


def gate(a):
    """tanh(a[:p]) . sigmoid(a[p:]) over the channel axis (the gated activation unit)."""
    f, g = a.chunk(2, axis=1)
    return f.tanh() * g.sigmoid()


class GatedLayer(Module):
    """One layer of both stacks: (v, h, y) -> (v', h')."""

    def __init__(self, in_channels, channels, kernel_size, first=False, n_classes=None):
        super().__init__()
        k, p = kernel_size, channels
        self.k, self.first = k, first
        self.v_conv = Conv2d(in_channels, 2 * p, (k // 2 + 1, k))       # W_v, rows above and own
        self.h_conv = MaskedConv2d(in_channels, 2 * p, (1, k), 'A' if first else 'B')  # W_h
        self.link = Conv2d(2 * p, 2 * p, 1)                               # W_link
        self.res = None if first else Conv2d(p, p, 1)                     # W_res
        self.cond = None
        if n_classes:
            self.cond = Embedding(n_classes, 4 * p)                       # V_v and V_h
            init.zeros_(self.cond.weight)

    def forward(self, v, h, y=None):
        k = self.k
        v_pre = self.v_conv(F.pad(v, (k // 2, k // 2, k // 2, 0)))  # pad left, right, top only
        h_pre = self.h_conv(h) + self.link(shift_down(v_pre))
        if self.cond is not None:
            cv, ch = self.cond(y).chunk(2, axis=1)
            v_pre = v_pre + cv.reshape(*cv.shape, 1, 1)
            h_pre = h_pre + ch.reshape(*ch.shape, 1, 1)
        h_out = gate(h_pre)
        return gate(v_pre), h_out if self.first else h + self.res(h_out)


class GatedPixelCNN(Module):
    """Gated PixelCNN on (N, 1, H, W) images in [0, 1]. output 'bernoulli' (binary pixels,
    one logit each) or 'softmax' (256 grey levels, 256 logits each). `layers` gated layers
    of `channels` channels, the first with a first_kernel-wide kernel, the others `kernel`;
    n_classes: class-conditional (forward needs y) or None."""

    def __init__(self, channels=32, layers=6, kernel=3, first_kernel=7, n_classes=None,
                 output='bernoulli', head_channels=None):
        super().__init__()
        if output not in ('bernoulli', 'softmax'):
            raise ValueError(f"GatedPixelCNN: output must be 'bernoulli' or 'softmax', got "
                             f"{output!r}")
        self.output, self.n_classes = output, n_classes
        self.levels = 2 if output == 'bernoulli' else 256
        self.layers = ModuleList(
            [GatedLayer(1, channels, first_kernel, first=True, n_classes=n_classes)]
            + [GatedLayer(channels, channels, kernel, n_classes=n_classes)
               for _ in range(layers - 1)])
        head = head_channels or 2 * channels
        self.head_1 = Conv2d(channels, head, 1)
        self.head_2 = Conv2d(head, 1 if output == 'bernoulli' else 256, 1)
        # rows above row i that row i's logits read: the shift, then each vertical kernel
        self.reach = 1 + first_kernel // 2 + (layers - 1) * (kernel // 2)
        self.side_reach = first_kernel // 2 + (layers - 1) * (kernel // 2)  # columns, each side

    def inputs(self, x):
        """The network's input: binary pixels as they are, grey levels k / 255 centred."""
        return x if self.output == 'bernoulli' else x * 2 - 1

    def forward(self, x, y=None):
        """Logits (N, 1, H, W) (bernoulli) or (N, 256, H, W) (softmax)."""
        if self.n_classes and y is None:
            raise ValueError("GatedPixelCNN: a class-conditional model needs labels y")
        v = h = self.inputs(x)
        for layer in self.layers:
            v, h = layer(v, h, y)
        return self.head_2(self.head_1(h).relu())

    def nll(self, x, y=None):
        """-log p(x | y) per image in nats, (N,): x binary (bernoulli) or in k / 255."""
        logits = self(x, y)
        if self.output == 'bernoulli':
            per_pixel = F.binary_cross_entropy_with_logits(logits, x, reduction='none')
        else:
            levels = np.rint(x.numpy()[:, 0] * 255).astype(np.int64)
            per_pixel = F.cross_entropy(logits, autograd.tensor(levels, device=x.device),
                                        reduction='none')
        return per_pixel.reshape(x.shape[0], -1).sum(axis=1)

    def window(self, i, j, H, W):
        """The rows and columns (two slices) whose pixels pixel (i, j)'s logits depend on,
        within an H x W image; (i, j) sits at (i - top, j - left) inside them."""
        r = self.side_reach
        return slice(max(0, i - self.reach), i + 1), slice(max(0, j - r), min(W, j + r + 1))

    def sample(self, n=None, y=None, image=None, start_row=0, size=(28, 28)):
        """Images drawn pixel by pixel under no_grad, as NumPy (N, 1, H, W) in [0, 1]: from
        blank, or completing `image` from row `start_row` on (rows above are kept). Each of
        the H W steps runs the net on the pixel's window for the whole batch at once."""
        if image is None:
            image = np.zeros((n if y is None else len(y), 1) + tuple(size))
        x = np.array(image, dtype=np.float64)
        H, W = x.shape[2:]
        yt = None if y is None else autograd.tensor(np.asarray(y), device=self.device)
        with autograd.no_grad():
            for i in range(start_row, H):
                for j in range(W):
                    rows, cols = self.window(i, j, H, W)
                    window = autograd.tensor(x[:, :, rows, cols], dtype=self.dtype,
                                             device=self.device)
                    logits = self(window, yt).numpy()[:, :, i - rows.start, j - cols.start]
                    logits = logits.astype(np.float64)
                    x[:, 0, i, j] = self._draw(logits)
        return x

    def _draw(self, logits):
        """One pixel per image from its logits (N, 1) or (N, 256), the engine's CPU RNG."""
        u = autograd.rand(len(logits), 1, device='cpu').numpy().astype(np.float64)[:, 0]
        if self.output == 'bernoulli':
            return (u < 1 / (1 + np.exp(-logits[:, 0]))).astype(np.float64)
        p = np.exp(logits - logits.max(1, keepdims=True))
        cdf = np.cumsum(p / p.sum(1, keepdims=True), axis=1)
        return np.minimum((cdf < u[:, None]).sum(1), 255) / 255

    @property
    def device(self):
        return self.head_2.weight.device

    @property
    def dtype(self):
        return self.head_2.weight.dtype


def bits_per_dim(nll_nats, dims):
    """Nats per image -> bits per dimension: nll / (D ln 2)."""
    return nll_nats / (dims * math.log(2))


def binarize(x):
    """Dynamic binarization: each pixel 1 with probability its grey level, a new draw each
    time (the PixelCNN papers' MNIST), from the engine's CPU RNG (so a resumed run draws
    what the uninterrupted one drew)."""
    return (autograd.rand(*x.shape, device='cpu').numpy() < x).astype(np.float32)
