"""unCLIP (DALL-E 2): a caption's CLIP text embedding -> a CLIP image embedding -> an image.

Ramesh, Dhariwal, Nichol, Chu & Chen 2022, "Hierarchical Text-Conditional Image Generation
with CLIP Latents" (arXiv:2204.06125). With a frozen CLIP, a caption y has the text embedding
z_t and an image x the image embedding z_i = CLIP_image(x), a function of x, so (Sec. 2)

    P(x | y) = P(x, z_i | y) = P(x | z_i, y) P(z_i | y)

and generation is two stages, each a diffusion model (process.py, samplers.py):

Prior P(z_i | y) (Sec. 2.2): Gaussian diffusion over the embedding vector, conditioned on
z_t. As in the paper, the network predicts the clean embedding directly, not the noise:

    L_prior = E_{t, z_i^(t)} || f_theta(z_i^(t), t, z_t) - z_i ||^2

(the 'x0' objective of process.py). The paper's f_theta is a decoder-only Transformer over
[text tokens, z_t, emb(t), z_i^(t), query]; here it is a residual MLP over the concatenation
[z_i^(t), z_t] with emb(t) added to every block (`PriorMLP`), enough for one 64-d vector.
CLIP embeddings are unit vectors; both enter as sqrt(D) z, whose coordinates have about unit
variance, the scale the N(0, I) noise assumes (as lucidrains' DALLE2-pytorch scales them,
image_embed_scale = D ** 0.5), and a sample is renormalised to the unit sphere.

Decoder P(x | z_i) (Sec. 2.1): a diffusion UNet (unet.py) reading z_i in two places, as the
paper's modified GLIDE does, "projecting and adding CLIP embeddings to the existing timestep
embedding, and by projecting CLIP embeddings into four extra tokens of context":

    temb = time_mlp(emb(t)) + W_p sqrt(D) z_i        (the UNet's pooled_dim input)
    context = reshape(W_c sqrt(D) z_i, (K, context_dim)),  read by cross-attention

For classifier-free guidance (Ho & Salimans 2022, arXiv:2207.12598) "we randomly set the
CLIP embeddings to zero ... 10% of the time"; at sampling, with null = the zero embedding,

    eps~(x_t, t) = eps(x_t, t, 0) + s (eps(x_t, t, z_i) - eps(x_t, t, 0)).

(The paper's decoder also reads the caption and drops it 50% of the time; this one reads
z_i only, which makes image variations need no text.)

Variations (Sec. 3.1): z_i = CLIP_image(x) of a real image, decoded with different seeds:
what CLIP keeps of x stays (shape, colour, place), the rest is drawn afresh.
Interpolation (Sec. 3.2, Figure 4): between two images' embeddings by spherical
interpolation, decoded from one fixed x_T,

    slerp(z_1, z_2, theta) = sin((1 - theta) Omega) / sin(Omega) z_1
                           + sin(theta Omega) / sin(Omega) z_2,     cos(Omega) = z_1 . z_2,

which for unit z_1, z_2 stays on the unit sphere and moves at constant angular speed.
"""
import contextlib
import math
import numbers

import numpy as np

import autograd
from autograd.tensor import Tensor
import minigen.nn as nn

from .guidance import ClassifierFreeGuidance, drop_condition
from .process import OBJECTIVES, diffusion_loss
from .samplers import ddim_sample
from .unet import timestep_embedding


def slerp(z1, z2, theta):
    """Spherical interpolation of unit embeddings z1, z2 (D,) or (B, D) (NumPy) at theta, a
    number or an array of B: sin((1-theta) Omega)/sin(Omega) z1 + sin(theta Omega)/sin(Omega) z2.
    Where z1 and z2 are (nearly) parallel, sin(Omega) -> 0 and it is the straight line."""
    z1, z2 = np.asarray(z1, np.float64), np.asarray(z2, np.float64)
    if z1.shape != z2.shape or z1.ndim not in (1, 2):
        raise ValueError(f"unclip.slerp: z1 and z2 must be embeddings of one shape, (D,) or "
                         f"(B, D), got {z1.shape} and {z2.shape}")
    theta = np.asarray(theta, np.float64)
    if theta.ndim > 1 or not np.all(np.isfinite(theta)):
        raise ValueError(f"unclip.slerp: theta must be a finite number or a vector, got {theta}")
    theta = theta[..., None]
    norms = np.linalg.norm(z1, axis=-1, keepdims=True) * np.linalg.norm(z2, axis=-1, keepdims=True)
    omega = np.arccos(np.clip(np.sum(z1 * z2, -1, keepdims=True) / norms, -1.0, 1.0))
    sin = np.sin(omega)
    small = sin < 1e-6
    safe = np.where(small, 1.0, sin)
    w1 = np.where(small, 1 - theta, np.sin((1 - theta) * omega) / safe)
    w2 = np.where(small, theta, np.sin(theta * omega) / safe)
    return (w1 * z1 + w2 * z2).astype(np.float32)


