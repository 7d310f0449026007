"""minigen.gans: generative adversarial networks.

Read in this order:
    losses.py  minimax, non-saturating, hinge, Wasserstein, least squares; the gradient
               penalty and R1, gradients of gradients (Goodfellow et al. 2014;
               Gulrajani et al. 2017; Mescheder et al. 2018)
    mlp.py     the MLP pair for 2-D toy data, where mode collapse can be seen
    dcgan.py   DCGAN's generator and discriminator, and class conditioning
               (Radford et al. 2015; Mirza & Osindero 2014; Miyato & Koyama 2018)
    sampling.py drawing from G: batched samples in [0, 1], latent interpolations, class grids
    stylegan_layers.py  StyleGAN's mapping network, modulated convolution with weight
               demodulation, noise inputs, equalized learning rate (Karras et al. 2019, 2020)
    stylegan.py the style-based generator: learned constant, per-layer styles, toRGB
               skips, the truncation trick, style mixing
    stylegan_discriminator.py  StyleGAN2's residual discriminator and the minibatch
               standard deviation layer (Karras et al. 2018, 2020)
    pix2pix.py paired translation: the U-Net generator, the PatchGAN discriminator and its
               receptive field, cGAN + lambda L1 (Isola et al. 2017)
    cyclegan.py unpaired translation: two generators, two discriminators, least squares,
               the cycle and identity losses, the history pool (Zhu et al. 2017)
"""
from . import losses  # noqa: F401
from .losses import (discriminator_loss, generator_loss, gradient_penalty, r1_penalty,  # noqa: F401
                     lsgan_discriminator_loss, lsgan_generator_loss)
from .mlp import MLPGenerator, MLPDiscriminator  # noqa: F401
from .dcgan import (DCGANGenerator, DCGANDiscriminator, ConditionalBatchNorm2d,  # noqa: F401
                    dcgan_init_)
from .sampling import sample, interpolate, class_grid  # noqa: F401
from .stylegan_layers import MappingNetwork, ModulatedConv2d, modulated_conv2d  # noqa: F401
from .stylegan import StyleGANGenerator, SynthesisNetwork, mix_styles  # noqa: F401
from .stylegan_discriminator import StyleGANDiscriminator, minibatch_stddev  # noqa: F401
from .pix2pix import (UNetGenerator, PatchDiscriminator, discriminator_objective,  # noqa: F401
                      generator_objective)
from .cyclegan import CycleGAN, ImagePool, cycle_loss, identity_loss  # noqa: F401
