"""Variational autoencoder (VAE).

Kingma & Welling 2013, "Auto-Encoding Variational Bayes" (arXiv:1312.6114).
A latent z ~ p(z) = N(0, I) generates x through a decoder p_theta(x | z); an encoder
q_phi(z | x) = N(mu(x), diag(exp(logvar(x)))) approximates the posterior. For every x,

    log p(x) >= ELBO(x) = E_{q(z|x)}[log p(x | z)] - KL(q(z | x) || p(z))          (eq. 3)

and we maximise the ELBO, i.e. minimise  recon + beta * KL  with recon = -E_q log p(x|z).

Reparameterization (sec. 2.4): z = mu + sigma * eps, sigma = exp(logvar / 2), eps ~ N(0, I),
so the one-sample estimate of E_q is differentiable in mu and logvar.

KL in closed form (appendix B), summed over the latent dimensions j:

    KL = -1/2 sum_j (1 + logvar_j - mu_j^2 - exp(logvar_j))

Decoder likelihoods, summed over pixels (never averaged: pytorch/examples#290):
    'bernoulli': log p(x|z) = sum x log s(l) + (1 - x) log(1 - s(l)) = -BCEWithLogits(l, x),
                 on grey levels in [0, 1] as in pytorch/examples (not a density of the grey
                 levels, so its ELBO in nats is the usual MNIST figure, not a true log-density);
    'gaussian':  log p(x|z) = sum -(x - m)^2 / (2 sigma_x^2) - log(sigma_x sqrt(2 pi)),
                 with a fixed decoder standard deviation sigma_x.

beta (Higgins et al. 2017, beta-VAE) weights the KL; KL warm-up (Sonderby et al. 2016,
arXiv:1602.02282) raises that weight linearly from 0 to beta over the first steps.

log p(x) itself is estimated by importance sampling with q as proposal (Burda et al. 2015,
arXiv:1509.00519): log p(x) ~ logsumexp_k [log p(x|z_k) + log p(z_k) - log q(z_k|x)] - log K,
z_k ~ q(z|x), which tends to log p(x) from below as K grows and equals the ELBO's
estimate at K = 1.
"""
import math

import autograd
import minigen.nn as nn
import minigen.nn.functional as F
from .blocks import ImageToVector, VectorToImage, check_images

LIKELIHOODS = ('bernoulli', 'gaussian')


def gaussian_kl(mu, logvar):
    """KL(N(mu, exp(logvar)) || N(0, I)) per sample: -1/2 sum_j (1 + logvar - mu^2 - e^logvar)."""
    return -0.5 * (1 + logvar - mu * mu - logvar.exp()).sum(axis=1)


def kl_warmup(step, warmup_steps, beta=1.0):
    """The KL weight at `step`: beta * min(1, step / warmup_steps) (beta at once if 0 steps)."""
    if warmup_steps <= 0:
        return beta
    return beta * min(1.0, step / warmup_steps)