@contextlib.contextmanager
def _seeded(seed):
    """autograd's generator seeded with `seed` for the block (None: left as it is), then its
    state restored, so a seeded draw leaves the caller's stream where it was."""
    state = autograd.backend.get_rng_state() if seed is not None else None
    try:
        if seed is not None:
            autograd.manual_seed(seed)
        yield
    finally:
        if state is not None:
            autograd.backend.set_rng_state(state)


def _embeddings(z, dim, op, n=None):
    if not isinstance(z, Tensor) or z.ndim != 2 or z.shape[1] != dim or \
            (n is not None and z.shape[0] != n):
        rows = 'B' if n is None else n
        raise ValueError(f"unclip.{op}: embeddings must be a Tensor ({rows}, {dim}), got "
                         f"{getattr(z, 'shape', type(z).__name__)}")
    return z


class PriorMLP(nn.Module):
    """f_theta(x_t, t, c) -> x0_hat for embedding vectors: h = W_in [x_t, c] + temb, then
    `depth` residual blocks h <- h + W_2 SiLU(W_1 SiLU(LN(h + temb))), out W_o SiLU(LN(h)),
    temb = Linear(SiLU(Linear(emb(t)))). x_t, c: (B, embed_dim); t: (B,) ints."""

    def __init__(self, embed_dim, width=256, depth=3):
        super().__init__()
        self.embed_dim, self.width = embed_dim, width
        self.time_mlp = nn.Sequential(nn.Linear(width, width), nn.SiLU(), nn.Linear(width, width))
        self.inp = nn.Linear(2 * embed_dim, width)
        self.blocks = nn.ModuleList([nn.Sequential(nn.LayerNorm(width), nn.SiLU(),
                                                   nn.Linear(width, width), nn.SiLU(),
                                                   nn.Linear(width, width))
                                     for _ in range(depth)])
        self.out = nn.Sequential(nn.LayerNorm(width), nn.SiLU(), nn.Linear(width, embed_dim))

    def forward(self, x, t, text_embed):
        _embeddings(x, self.embed_dim, 'PriorMLP')
        _embeddings(text_embed, self.embed_dim, 'PriorMLP', x.shape[0])
        temb = self.time_mlp(timestep_embedding(t, self.width).astype(x.dtype))
        h = self.inp(autograd.cat([x, text_embed], axis=1)) + temb
        for block in self.blocks:
            h = h + block(h + temb)
        return self.out(h)


class DiffusionPrior(nn.Module):
    """P(z_i | y): diffusion over unit CLIP image embeddings z_i (B, D), conditioned on the
    caption's text embedding z_t (B, D), the network `net` (e.g. PriorMLP) predicting
    sqrt(D) z_i from sqrt(D) z_i^(t) ('x0' objective, L_prior). Train on loss(z_i, z_t);
    sample(z_t) returns unit image embeddings (NumPy)."""

    def __init__(self, net, schedule):
        super().__init__()
        self.net, self.schedule = net, schedule
        self.embed_dim = net.embed_dim
        self.scale = math.sqrt(self.embed_dim)  # sqrt(D) z: unit-variance coordinates

    def loss(self, image_embed, text_embed, t=None, eps=None):
        """L_prior = mean || f_theta(x_t, t, sqrt(D) z_t) - sqrt(D) z_i ||^2 over the batch,
        x_t = sqrt(alpha_bar_t) sqrt(D) z_i + sqrt(1 - alpha_bar_t) eps; t, eps fresh by default."""
        _embeddings(image_embed, self.embed_dim, 'DiffusionPrior.loss')
        _embeddings(text_embed, self.embed_dim, 'DiffusionPrior.loss', image_embed.shape[0])
        return diffusion_loss(self.net, self.schedule, self.scale * image_embed, t=t, eps=eps,
                              objective='x0', text_embed=self.scale * text_embed)

    def sample(self, text_embed, steps=50, eta=0.0, seed=None):
        """DDIM (`steps`, noise eta) from N(0, I) to sqrt(D) z_i, renormalised: unit image
        embeddings (B, D) as float32 NumPy, under no_grad."""
        if not isinstance(text_embed, Tensor):
            text_embed = autograd.tensor(np.asarray(text_embed, np.float32),
                                         device=self.net.inp.weight.device)
        _embeddings(text_embed, self.embed_dim, 'DiffusionPrior.sample')
        with _seeded(seed), autograd.no_grad():
            x_T = autograd.randn(*text_embed.shape, device=text_embed.device)
            x0 = ddim_sample(self.net, self.schedule, x_T, steps=steps, eta=eta, objective='x0',
                             clip_x0=False, text_embed=self.scale * text_embed).numpy()
        return x0 / np.maximum(np.linalg.norm(x0, axis=1, keepdims=True), 1e-12)


