"""minigen.autoencoders: compress an image to a code and back.

Read in this order:
    blocks.py       conv encoder/decoder blocks and an MLP, shared by the models below
    autoencoder.py  the (denoising) autoencoder (Vincent et al. 2008)
    vae.py          the variational autoencoder: reparameterization, ELBO = recon - KL
                    (Kingma & Welling 2013)
    vqvae.py        VQ-VAE: nearest-code lookup, straight-through, EMA codebook
                    (van den Oord et al. 2017)
"""
from .blocks import ConvEncoder, ConvDecoder, MLP, ImageToVector, VectorToImage  # noqa: F401
from .autoencoder import Autoencoder, corrupt  # noqa: F401
from .vae import VAE, gaussian_kl, kl_warmup  # noqa: F401
from .vqvae import VQVAE, VectorQuantizer  # noqa: F401
