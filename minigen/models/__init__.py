"""minigen.models: whole networks built from minigen.nn layers, one family per file.

    blocks.py      conv encoder/decoder blocks and an MLP, shared by the autoencoders
    autoencoder.py autoencoder and denoising autoencoder
    vae.py         the variational autoencoder (ELBO = reconstruction - KL)
    vqvae.py       VQ-VAE: vector quantizer, straight-through, EMA codebook
    gan.py         DCGAN generator/discriminator, conditional variants, 2-D MLPs
    gan_losses.py  minimax, non-saturating, hinge, Wasserstein, gradient penalty, R1
    unet.py        the DDPM UNet (diffusion)
    encoders.py    a small ResNet image encoder, a Transformer text encoder, projection heads
    simclr.py      SimCLR and the NT-Xent loss
    clip.py        CLIP, its symmetric loss, zero-shot classification, retrieval recall
    probe.py       k-NN and linear-probe accuracy of frozen features
"""
from .unet import UNet  # noqa: F401
from .encoders import ResNetEncoder, TextTransformer, ProjectionHead, l2_normalize  # noqa: F401
from .simclr import SimCLR, nt_xent  # noqa: F401
from .clip import (CLIP, clip_loss, zero_shot_classifier, zero_shot_predict,  # noqa: F401
                   retrieval_recall)
from .probe import knn_accuracy, linear_probe_accuracy  # noqa: F401
from .blocks import ConvEncoder, ConvDecoder, MLP, ImageToVector, VectorToImage  # noqa: F401
from .autoencoder import Autoencoder  # noqa: F401
from .vae import VAE  # noqa: F401
from .vqvae import VQVAE, VectorQuantizer  # noqa: F401
from .gan import (DCGANGenerator, DCGANDiscriminator, ConditionalBatchNorm2d,  # noqa: F401
                  MLPGenerator, MLPDiscriminator, dcgan_init_)
from . import gan_losses  # noqa: F401