class UnCLIPDecoder(nn.Module):
    """P(x | z_i): eps_theta(x_t, t, z_i), a UNet built with pooled_dim = D (sqrt(D) z_i added
    to temb through its pooled projection) and a context_dim (sqrt(D) z_i projected into
    `tokens` context tokens for its cross-attention). Calling the decoder is the network the
    samplers call, decoder(x_t, t, image_embed=z_i); loss(x0, z_i) trains it with z_i set to
    the zero vector with probability p_uncond (training mode only); sample(z_i, guidance=s)
    draws images. objective: 'eps', 'x0' or 'v'."""

    def __init__(self, unet, schedule, embed_dim, tokens=4, p_uncond=0.1, objective='eps'):
        super().__init__()
        name = 'UnCLIPDecoder'
        if unet.pooled_dim != embed_dim or unet.context_dim is None:
            raise ValueError(f"{name}: the UNet must be built with pooled_dim={embed_dim} (the "
                             f"embedding in temb) and a context_dim (its tokens), got "
                             f"pooled_dim={unet.pooled_dim}, context_dim={unet.context_dim}")
        if objective not in OBJECTIVES:
            raise ValueError(f"{name}: objective must be one of {OBJECTIVES}, got {objective!r}")
        if not (isinstance(p_uncond, numbers.Real) and 0 <= p_uncond <= 1):
            raise ValueError(f"{name}: p_uncond must be in [0, 1], got {p_uncond}")
        if not (isinstance(tokens, int) and tokens >= 1):
            raise ValueError(f"{name}: tokens must be a positive int, got {tokens!r}")
        self.unet, self.schedule, self.embed_dim, self.tokens = unet, schedule, embed_dim, tokens
        self.p_uncond, self.objective = p_uncond, objective
        self.scale = math.sqrt(embed_dim)
        self.to_tokens = nn.Linear(embed_dim, tokens * unet.context_dim)
        self.image_shape = (unet.in_channels, unet.resolution, unet.resolution)

    @property
    def device(self):
        return self.unet.conv_in.weight.device

    def forward(self, x_t, t, image_embed):
        """eps_theta(x_t, t, z_i): the UNet with temb + W_p sqrt(D) z_i and K context tokens."""
        _embeddings(image_embed, self.embed_dim, 'UnCLIPDecoder', x_t.shape[0])
        z = self.scale * image_embed
        context = self.to_tokens(z).reshape(x_t.shape[0], self.tokens, self.unet.context_dim)
        return self.unet(x_t, t, context=context, pooled=z)

    def null_embed(self, n=1):
        """The null condition: the zero embedding, (n, D)."""
        return autograd.zeros(n, self.embed_dim, device=self.device)

    def loss(self, x0, image_embed, t=None, eps=None, p_uncond=None):
        """diffusion_loss of eps_theta(x_t, t, z_i) on images x0 (B, C, H, W) in [-1, 1]; in
        training mode each z_i is first replaced by the zero vector with probability
        p_uncond (default self.p_uncond)."""
        if not isinstance(x0, Tensor) or tuple(x0.shape[1:]) != self.image_shape:
            raise ValueError(f"UnCLIPDecoder.loss: x0 must be a Tensor (B, "
                             f"{', '.join(map(str, self.image_shape))}), got "
                             f"{getattr(x0, 'shape', type(x0).__name__)}")
        _embeddings(image_embed, self.embed_dim, 'UnCLIPDecoder.loss', x0.shape[0])
        p = self.p_uncond if p_uncond is None else p_uncond
        if self.training and p > 0:
            image_embed = drop_condition(image_embed, self.null_embed(), p)
        return diffusion_loss(self, self.schedule, x0, t=t, eps=eps, objective=self.objective,
                              image_embed=image_embed)

    def sample(self, image_embed, guidance=3.0, steps=50, eta=0.0, x_T=None, seed=None):
        """Images (B, C, H, W) in [-1, 1] for image embeddings z_i (B, D) (Tensor or NumPy),
        by DDIM with classifier-free guidance scale s (0: the null model, 1: conditional),
        from x_T (else N(0, I), drawn from autograd's generator seeded with `seed`)."""
        if not (isinstance(guidance, numbers.Real) and np.isfinite(guidance) and guidance >= 0):
            raise ValueError(f"UnCLIPDecoder.sample: guidance must be a finite number >= 0, "
                             f"got {guidance}")
        if not isinstance(image_embed, Tensor):
            image_embed = autograd.tensor(np.asarray(image_embed, np.float32), device=self.device)
        _embeddings(image_embed, self.embed_dim, 'UnCLIPDecoder.sample')
        B = image_embed.shape[0]
        if x_T is not None and (not isinstance(x_T, Tensor) or
                                tuple(x_T.shape) != (B,) + self.image_shape):
            raise ValueError(f"UnCLIPDecoder.sample: x_T must be a Tensor "
                             f"{(B,) + self.image_shape}, got "
                             f"{getattr(x_T, 'shape', type(x_T).__name__)}")
        model = self if guidance == 1 else ClassifierFreeGuidance(self, guidance,
                                                                  image_embed=self.null_embed())
        with _seeded(seed), autograd.no_grad():
            if x_T is None:
                x_T = autograd.randn(B, *self.image_shape, device=self.device)
            return ddim_sample(model, self.schedule, x_T, steps=steps, eta=eta,
                               objective=self.objective, image_embed=image_embed)

    def extra_repr(self):
        return (f"image_shape={self.image_shape}, embed_dim={self.embed_dim}, "
                f"tokens={self.tokens}, p_uncond={self.p_uncond}, objective={self.objective!r}")