class VAE(nn.Module):
    """Gaussian encoder q(z|x), decoder p(x|z) and prior N(0, I) on images (N, C, H, W).

    arch 'conv' (blocks.ImageToVector / VectorToImage with widths `hidden`) or 'mlp'
    (hidden layer sizes, e.g. (400,) as in the paper); likelihood 'bernoulli' or 'gaussian'
    (with standard deviation `decoder_std`); beta: weight of the KL term."""

    def __init__(self, image_shape=(1, 28, 28), latent_dim=16, arch='conv', hidden=(32, 64),
                 likelihood='bernoulli', decoder_std=0.1, beta=1.0):
        super().__init__()
        if likelihood not in LIKELIHOODS:
            raise ValueError(f"vae.VAE: likelihood must be one of {LIKELIHOODS}, "
                             f"got {likelihood!r}")
        self.image_shape, self.latent_dim = tuple(image_shape), latent_dim
        self.likelihood, self.decoder_std, self.beta = likelihood, decoder_std, beta
        self.encoder = ImageToVector(image_shape, 2 * latent_dim, arch, hidden)
        self.decoder = VectorToImage(latent_dim, image_shape, arch, hidden)

    def _check(self, x):
        check_images(x, self.image_shape, 'vae.VAE')

    def encode(self, x):
        """mu, logvar of q(z | x), each (N, latent_dim)."""
        self._check(x)
        h = self.encoder(x)
        return h[:, :self.latent_dim], h[:, self.latent_dim:]

    def reparameterize(self, mu, logvar, eps=None):
        """z = mu + exp(logvar / 2) * eps, eps ~ N(0, I) unless given."""
        if eps is None:
            eps = autograd.randn(*mu.shape, device=mu.device, dtype=mu.dtype)
        return mu + (0.5 * logvar).exp() * eps

    def decode(self, z):
        """The mean of p(x | z): sigmoid(logits) for Bernoulli, the output for Gaussian."""
        out = self.decoder(z)
        return out.sigmoid() if self.likelihood == 'bernoulli' else out

    def log_px_given_z(self, x, z):
        """log p(x | z) per sample, summed over pixels: (N,)."""
        out = self.decoder(z)
        if self.likelihood == 'bernoulli':
            return -F.binary_cross_entropy_with_logits(out, x, reduction='none').sum(axis=(1, 2, 3))
        s = self.decoder_std
        log_norm = math.log(s * math.sqrt(2 * math.pi))
        return (-0.5 * ((x - out) / s) ** 2 - log_norm).sum(axis=(1, 2, 3))

    def loss(self, x, beta=None, eps=None):
        """The negative ELBO with a weighted KL, averaged over the batch. Returns a dict of
        Tensors: loss = recon + beta * kl (what to minimise), recon = -log p(x|z) with one
        z ~ q per image, kl (closed form), elbo = -(recon + kl) (nats per image)."""
        beta = self.beta if beta is None else beta
        mu, logvar = self.encode(x)
        z = self.reparameterize(mu, logvar, eps)
        recon = -self.log_px_given_z(x, z).mean()
        kl = gaussian_kl(mu, logvar).mean()
        return {'loss': recon + beta * kl, 'recon': recon, 'kl': kl, 'elbo': -(recon + kl)}

    def reconstruct(self, x):
        """The decoder's mean at z = mu(x) (the code without sampling noise)."""
        return self.decode(self.encode(x)[0])

    def sample(self, n, device=None):
        """n images: the decoder's mean at z ~ N(0, I)."""
        param = next(self.parameters())
        z = autograd.randn(n, self.latent_dim, device=device or param.device, dtype=param.dtype)
        return self.decode(z)

    def importance_log_px(self, x, k=100):
        """Importance-sampled estimate of log p(x) (N,) with K samples of q(z|x) per image,
        logsumexp_k [log p(x|z_k) + log p(z_k) - log q(z_k|x)] - log K. No gradient."""
        with autograd.no_grad():
            mu, logvar = self.encode(x)
            n, d = mu.shape
            eps = autograd.randn(k, n, d, device=mu.device, dtype=mu.dtype)
            z = mu.unsqueeze(0) + (0.5 * logvar).exp().unsqueeze(0) * eps       # (K, N, d)
            log_norm = -0.5 * d * math.log(2 * math.pi)
            log_pz = log_norm - 0.5 * (z * z).sum(axis=2)
            # log q(z|x) = log N(eps; 0, I) - sum_j logvar_j / 2  (z - mu = sigma eps)
            log_qz = (log_norm - 0.5 * (eps * eps).sum(axis=2)
                      - 0.5 * logvar.sum(axis=1).unsqueeze(0))
            xs = x.unsqueeze(0).broadcast_to((k,) + tuple(x.shape)).reshape(k * n, *x.shape[1:])
            log_px_z = self.log_px_given_z(xs, z.reshape(k * n, d)).reshape(k, n)
            w = log_px_z + log_pz - log_qz
            return w.logsumexp(axis=0) - math.log(k)
