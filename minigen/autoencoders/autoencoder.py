"""Autoencoder and denoising autoencoder.

An autoencoder squeezes an image x through a small code z = f(x) and rebuilds it,
x_hat = g(z); training minimises a reconstruction loss. For images with pixels in [0, 1]
we read the decoder's output as Bernoulli logits and use the cross-entropy

    L(x, x_hat) = sum_pixels [ -x log sigmoid(l) - (1 - x) log(1 - sigmoid(l)) ],   l = g(f(x)),

averaged over the batch (the reconstruction loss of Vincent et al. for [0, 1] inputs).

Denoising autoencoder (Vincent, Larochelle, Bengio & Manzagol 2008, "Extracting and
Composing Robust Features with Denoising Autoencoders", ICML): the encoder sees a
corrupted x_tilde ~ q_D(x_tilde | x) but the loss compares with the clean x,

    L = E_{x_tilde ~ q_D} L(x, g(f(x_tilde))),

so the code must capture the structure of the data rather than copy pixels. Two
corruptions, with the noise level as a parameter:
    'masking'  (the paper's): a fraction `noise_level` of pixels, drawn at random, set to 0;
    'gaussian': x_tilde = clip(x + noise_level * eps, 0, 1),  eps ~ N(0, I).
With noise_level = 0 the model is a plain autoencoder.
"""
import autograd
import minigen.nn as nn
import minigen.nn.functional as F
from .blocks import ImageToVector, VectorToImage, check_images

NOISES = ('masking', 'gaussian')


def corrupt(x, noise, noise_level):
    """x_tilde ~ q_D(x_tilde | x): masking noise or clipped additive Gaussian noise."""
    if noise not in NOISES:
        raise ValueError(f"autoencoder.corrupt: noise must be one of {NOISES}, got {noise!r}")
    if noise_level == 0:
        return x
    if noise == 'masking':
        keep = autograd.rand(*x.shape, device=x.device, dtype=x.dtype) >= noise_level
        return x * keep.data.astype(x.data.dtype)
    return (x + noise_level * autograd.randn(*x.shape, device=x.device, dtype=x.dtype)).clip(0, 1)


class Autoencoder(nn.Module):
    """x (N, C, H, W) in [0, 1] -> z (N, latent_dim) -> logits of x_hat.

    arch 'conv' (down/up blocks of minigen.autoencoders.blocks with widths `hidden`) or 'mlp'.
    noise, noise_level: the corruption applied to the input in training mode (a plain
    autoencoder when noise_level is 0); `loss` adds it, `reconstruct` never does."""

    def __init__(self, image_shape=(1, 28, 28), latent_dim=16, arch='conv', hidden=(32, 64),
                 noise='gaussian', noise_level=0.0):
        super().__init__()
        if noise not in NOISES:
            raise ValueError(f"autoencoder.Autoencoder: noise must be one of {NOISES}, "
                             f"got {noise!r}")
        if not 0 <= noise_level <= (1 if noise == 'masking' else float('inf')):
            raise ValueError(f"autoencoder.Autoencoder: noise_level {noise_level} out of range "
                             f"for {noise} noise")
        self.image_shape, self.latent_dim = tuple(image_shape), latent_dim
        self.noise, self.noise_level = noise, noise_level
        self.encoder = ImageToVector(image_shape, latent_dim, arch, hidden)
        self.decoder = VectorToImage(latent_dim, image_shape, arch, hidden)

    def _check(self, x):
        check_images(x, self.image_shape, 'autoencoder.Autoencoder')

    def encode(self, x):
        """z = f(x)."""
        self._check(x)
        return self.encoder(x)

    def decode(self, z):
        """x_hat = sigmoid(g(z)), in [0, 1]."""
        return self.decoder(z).sigmoid()

    def reconstruct(self, x):
        """x_hat = sigmoid(g(f(x))) for the input as given (clean or already noisy)."""
        return self.decode(self.encode(x))

    def loss(self, x, x_tilde=None):
        """Cross-entropy between x and the decoding of x_tilde, summed over pixels and
        averaged over the batch. x_tilde defaults to corrupt(x) in training mode, x in eval."""
        self._check(x)
        if x_tilde is None:
            x_tilde = corrupt(x, self.noise, self.noise_level) if self.training else x
        logits = self.decoder(self.encode(x_tilde))
        return F.binary_cross_entropy_with_logits(logits, x, reduction='sum') / x.shape[0]
