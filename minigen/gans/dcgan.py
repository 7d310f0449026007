"""DCGAN: the convolutional generator and discriminator, optionally class-conditional.

Goodfellow et al. 2014, "Generative Adversarial Networks" (arXiv:1406.2661): a generator
G maps noise z ~ N(0, I) to a sample, a discriminator D(x) scores how real x looks, and the
two play min_G max_D E_x log D(x) + E_z log(1 - D(G(z))) (the losses: losses.py).
Every network here returns a LOGIT (no sigmoid): D(x) = sigmoid(logit); the Wasserstein
and hinge losses use the raw score.

DCGAN (Radford, Metz & Chintala 2015, arXiv:1511.06434), as in pytorch/examples dcgan:
    G: z (N, z_dim) -> ConvT(k s, 1, 0) to an s x s map (s = 7 for 28 px, else 4)
       -> [ConvT(4, 2, 1) + BatchNorm + ReLU] x (n - 1) -> ConvT(4, 2, 1) -> Tanh
       channels ngf 2^(n-1), ..., 2 ngf, ngf halving as the map doubles; images in [-1, 1]
    D: x -> Conv(4, 2, 1) + LeakyReLU(0.2)  (no norm on the first layer)
       -> [Conv(4, 2, 1) + norm + LeakyReLU(0.2)] x (n - 1) -> Conv(s, 1, 0) -> logit
       channels ndf, 2 ndf, ..., ndf 2^(n-1)
    n = log2(image_size / s) up- or down-sampling steps; convolutions have no bias (batch
    norm follows them); init: conv weights ~ N(0, 0.02), BN gamma ~ N(1, 0.02), beta = 0.
For MNIST, DCGANGenerator(ngf=64) + DCGANDiscriminator(ndf=32) at 28 px have 796,224
parameters together, small enough to train to legible digits in minutes on 2 CPU cores.
The discriminator's norm is 'batch' (DCGAN) or None: a WGAN-GP critic must not use batch
norm, because the penalty asks for the gradient of each D(x_hat_i) w.r.t. its own input
and batch norm mixes the examples (Gulrajani et al. 2017, arXiv:1704.00028, sec. 4);
'layer' (GroupNorm with one group: per-example statistics) is the paper's substitute.

Class conditioning (num_classes given; Mirza & Osindero 2014, arXiv:1411.1784):
    G, conditioning='concat': z' = [z, embed_G(y)], a learned embedding (N(0, 1) init,
      embed_dim 10) concatenated to the noise;
    G, conditioning='batchnorm': conditional batch norm (de Vries et al. 2017,
      arXiv:1707.00683), the projection paper's generator: BN(h) * gamma_y + beta_y, with
      gamma_y ~ N(1, 0.02), beta_y = 0;
    D, conditioning='concat': one-hot label maps (N, K, H, W) concatenated to the image;
    D, conditioning='projection' (Miyato & Koyama 2018, arXiv:1802.05637, eq. 3):
      D(x, y) = psi(phi(x)) + embed_D(y) . phi(x), phi(x) the last feature map summed
      over its pixels (N, C), psi the final convolution, embed_D ~ N(0, 0.02).
  The balance matters (our MNIST runs, 300-800 steps at Adam 2e-4, 28 px): with a 50-d
  (or 20-d) N(0, 1) embedding G learns the classes fast but then ignores z (one image
  per class); conditional batch norm, a one-hot input or an N(0, 0.1) embedding keep z
  alive but learn the classes slowly (Adam moves gamma_y by ~lr a step), and so does the
  projection D at this init. The defaults, a 10-d embedding in G and one-hot maps in D,
  learned both within a few hundred steps; the others are here to compare.
"""
import math

import autograd
from minigen import nn


