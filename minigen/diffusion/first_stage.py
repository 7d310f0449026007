"""The first stage of latent diffusion: a KL-regularised autoencoder from images to latents.

Rombach, Blattmann, Lorenz, Esser & Ommer 2022, "High-Resolution Image Synthesis with Latent
Diffusion Models" (arXiv:2112.10752), section 3.1; the code this follows is
github.com/CompVis/latent-diffusion (ldm/models/autoencoder.py AutoencoderKL,
ldm/modules/diffusionmodules/model.py Encoder/Decoder, ldm/modules/distributions/
distributions.py DiagonalGaussianDistribution).

An encoder E maps an image x (C, H, W) to a latent z = E(x) of shape (c, h, w) with
h = H / f, w = W / f (f, the downsampling factor, 4 by default here, or 2; c = 4 latent
channels by default, as the KL-f8 model Stable Diffusion uses); a decoder D gives x~ = D(z)
back. The diffusion model then runs on z, where f^2 C / c times fewer numbers describe an
image.

The posterior.  E predicts a diagonal Gaussian q(z|x) = N(mu, diag(sigma^2)) per latent
element, from 2c output channels read as (mu, log sigma^2), log sigma^2 clamped to
[-30, 20] as in DiagonalGaussianDistribution:

    z = mu + sigma * eps,  eps ~ N(0, I)              (reparameterisation; mode(): z = mu)
    KL(q(z|x) || N(0, I)) = 1/2 sum_j (mu_j^2 + sigma_j^2 - 1 - log sigma_j^2)   per example,

summed over all c h w latent elements (minigen.autoencoders.vae.gaussian_kl).

The loss (section 3.1, "KL-reg."): a reconstruction term plus a *slight* KL penalty
towards a standard normal, weight 1e-6 in the paper's KL-reg models, which keeps the latent
space from arbitrarily high variance without asking q(z|x) to be the prior (it is not a
VAE's ELBO: the latents stay informative and nearly deterministic):

    L = sum_pixels (|x - x~| + (x - x~)^2) + kl_weight * KL,      both averaged over the batch

Normalisation: both terms are per-example *sums* (over C H W pixels, over c h w latent
elements) and then batch means, as the reference's LPIPSWithDiscriminator does
(nll_loss = sum(rec) / N, kl_loss = sum(kl) / N, loss = nll_loss + kl_weight kl_loss), so
kl_weight = 1e-6 means what it means there. The per-pixel means of |x - x~| and
(x - x~)^2 are returned beside it for logging. The reference's reconstruction is L1 plus
LPIPS, with a PatchGAN discriminator switched on later in training; neither is here:
LPIPS needs a pretrained VGG (no pretrained nets in this library), and the adversarial
term would bring a GAN's instabilities to this small library's autoencoder. Without them
reconstructions are blurrier (the paper's reason for both); on small images of flat shapes
L1 + L2 is enough.

The data range: images x in [-1, 1] (images01 * 2 - 1, as the reference's data loaders);
the decoder's output is unbounded (no tanh, as in the reference) and is clipped to [-1, 1]
only when turned back into pictures (`reconstruct`).

The scale factor (the paper's rescaling of the latents to unit standard deviation, section
4.3.2; LatentDiffusion.on_train_batch_start in ldm/models/diffusion/ddpm.py of
github.com/CompVis/latent-diffusion): one noise schedule (beta_t, alpha_bar_t)
is designed for data of unit variance: q(x_t|x_0) = N(sqrt(alpha_bar_t) x_0,
(1 - alpha_bar_t) I) reaches N(0, I) at t = T, and the signal-to-noise ratio
alpha_bar_t Var(x_0) / (1 - alpha_bar_t) the schedule was tuned for assumes Var(x_0) = 1.
The KL weight is too small to bring the latents to unit variance, so they are rescaled,

    scale = 1 / std(z),   z ~ q(z|x) over the training images,
    z_diffusion = scale * z   (encode_latents),   x = D(z_diffusion / scale)  (decode_latents).

Stable Diffusion's 0.18215 (scale_factor in configs/stable-diffusion/v1-inference.yaml of
github.com/CompVis/stable-diffusion) is this number for its KL-f8 autoencoder. The
reference takes the std over the posterior *samples* of its first batch
(get_first_stage_encoding calls .sample()), because samples are what the diffusion model is
trained on; here the default is the same (use='sample'), over at least 1,000 images in
batches, and use='mean' takes mu instead (with a KL weight of 1e-6 sigma is small and the
two agree closely). The std is the centred one over all latent elements together
(z.flatten().std() in the reference), and the result lives in the buffer `scale_factor`, so
state_dict and checkpoints carry it. decode_latents(N(0, I)) = D(N(0, I) / scale) is the
decoder reading a sampler's x_T, pure noise in the scaled latent space: the division by
scale is right, and noise-like pictures from it are expected, not a bug.
"""
import math

