"""CycleGAN: unpaired image-to-image translation with cycle consistency.

Zhu, Park, Isola & Efros 2017, "Unpaired Image-to-Image Translation using
Cycle-Consistent Adversarial Networks" (arXiv:1703.10593). With samples of two domains X
and Y but no pairs, two generators G: X -> Y and F: Y -> X are trained against two
discriminators D_Y (real y vs G(x)) and D_X (real x vs F(y)). Adversarial losses alone
only match distributions, so any permutation of the outputs would do; the cycle loss asks
each translation to be undone by the other:
    L_cyc(G, F) = E_x ||F(G(x)) - x||_1 + E_y ||G(F(y)) - y||_1                  (eq. 2)
    L(G, F, D_X, D_Y) = L_GAN(G, D_Y) + L_GAN(F, D_X) + lambda L_cyc(G, F),  lambda = 10  (eq. 3)
and, for colour tasks, an identity loss (sec. 5.2, "photo generation from paintings"),
weight 0.5 lambda, that asks each generator to leave images already in its target
domain alone, which keeps colours (and here, geometry) from drifting:
    L_identity = E_y ||G(y) - y||_1 + E_x ||F(x) - x||_1
L_GAN is least squares (sec. 4, "training details"; Mao et al. 2017, losses.py):
G minimises E (D_Y(G(x)) - 1)^2 and D_Y minimises E (D_Y(y) - 1)^2 + E D_Y(G(x))^2, halved
as in pix2pix.

History pool (sec. 4; Shrivastava et al. 2017, arXiv:1612.07828): the discriminators
see, half of the time, one of the last 50 generated images instead of the newest, so
they do not chase only the generator's latest mode. Per image: while fewer than 50 are
stored, store it and return it; after that, with probability 1/2 return a random stored
image and put the new one in its place, else return the new image.

The networks are pix2pix's (pix2pix.py): U-Net generators without dropout (the paper's
ResNet generator is for 128-256 px; junyanz's code takes a U-Net as well) and 16-pixel
PatchGAN discriminators on one image, all with instance norm. A known failure: G and F
can agree on hiding the information a cycle needs in faint, invisible detail of G(x)
("CycleGAN, a master of steganography", Chu, Zhmoginov & Sandler 2017,
arXiv:1712.02950), so a good cycle loss does not prove a faithful translation.
"""
import numpy as np

import autograd
from minigen import nn

from .losses import lsgan_discriminator_loss, lsgan_generator_loss
from .pix2pix import PatchDiscriminator, UNetGenerator


def cycle_loss(G, F, x, y):
    """E ||F(G(x)) - x||_1 + E ||G(F(y)) - y||_1 (eq. 2); G and F are any callables."""
    return (F(G(x)) - x).abs().mean() + (G(F(y)) - y).abs().mean()


def identity_loss(G, F, x, y):
    """E ||G(y) - y||_1 + E ||F(x) - x||_1 (sec. 5.2)."""
    return (G(y) - y).abs().mean() + (F(x) - x).abs().mean()


class ImagePool:
    """The last `pool_size` generated images; query(images) returns, per image, the image
    itself or (once full, with probability 1/2) an earlier one that it replaces. Seeded
    by `seed` (NumPy), so a run is repeatable."""

    def __init__(self, pool_size=50, seed=0):
        if pool_size < 0:
            raise ValueError(f"ImagePool: pool_size must be >= 0, got {pool_size}")
        self.pool_size, self.images = pool_size, []
        self.rng = np.random.default_rng(seed)

    def query(self, images):
        if self.pool_size == 0:
            return images
        out = []
        for image in images.detach().split(1, axis=0):  # a loop over the batch, not pixels
            if len(self.images) < self.pool_size:
                self.images.append(image)
                out.append(image)
            elif self.rng.random() < 0.5:
                k = int(self.rng.integers(self.pool_size))
                out.append(self.images[k])
                self.images[k] = image
            else:
                out.append(image)
        return autograd.cat(out, axis=0)

    def state_dict(self):
        return {'images': [i.numpy() for i in self.images],
                'rng': self.rng.bit_generator.state}

    def load_state_dict(self, state, device='cpu'):
        self.images = [autograd.tensor(a, device=device) for a in state['images']]
        self.rng.bit_generator.state = state['rng']


class CycleGAN(nn.Module):
    """G: X -> Y, F: Y -> X, D_X, D_Y, and the losses of eq. 3 plus identity.

    generator_objective(x, y) -> (total, terms, fake_x, fake_y); discriminator_objective(
    x, y, fake_x, fake_y) passes the fakes through the history pools."""

    def __init__(self, x_channels=3, y_channels=3, image_size=32, ngf=32, ndf=32, num_downs=4,
                 n_layers=1, lam=10.0, identity_weight=0.5, pool_size=50, seed=0):
        super().__init__()
        if identity_weight and x_channels != y_channels:
            raise ValueError(f"CycleGAN: the identity loss needs x_channels == y_channels, got "
                             f"{x_channels} and {y_channels}; use identity_weight=0")
        self.G = UNetGenerator(x_channels, y_channels, num_downs, ngf, 'instance', 0.0, image_size)
        self.F = UNetGenerator(y_channels, x_channels, num_downs, ngf, 'instance', 0.0, image_size)
        self.D_X = PatchDiscriminator(x_channels, 0, ndf, n_layers, 'instance')
        self.D_Y = PatchDiscriminator(y_channels, 0, ndf, n_layers, 'instance')
        self.lam, self.identity_weight = lam, identity_weight
        self.pool_x, self.pool_y = ImagePool(pool_size, seed), ImagePool(pool_size, seed + 1)

    def generator_objective(self, x, y):
        """L_GAN(G, D_Y) + L_GAN(F, D_X) + lam L_cyc + identity_weight lam L_identity."""
        fake_y, fake_x = self.G(x), self.F(y)
        gan = (lsgan_generator_loss(self.D_Y(fake_y).reshape(-1))
               + lsgan_generator_loss(self.D_X(fake_x).reshape(-1)))
        cyc = (self.F(fake_y) - x).abs().mean() + (self.G(fake_x) - y).abs().mean()  # eq. 2
        total = gan + self.lam * cyc
        terms = {'gan': gan, 'cycle': cyc}
        if self.identity_weight:
            terms['identity'] = identity_loss(self.G, self.F, x, y)
            total = total + self.identity_weight * self.lam * terms['identity']
        return total, terms, fake_x, fake_y

    def discriminator_objective(self, x, y, fake_x, fake_y):
        """(LS(D_X; x, pool(F(y))) + LS(D_Y; y, pool(G(x)))) / 2: each D's loss halved."""
        fake_x, fake_y = self.pool_x.query(fake_x), self.pool_y.query(fake_y)
        d_x = lsgan_discriminator_loss(self.D_X(x).reshape(-1), self.D_X(fake_x).reshape(-1))
        d_y = lsgan_discriminator_loss(self.D_Y(y).reshape(-1), self.D_Y(fake_y).reshape(-1))
        return 0.5 * (d_x + d_y)
