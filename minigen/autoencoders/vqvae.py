"""Vector-quantised VAE (VQ-VAE).

van den Oord, Vinyals & Kavukcuoglu 2017, "Neural Discrete Representation Learning"
(arXiv:1711.00937); EMA codebook as in Razavi, van den Oord & Vinyals 2019, "Generating
Diverse High-Fidelity Images with VQ-VAE-2" (arXiv:1906.00446), appendix of the 2017 paper.

The encoder maps x to a grid of vectors z_e (N, D, h, w). Each vector is replaced by its
nearest code in a codebook e (K, D):

    k* = argmin_k ||z_e - e_k||^2 = argmin_k (||z_e||^2 - 2 z_e . e_k + ||e_k||^2),  z_q = e_{k*}

The argmin has no gradient, so the straight-through estimator copies the decoder's
gradient onto z_e:  z_q_st = z_e + sg(z_q - z_e)  (forward: z_q; backward: identity).
The loss (eq. 3), with sg the stop-gradient and beta = 0.25,

    L = ||x - D(z_q_st)||^2 + ||sg(z_e) - e||^2 + beta ||z_e - sg(e)||^2
                               codebook loss      commitment loss

(squared norms as means over elements, as the reference code does). With the EMA option the
codebook loss is dropped and, after each training step, every code moves to the running
mean of the encoder vectors assigned to it (decay gamma = 0.99, Laplace smoothing eps = 1e-5):

    N_k <- gamma N_k + (1 - gamma) n_k                n_k = #vectors assigned to k
    m_k <- gamma m_k + (1 - gamma) sum_{i -> k} z_i
    N'_k = (N_k + eps) / (sum_j N_j + K eps) * sum_j N_j,     e_k = m_k / N'_k

Dead codes (assigned to no vector for `restart_after` consecutive training steps) are reset
to random encoder vectors of the current batch (lucidrains/vector-quantize-pytorch#167), the
common cure for codebook collapse. Codebook usage is reported as the perplexity
exp(-sum_k p_k log p_k) of the batch's code frequencies p_k (K when all are used evenly).
"""
import autograd
import minigen.nn as nn
import minigen.nn.functional as F
from autograd.backend import array_module, rng
from .blocks import ConvEncoder, ConvDecoder, check_images


class VectorQuantizer(nn.Module):
    """Nearest-code lookup of z_e (N, D, h, w) in a codebook of K codes of dimension D.

    forward(z_e) -> (z_q_st, indices (N, h, w), loss, perplexity). In training mode with
    ema=True it also updates the codebook; with restart_after > 0 it restarts dead codes."""

    def __init__(self, num_codes=64, code_dim=16, beta=0.25, ema=True, decay=0.99, eps=1e-5,
                 restart_after=100):
        super().__init__()
        self.num_codes, self.code_dim, self.beta = num_codes, code_dim, beta
        self.ema, self.decay, self.eps, self.restart_after = ema, decay, eps, restart_after
        e = autograd.randn(num_codes, code_dim)
        if ema:  # the codebook is a buffer moved by the EMA, not by the optimiser
            self.register_buffer('codebook', e)
            self.register_buffer('cluster_size', autograd.ones(num_codes))
            self.register_buffer('embed_sum', e.detach() * 1.0)
        else:
            self.codebook = nn.Parameter(e.data)
        self.register_buffer('unused_steps', autograd.zeros(num_codes))

    def nearest(self, z):
        """Indices of the nearest codes for flat vectors z (M, D) (raw array, no gradient)."""
        e = self.codebook.data
        d = (z * z).sum(1, keepdims=True) - 2 * z @ e.T + (e * e).sum(1)[None, :]
        return d.argmin(1)

    def _flat(self, z_e):
        """z_e (N, D, h, w) -> rows (N h w, D), one per grid position."""
        if z_e.ndim != 4 or z_e.shape[1] != self.code_dim:
            raise ValueError(f"vqvae.VectorQuantizer: expected z_e of shape (N, {self.code_dim}, "
                             f"h, w), got {z_e.shape}")
        n, d, h, w = z_e.shape
        return z_e.permute(0, 2, 3, 1).reshape(n * h * w, d)

    def indices(self, z_e):
        """The token grid (N, h, w) of nearest-code indices (raw integer array); no update."""
        z = self._flat(z_e)
        n, _, h, w = z_e.shape
        return self.nearest(z.data).reshape(n, h, w)

    def forward(self, z_e):
        z = self._flat(z_e)
        n, d, h, w = z_e.shape
        idx = self.nearest(z.data)
        z_q = F.embedding(idx, self.codebook)                    # e_{k*}, (M, D)
        commitment = ((z - z_q.detach()) ** 2).mean()
        loss = self.beta * commitment
        if not self.ema:
            loss = loss + ((z.detach() - z_q) ** 2).mean()       # codebook loss
        xp = array_module(idx)
        counts = xp.bincount(idx, minlength=self.num_codes).astype(z.data.dtype)
        p = counts / counts.sum()
        perplexity = float(xp.exp(-(p * xp.log(p + 1e-10)).sum()))
        if self.training:
            if self.ema:
                self.update_codebook(z.data, idx)
            if self.restart_after > 0:
                self.restart_dead_codes(z.data, counts)
        z_q = z_q.reshape(n, h, w, d).permute(0, 3, 1, 2)
        z_q_st = z_e + (z_q - z_e).detach()                      # straight-through estimator
        return z_q_st, idx.reshape(n, h, w), loss, perplexity

    def update_codebook(self, z, idx):
        """The EMA step on raw arrays z (M, D) and their code indices idx (M,)."""
        xp = array_module(z)
        g = self.decay
        one_hot = (idx[:, None] == xp.arange(self.num_codes)[None, :]).astype(z.dtype)
        self.cluster_size.data = g * self.cluster_size.data + (1 - g) * one_hot.sum(0)
        self.embed_sum.data = g * self.embed_sum.data + (1 - g) * (one_hot.T @ z)
        total = self.cluster_size.data.sum()
        n_smooth = (self.cluster_size.data + self.eps) / (total + self.num_codes * self.eps) * total
        self.codebook.data = self.embed_sum.data / n_smooth[:, None]

    def restart_dead_codes(self, z, counts):
        """Count the steps each code went unused; reset those unused for `restart_after`
        steps to random rows of z (M, D) (and their EMA statistics to that one vector)."""
        used = counts > 0
        self.unused_steps.data = (self.unused_steps.data + 1) * (~used)
        dead = array_module(z).nonzero(self.unused_steps.data >= self.restart_after)[0]
        if len(dead) == 0:
            return
        pick = rng(self.unused_steps.device).integers(0, len(z), len(dead))  # with replacement
        self.codebook.data[dead] = z[pick]
        if self.ema:
            self.embed_sum.data[dead] = z[pick]
            self.cluster_size.data[dead] = 1.0
        self.unused_steps.data[dead] = 0