import numpy as np

import autograd
from autograd import no_grad
from minigen import nn
from minigen.autoencoders.vae import gaussian_kl
from .unet import AttnBlock, Downsample, Upsample

FACTORS = (2, 4)
LOGVAR_RANGE = (-30.0, 20.0)  # DiagonalGaussianDistribution's torch.clamp(logvar, -30, 20)


class DiagonalGaussian:
    """q(z|x) = N(mean, diag(exp(logvar))) for latents of any shape (N, ...); logvar is
    clamped to [-30, 20]. PyTorch-like: .mean, .logvar, .var, .std, .sample(), .mode(),
    .kl() (per example, against N(0, I))."""

    def __init__(self, mean, logvar):
        if tuple(mean.shape) != tuple(logvar.shape):
            raise ValueError(f"DiagonalGaussian: mean and logvar must have one shape, got "
                             f"{mean.shape} and {logvar.shape}")
        self.mean = mean
        self.logvar = logvar.clip(*LOGVAR_RANGE)
        self.std = (0.5 * self.logvar).exp()
        self.var = self.logvar.exp()

    @classmethod
    def from_parameters(cls, parameters):
        """Split (N, 2c, ...) along axis 1 into mean (N, c, ...) and logvar (N, c, ...)."""
        if parameters.ndim < 2 or parameters.shape[1] % 2:
            raise ValueError(f"DiagonalGaussian.from_parameters: expected (N, 2c, ...) with an "
                             f"even axis 1, got {parameters.shape}")
        mean, logvar = parameters.chunk(2, axis=1)
        return cls(mean, logvar)

    @property
    def shape(self):
        return tuple(self.mean.shape)

    def sample(self, eps=None):
        """z = mean + std * eps, eps ~ N(0, I) unless given (differentiable in mean, logvar)."""
        if eps is None:
            eps = autograd.randn(*self.mean.shape, device=self.mean.device, dtype=self.mean.dtype)
        elif tuple(eps.shape) != self.shape:
            raise ValueError(f"DiagonalGaussian.sample: eps must have shape {self.shape}, "
                             f"got {eps.shape}")
        return self.mean + self.std * eps

    def mode(self):
        """The most likely z: the mean."""
        return self.mean

    def kl(self):
        """KL(q || N(0, I)) per example, (N,): 1/2 sum (mu^2 + sigma^2 - 1 - log sigma^2)."""
        n = self.mean.shape[0]
        return gaussian_kl(self.mean.reshape(n, -1), self.logvar.reshape(n, -1))

    def __repr__(self):
        return f"DiagonalGaussian(shape={self.shape})"