def dcgan_init_(module):
    """DCGAN's init, in place: conv / conv-transpose / linear weights ~ N(0, 0.02), batch
    norm gamma ~ N(1, 0.02) and beta = 0 (Radford et al. 2015, sec. 4); returns module."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            nn.init.normal_(m.weight, 0.0, 0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, (nn.BatchNorm2d, nn.GroupNorm)) and m.weight is not None:
            nn.init.normal_(m.weight, 1.0, 0.02)
            nn.init.zeros_(m.bias)
    return module


def _start_and_steps(name, image_size):
    """(s, n): the smallest map s (7 for 28 px, else 4) and the n doublings to image_size."""
    start = 7 if image_size % 7 == 0 else 4
    steps = math.log2(image_size / start) if image_size >= 2 * start else 0
    if steps < 1 or steps != int(steps):
        raise ValueError(f"{name}: image_size must be 7 2^n or 4 2^n with n >= 1 (14, 28, "
                         f"56, 8, 16, 32, 64, ...), got {image_size}")
    return start, int(steps)


class ConditionalBatchNorm2d(nn.Module):
    """BN(x) * gamma_y + beta_y: batch norm without its own affine step, then the scale
    and shift of class y, looked up in two embeddings (de Vries et al. 2017)."""

    def __init__(self, num_features, num_classes):
        super().__init__()
        self.bn = nn.BatchNorm2d(num_features, affine=False)
        self.gamma, self.beta = (nn.Embedding(num_classes, num_features),
                                 nn.Embedding(num_classes, num_features))
        nn.init.normal_(self.gamma.weight, 1.0, 0.02)  # DCGAN's BN init, per class
        nn.init.zeros_(self.beta.weight)

    def forward(self, x, y):
        shape = (x.shape[0], x.shape[1], 1, 1)
        return self.bn(x) * self.gamma(y).reshape(shape) + self.beta(y).reshape(shape)


def _check_labels(name, y, n, num_classes):
    if num_classes is None:
        if y is not None:
            raise ValueError(f"{name}: got labels y but the model is unconditional "
                             f"(num_classes=None)")
        return None
    if y is None:
        raise ValueError(f"{name}: a conditional model (num_classes={num_classes}) needs "
                         f"labels y of shape ({n},)")
    if not isinstance(y, autograd.Tensor):
        y = autograd.tensor(y, dtype=autograd.int64)
    if y.shape != (n,):
        raise ValueError(f"{name}: expected labels y of shape ({n},), got {y.shape}")
    return y


class DCGANGenerator(nn.Module):
    """z (N, z_dim) [and labels y (N,)] -> images (N, channels, image_size, image_size) in
    [-1, 1]."""

    def __init__(self, z_dim=100, image_size=28, channels=1, ngf=64, num_classes=None,
                 conditioning='concat', embed_dim=10):
        super().__init__()
        start, n = _start_and_steps('DCGANGenerator', image_size)
        if conditioning not in ('concat', 'batchnorm'):
            raise ValueError(f"DCGANGenerator: conditioning must be 'concat' or 'batchnorm', "
                             f"got {conditioning!r}")
        self.z_dim, self.image_size, self.channels = z_dim, image_size, channels
        self.num_classes, self.conditioning = num_classes, conditioning
        cbn = num_classes is not None and conditioning == 'batchnorm'

        def norm(c):
            return ConditionalBatchNorm2d(c, num_classes) if cbn else nn.BatchNorm2d(c)

        in_dim = z_dim
        if num_classes is not None and conditioning == 'concat':
            self.embed = nn.Embedding(num_classes, embed_dim)  # N(0, 1), like z
            in_dim += embed_dim
        width = [ngf * 2 ** (n - 1 - i) for i in range(n)]  # ngf 2^(n-1), ..., 2 ngf, ngf
        layers = [nn.ConvTranspose2d(in_dim, width[0], start, 1, 0, bias=False),
                  norm(width[0]), nn.ReLU()]
        for c_in, c_out in zip(width[:-1], width[1:]):
            layers += [nn.ConvTranspose2d(c_in, c_out, 4, 2, 1, bias=False), norm(c_out),
                       nn.ReLU()]
        layers += [nn.ConvTranspose2d(width[-1], channels, 4, 2, 1, bias=False), nn.Tanh()]
        self.net = nn.Sequential(*layers)
        dcgan_init_(self)

    def forward(self, z, y=None):
        if z.ndim != 2 or z.shape[1] != self.z_dim:
            raise ValueError(f"DCGANGenerator: expected z of shape (N, {self.z_dim}), got "
                             f"{z.shape}")
        y = _check_labels('DCGANGenerator', y, z.shape[0], self.num_classes)
        if y is not None:
            y = y.to(device=z.device)
            if self.conditioning == 'concat':  # z' = [z, embed(y)]
                z = autograd.cat([z, self.embed(y)], axis=1)
        h = z.reshape(z.shape[0], z.shape[1], 1, 1)
        for layer in self.net:  # conditional norms also take the labels
            h = layer(h, y) if isinstance(layer, ConditionalBatchNorm2d) else layer(h)
        return h


class DCGANDiscriminator(nn.Module):
    """images (N, channels, image_size, image_size) [and labels y (N,)] -> logits (N,)."""

    def __init__(self, image_size=28, channels=1, ndf=32, norm='batch', num_classes=None,
                 conditioning='concat'):
        super().__init__()
        start, n = _start_and_steps('DCGANDiscriminator', image_size)
        if norm not in ('batch', 'layer', None):
            raise ValueError(f"DCGANDiscriminator: norm must be 'batch', 'layer' or None, "
                             f"got {norm!r}")
        if conditioning not in ('concat', 'projection'):
            raise ValueError(f"DCGANDiscriminator: conditioning must be 'concat' or "
                             f"'projection', got {conditioning!r}")
        self.image_size, self.channels, self.num_classes = image_size, channels, num_classes
        self.conditioning = conditioning
        concat = num_classes is not None and conditioning == 'concat'
        width = [ndf * 2 ** i for i in range(n)]  # ndf, 2 ndf, ..., ndf 2^(n-1)
        layers = [nn.Conv2d(channels + (num_classes if concat else 0), width[0], 4, 2, 1,
                            bias=norm is None),
                  nn.LeakyReLU(0.2)]
        for c_in, c_out in zip(width[:-1], width[1:]):
            layers.append(nn.Conv2d(c_in, c_out, 4, 2, 1, bias=norm is None))
            if norm == 'batch':
                layers.append(nn.BatchNorm2d(c_out))
            elif norm == 'layer':
                layers.append(nn.GroupNorm(1, c_out))
            layers.append(nn.LeakyReLU(0.2))
        self.features = nn.Sequential(*layers)                    # phi(x): (N, C, s, s)
        self.head = nn.Conv2d(width[-1], 1, start, 1, 0, bias=norm is None)  # psi
        dcgan_init_(self)
        if num_classes is not None and not concat:  # small, like the weights
            self.embed = nn.Embedding(num_classes, width[-1])
            nn.init.normal_(self.embed.weight, 0.0, 0.02)

    def forward(self, x, y=None):
        size = self.image_size
        if x.ndim != 4 or x.shape[1:] != (self.channels, size, size):
            raise ValueError(f"DCGANDiscriminator: expected images of shape (N, "
                             f"{self.channels}, {size}, {size}), got {x.shape}")
        y = _check_labels('DCGANDiscriminator', y, x.shape[0], self.num_classes)
        if y is not None and self.conditioning == 'concat':  # [x, one-hot maps of y]
            xp = autograd.backend.array_module(x.data)
            onehot = xp.eye(self.num_classes, dtype=x.data.dtype)[y.to(device=x.device).data]
            maps = xp.broadcast_to(onehot[:, :, None, None], (x.shape[0], self.num_classes,
                                                              size, size))
            x = autograd.cat([x, autograd.as_tensor(xp.ascontiguousarray(maps))], axis=1)
        h = self.features(x)
        logit = self.head(h).reshape(x.shape[0])
        if y is not None and self.conditioning == 'projection':  # + embed(y) . sum phi(x)
            logit = logit + (self.embed(y.to(device=x.device)) * h.sum(axis=(2, 3))).sum(axis=1)
        return logit