class VQVAE(nn.Module):
    """Images (N, C, H, W) in [0, 1] (mapped to [-1, 1] inside, as rosinality/vq-vae-2-pytorch)
    -> ConvEncoder -> z_e (N, code_dim, H/2^L, W/2^L) -> VectorQuantizer -> ConvDecoder."""

    def __init__(self, image_shape=(1, 28, 28), hidden=(32, 64), code_dim=16, num_codes=64,
                 beta=0.25, ema=True, decay=0.99, restart_after=100):
        super().__init__()
        c, h, w = image_shape
        s = 2 ** len(hidden)
        if h % s or w % s:
            raise ValueError(f"vqvae.VQVAE: {len(hidden)} down levels need H and W divisible "
                             f"by {s}, got {image_shape}")
        self.image_shape = tuple(image_shape)
        self.encoder = ConvEncoder(c, hidden, code_dim)
        self.quantizer = VectorQuantizer(num_codes, code_dim, beta, ema, decay,
                                         restart_after=restart_after)
        self.decoder = ConvDecoder(code_dim, hidden, c)

    def _check(self, x):
        check_images(x, self.image_shape, 'vqvae.VQVAE')

    def loss(self, x):
        """Dict: loss = recon + vq, recon = mean (x - x_hat)^2 in [-1, 1] units, vq (codebook
        and commitment), perplexity (a float), indices (N, h, w)."""
        self._check(x)
        x = 2 * x - 1
        z_q, idx, vq_loss, perplexity = self.quantizer(self.encoder(x))
        recon = F.mse_loss(self.decoder(z_q), x)
        return {'loss': recon + vq_loss, 'recon': recon, 'vq': vq_loss,
                'perplexity': perplexity, 'indices': idx}

    def encode(self, x):
        """The token grid (N, h, w) of code indices (a raw integer array)."""
        self._check(x)
        return self.quantizer.indices(self.encoder(2 * x - 1))

    def decode(self, indices):
        """Images in [0, 1] (clipped) from a token grid (N, h, w)."""
        e = F.embedding(indices, self.quantizer.codebook).permute(0, 3, 1, 2)
        return ((self.decoder(e) + 1) / 2).clip(0, 1)

    def reconstruct(self, x):
        """decode(encode(x)), in [0, 1]; leaves the codebook as it is."""
        return self.decode(self.encode(x))