def kl_reg_loss(x, x_rec, posterior, kl_weight=1e-6):
    """The KL-regularised first-stage loss, averaged over the batch; a dict of Tensors:
    loss = recon + kl_weight * kl (what to minimise), recon = per-example sum of
    |x - x~| + (x - x~)^2, kl = per-example KL to N(0, I), and for logging l1, l2: the
    per-pixel means of |x - x~| and (x - x~)^2."""
    if tuple(x.shape) != tuple(x_rec.shape):
        raise ValueError(f"kl_reg_loss: x and x_rec must have one shape, got {x.shape} and "
                         f"{x_rec.shape}")
    if posterior.shape[0] != x.shape[0]:
        raise ValueError(f"kl_reg_loss: the posterior has {posterior.shape[0]} examples, "
                         f"x has {x.shape[0]}")
    if kl_weight < 0:
        raise ValueError(f"kl_reg_loss: kl_weight must be >= 0, got {kl_weight}")
    n = x.shape[0]
    d = x - x_rec
    abs_d, sq_d = d.abs(), d * d
    recon = (abs_d + sq_d).sum() / n
    kl = posterior.kl().mean()
    return {'loss': recon + kl_weight * kl, 'recon': recon, 'kl': kl,
            'l1': abs_d.mean(), 'l2': sq_d.mean()}


class ResnetBlock(nn.Module):
    """x -> skip(x) + conv3x3(SiLU(GN(conv3x3(SiLU(GN(x)))))), the reference's ResnetBlock
    without a time embedding (skip: 1x1 conv when the width changes, else the identity)."""

    def __init__(self, in_channels, out_channels, groups):
        super().__init__()
        self.norm1 = nn.GroupNormSiLU(groups, in_channels)  # SiLU(GN(.)), fused for speed
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, padding=1)
        self.norm2 = nn.GroupNormSiLU(groups, out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1)
        self.skip = nn.Conv2d(in_channels, out_channels, 1) if in_channels != out_channels else None

    def forward(self, x):
        h = self.conv2(self.norm2(self.conv1(self.norm1(x))))
        return (x if self.skip is None else self.skip(x)) + h


def _widths(base_channels, channel_mults):
    return [base_channels * m for m in channel_mults]


class Encoder(nn.Module):
    """(N, in_channels, H, W) -> (N, out_channels, H / f, W / f), f = 2^(len(channel_mults)-1):
    conv_in; per level num_res_blocks ResnetBlocks, then a stride-2 conv (not at the last
    level); middle ResnetBlock, [self-attention,] ResnetBlock; SiLU(GN), conv_out.
    The down and up convolutions, the self-attention block are the UNet's (unet.py); the
    reference's stride-2 conv pads only right and bottom, this one pads 1 all round (both
    halve H and W)."""

    def __init__(self, in_channels, out_channels, base_channels, channel_mults, num_res_blocks,
                 groups, attention):
        super().__init__()
        widths = _widths(base_channels, channel_mults)
        self.conv_in = nn.Conv2d(in_channels, base_channels, 3, padding=1)
        layers, ch = [], base_channels
        for level, width in enumerate(widths):
            for _ in range(num_res_blocks):
                layers.append(ResnetBlock(ch, width, groups))
                ch = width
            if level != len(widths) - 1:
                layers.append(Downsample(ch))
        layers += [ResnetBlock(ch, ch, groups)] + ([AttnBlock(ch, groups)] if attention else [])
        layers += [ResnetBlock(ch, ch, groups), nn.GroupNormSiLU(groups, ch)]
        self.blocks = nn.Sequential(*layers)
        self.conv_out = nn.Conv2d(ch, out_channels, 3, padding=1)

    def forward(self, x):
        return self.conv_out(self.blocks(self.conv_in(x)))


