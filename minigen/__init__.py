"""minigen: generative models from scratch on the autograd engine.

    import minigen.nn as nn, minigen.nn.functional as F    layers
    import minigen.optim as optim                           optimizers, schedules, EMA
    minigen.save(dict, path) / minigen.load(path)           checkpoints (.npz, no pickle)

One package per family of the syllabus, in the order a course teaches them:
    minigen.autoencoders   autoencoder, VAE, VQ-VAE
    minigen.autoregressive masked convolutions, the gated PixelCNN, a GPT over tokens
    minigen.gans           GAN losses, 2-D MLP GANs, DCGAN and class conditioning
    minigen.contrastive    SimCLR, CLIP
    minigen.diffusion      DDPM, DDIM, classifier-free guidance, the UNet
and beside them minigen.data, minigen.metrics, minigen.viz.
"""
from . import nn, optim  # noqa: F401
from .checkpoint import save, load  # noqa: F401
