"""Drawing from a trained generator: batched samples, latent interpolations, class grids.

A GAN's generator G maps noise z ~ N(0, I) (and, when conditional, a label y) to an image
in [-1, 1] (DCGAN's Tanh output; Radford, Metz & Chintala 2015, arXiv:1511.06434). These
helpers run G in eval mode (batch norm with its running statistics) without a graph, and
return NumPy images in [0, 1], the range pictures and metrics take:

    sample(G, z, y)            (G(z, y) + 1) / 2, in batches
    interpolate(G, z_a, z_b)   G((1 - t) z_a + t z_b) for t in [0, 1]: straight lines in
                               latent space (Radford et al. 2015, sec. 6.1)
    class_grid(G, z_cols, K)   row k holds class k, column j shares the noise z_cols[j]
                               (Mirza & Osindero 2014, arXiv:1411.1784, fig. 2)
"""
import numpy as np

import autograd


def sample(G, z, y=None, batch=500):
    """G's images for noise z (N, z_dim) and labels y (N,) or None, as NumPy (N, C, H, W)
    in [0, 1], computed in eval mode in batches of `batch`; G is left in train mode."""
    G.eval()
    with autograd.no_grad():
        out = [G(z[i:i + batch], None if y is None else y[i:i + batch]).numpy()
               for i in range(0, len(z), batch)]
    G.train()
    return np.clip((np.concatenate(out) + 1) / 2, 0, 1)


def interpolate(G, z_a, z_b, steps=10):
    """G along the straight line from each z_a[i] to z_b[i] (P pairs of (P, z_dim)) at
    `steps` evenly spaced t in [0, 1]: (P, steps, C, H, W) in [0, 1]."""
    t = autograd.tensor(np.linspace(0, 1, steps, dtype=np.float32), device=z_a.device)
    t = t.reshape(1, steps, 1)
    path = z_a.unsqueeze(1) * (1 - t) + z_b.unsqueeze(1) * t          # (P, steps, z_dim)
    images = sample(G, path.reshape(len(z_a) * steps, z_a.shape[1]))
    return images.reshape(len(z_a), steps, *images.shape[1:])


def class_grid(G, z_cols, num_classes):
    """num_classes rows of len(z_cols) images: row k is class k, column j is G(z_cols[j], k),
    so a column keeps its noise (its "style") across classes. (K * J, C, H, W) in [0, 1]."""
    z = autograd.tensor(np.tile(z_cols.numpy(), (num_classes, 1)), device=z_cols.device)
    y = autograd.tensor(np.repeat(np.arange(num_classes), len(z_cols)), device=z_cols.device)
    return sample(G, z, y)