class Decoder(nn.Module):
    """(N, in_channels, h, w) -> (N, out_channels, h f, w f), the Encoder's mirror: conv_in;
    middle ResnetBlock, [self-attention,] ResnetBlock; per level in reverse
    num_res_blocks + 1 ResnetBlocks, then nearest x2 and a 3x3 conv (not at level 0);
    SiLU(GN), conv_out (no output non-linearity)."""

    def __init__(self, in_channels, out_channels, base_channels, channel_mults, num_res_blocks,
                 groups, attention):
        super().__init__()
        widths = _widths(base_channels, channel_mults)
        ch = widths[-1]
        self.conv_in = nn.Conv2d(in_channels, ch, 3, padding=1)
        layers = [ResnetBlock(ch, ch, groups)] + ([AttnBlock(ch, groups)] if attention else [])
        layers.append(ResnetBlock(ch, ch, groups))
        for level in reversed(range(len(widths))):
            for _ in range(num_res_blocks + 1):
                layers.append(ResnetBlock(ch, widths[level], groups))
                ch = widths[level]
            if level != 0:
                layers.append(Upsample(ch))
        layers.append(nn.GroupNormSiLU(groups, ch))
        self.blocks = nn.Sequential(*layers)
        self.conv_out = nn.Conv2d(ch, out_channels, 3, padding=1)

    def forward(self, z):
        return self.conv_out(self.blocks(self.conv_in(z)))


def _check_positive_int(value, name, where):
    if not (isinstance(value, (int, np.integer)) and not isinstance(value, bool) and value > 0):
        raise ValueError(f"{where}: {name} must be a positive int, got {value!r}")


class AutoencoderKL(nn.Module):
    """The KL-regularised first stage: E(x) -> q(z|x), D(z) -> x~, images in [-1, 1].

    in_channels: image channels C; latent_channels: c (4, as the paper's KL models);
    downsample_factor: f, 4 (default) or 2, so latents are (c, H / f, W / f);
    base_channels, channel_mults: widths per level (default (1, 2, 2) for f = 4 and (1, 2)
    for f = 2; log2(f) + 1 levels); num_res_blocks: per encoder level (the decoder has one
    more); groups: GroupNorm groups (must divide every width); attention: self-attention in
    the middle blocks (as the reference); kl_weight: the KL's weight in `loss` (1e-6).

    Buffers: scale_factor (1.0 until `fit_scale_factor`), carried by state_dict.
    """

    def __init__(self, in_channels=3, latent_channels=4, downsample_factor=4, base_channels=32,
                 channel_mults=None, num_res_blocks=1, groups=8, attention=True,
                 kl_weight=1e-6):
        super().__init__()
        where = 'AutoencoderKL'
        if downsample_factor not in FACTORS or isinstance(downsample_factor, bool):
            raise ValueError(f"{where}: downsample_factor must be one of {FACTORS}, got "
                             f"{downsample_factor!r}")
        for value, name in ((in_channels, 'in_channels'), (latent_channels, 'latent_channels'),
                            (base_channels, 'base_channels'), (num_res_blocks, 'num_res_blocks'),
                            (groups, 'groups')):
            _check_positive_int(value, name, where)
        levels = int(math.log2(downsample_factor)) + 1
        if channel_mults is None:
            channel_mults = (1,) + (2,) * (levels - 1)
        channel_mults = tuple(channel_mults)
        if len(channel_mults) != levels:
            raise ValueError(f"{where}: downsample_factor={downsample_factor} needs "
                             f"{levels} channel_mults (one per level), got {channel_mults}")
        bad = [w for w in [base_channels] + _widths(base_channels, channel_mults) if w % groups]
        if bad:
            raise ValueError(f"{where}: groups={groups} must divide every width, not {bad}")
        if kl_weight < 0:
            raise ValueError(f"{where}: kl_weight must be >= 0, got {kl_weight}")
        self.in_channels, self.latent_channels = in_channels, latent_channels
        self.downsample_factor, self.kl_weight = downsample_factor, kl_weight
        self.channel_mults = channel_mults
        arch = (base_channels, channel_mults, num_res_blocks, groups, attention)
        # the encoder gives 2c channels: (mu, log sigma^2); quant_conv / post_quant_conv are
        # the reference's 1x1 convolutions on either side of the latent
        self.encoder = Encoder(in_channels, 2 * latent_channels, *arch)
        self.quant_conv = nn.Conv2d(2 * latent_channels, 2 * latent_channels, 1)
        self.post_quant_conv = nn.Conv2d(latent_channels, latent_channels, 1)
        self.decoder = Decoder(latent_channels, in_channels, *arch)
        self.register_buffer('scale_factor', autograd.tensor(1.0))

    # --- shapes ------------------------------------------------------------------------
    def latent_shape(self, image_shape):
        """(C, H, W) -> (c, H / f, W / f); a clear error if H or W is not divisible by f."""
        f = self.downsample_factor
        if len(image_shape) != 3 or image_shape[0] != self.in_channels:
            raise ValueError(f"AutoencoderKL: expected images (C, H, W) with C = "
                             f"{self.in_channels}, got {tuple(image_shape)}")
        if image_shape[1] % f or image_shape[2] % f or min(image_shape[1:]) < f:
            raise ValueError(f"AutoencoderKL: H and W must be positive multiples of the "
                             f"downsampling factor f = {f}, got {tuple(image_shape[1:])}")
        return (self.latent_channels, image_shape[1] // f, image_shape[2] // f)

    def _check_images(self, x, where):
        if x.ndim != 4:
            raise ValueError(f"AutoencoderKL.{where}: x must be (N, C, H, W), got {x.shape}")
        try:
            self.latent_shape(tuple(x.shape[1:]))
        except ValueError as e:
            raise ValueError(str(e).replace('AutoencoderKL:', f'AutoencoderKL.{where}:')) from None

    def _check_latents(self, z, where):
        if z.ndim != 4 or z.shape[1] != self.latent_channels:
            raise ValueError(f"AutoencoderKL.{where}: z must be (N, {self.latent_channels}, "
                             f"h, w), got {z.shape}")

    # --- the autoencoder -----------------------------------------------------------------
    def encode(self, x):
        """q(z|x) for images x (N, C, H, W) in [-1, 1]: a DiagonalGaussian of (N, c, H/f, W/f)."""
        self._check_images(x, 'encode')
        return DiagonalGaussian.from_parameters(self.quant_conv(self.encoder(x)))

    def decode(self, z):
        """D(z): unscaled latents (N, c, h, w) -> images (N, C, h f, w f), unbounded."""
        self._check_latents(z, 'decode')
        return self.decoder(self.post_quant_conv(z))

    def forward(self, x, sample_posterior=True, eps=None):
        """(D(z), q(z|x)) with z ~ q(z|x) (eps given or drawn), or z = mu if not
        sample_posterior, as the reference's AutoencoderKL.forward."""
        posterior = self.encode(x)
        z = posterior.sample(eps) if sample_posterior else posterior.mode()
        return self.decode(z), posterior

    def loss(self, x, eps=None, kl_weight=None):
        """kl_reg_loss of one reparameterised pass on x: a dict of Tensors (loss, recon, kl,
        l1, l2; see the module docstring for the normalisation)."""
        x_rec, posterior = self(x, eps=eps)
        return kl_reg_loss(x, x_rec, posterior, self.kl_weight if kl_weight is None else kl_weight)

    def reconstruct(self, x):
        """D(mu(x)) clipped to [-1, 1], without gradient: what the first stage keeps of x."""
        with no_grad():
            return self.decode(self.encode(x).mode()).clip(-1.0, 1.0)

    # --- latents for the diffusion model: scaled to unit variance ----------------------
    def encode_latents(self, x, sample=True, eps=None):
        """scale_factor * z with z ~ q(z|x) (or mu if not sample): the latents a diffusion
        model trains on (the reference's get_first_stage_encoding). The first stage is
        frozen there, so this runs under no_grad."""
        with no_grad():
            posterior = self.encode(x)
            z = posterior.sample(eps) if sample else posterior.mode()
            return z * self.scale_factor

    def decode_latents(self, z):
        """D(z / scale_factor) under no_grad (the reference's decode_first_stage): images
        from a diffusion model's latents, unbounded (clip to [-1, 1] to show them)."""
        self._check_latents(z, 'decode_latents')
        with no_grad():
            return self.decode(z / self.scale_factor)

    def fit_scale_factor(self, images, batch_size=100, use='sample', min_images=1000):
        """Set the buffer scale_factor to compute_scale_factor(self, images, ...) and return
        it (a float)."""
        value = compute_scale_factor(self, images, batch_size, use, min_images)
        with no_grad():
            self.scale_factor.copy_(np.asarray(value, dtype=self.scale_factor.dtype))
        return value

    def extra_repr(self):
        return (f"in_channels={self.in_channels}, latent_channels={self.latent_channels}, "
                f"downsample_factor={self.downsample_factor}, kl_weight={self.kl_weight}")


def _as_batch(model, images):
    """Images (NumPy or Tensor) as a Tensor on the model's device, in its dtype."""
    param = next(model.parameters())
    if isinstance(images, autograd.Tensor):
        return images.to(param.device, param.dtype)
    return autograd.tensor(np.asarray(images), dtype=param.dtype, device=param.device)


def compute_scale_factor(model, images, batch_size=100, use='sample', min_images=1000):
    """1 / std(z) over the latents of `images` ((N, C, H, W) in [-1, 1], NumPy or Tensor),
    z ~ q(z|x) (use='sample', the reference's choice) or z = mu (use='mean'); the centred
    std of all latent elements together, accumulated in float64 batch by batch under
    no_grad. Needs at least `min_images` images (1,000: the std of one small batch is a
    noisy estimate). Changes nothing on the model."""
    where = 'compute_scale_factor'
    if not isinstance(images, autograd.Tensor):
        images = np.asarray(images)
    if use not in ('sample', 'mean'):
        raise ValueError(f"{where}: use must be 'sample' or 'mean', got {use!r}")
    _check_positive_int(batch_size, 'batch_size', where)
    n = len(images)
    if n < min_images:
        raise ValueError(f"{where}: needs at least min_images={min_images} images for a "
                         f"stable std, got {n}")
    if len(images.shape) != 4:
        raise ValueError(f"{where}: images must be (N, C, H, W), got {tuple(images.shape)}")
    model.latent_shape(tuple(images.shape[1:]))
    total = total_sq = count = 0.0
    with no_grad():
        for start in range(0, n, batch_size):
            batch = images[start:start + batch_size]
            posterior = model.encode(_as_batch(model, batch))
            z = (posterior.sample() if use == 'sample' else posterior.mode()).numpy()
            z = z.astype(np.float64)
            total, total_sq, count = total + z.sum(), total_sq + (z * z).sum(), count + z.size
    mean = total / count
    var = (total_sq - count * mean * mean) / (count - 1)  # unbiased, as torch's .std()
    if not var > 0:
        raise ValueError(f"{where}: the latents have zero variance; the encoder is degenerate")
    return float(1.0 / math.sqrt(var))


def reconstruction_metrics(model, images, batch_size=100):
    """PSNR (dB) and SSIM of model.reconstruct against `images` ((N, C, H, W) in [-1, 1]),
    both on the [0, 1] scale (minigen.metrics.psnr / ssim, data_range 1; SSIM needs
    H, W >= 11). Returns {'psnr': float, 'ssim': float}."""
    from minigen.metrics import psnr, ssim
    _check_positive_int(batch_size, 'batch_size', 'reconstruction_metrics')
    images = images.numpy() if isinstance(images, autograd.Tensor) else np.asarray(images)
    recs = [model.reconstruct(_as_batch(model, images[i:i + batch_size])).numpy()
            for i in range(0, len(images), batch_size)]
    a, b = (images + 1) / 2, (np.concatenate(recs) + 1) / 2
    return {'psnr': psnr(a, b, data_range=1.0), 'ssim': ssim(a, b, data_range=1.0)}
