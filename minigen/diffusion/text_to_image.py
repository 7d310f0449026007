"""Latent diffusion and text-to-image: a small Stable Diffusion.

Rombach, Blattmann, Lorenz, Esser & Ommer 2022, "High-Resolution Image Synthesis with
Latent Diffusion Models" (arXiv:2112.10752). Two stages:

1. Perceptual compression (Sec. 3.1): an autoencoder with encoder E and decoder D, trained
   first and then frozen; z = E(x) is a smaller image of latents (times a scale factor
   that gives them about unit variance), x_hat = D(z). Here any `first_stage` object with
   `encode_latents(x) -> z` and `decode_latents(z) -> x` (first_stage.py's KL autoencoder),
   or none: diffusion directly on the pixels, z = x.

2. A diffusion model on z (Sec. 3.2), the DDPM loss of process.py on z_t instead of x_t,

       L_LDM = E_{E(x), eps ~ N(0, I), t} || eps - eps_theta(z_t, t) ||^2                 (2)

   conditioned on a caption y through a domain-specific encoder tau_theta (Sec. 3.3):

       L_LDM = E_{E(x), y, eps, t} || eps - eps_theta(z_t, t, tau_theta(y)) ||^2          (3)

   tau_theta(y) (M, d_tau) is the sequence of per-token states of a Transformer over the
   caption's tokens (TextTransformer.token_states), and the UNet reads it by
   cross-attention in its attention blocks:

       Attention(Q, K, V) = softmax(Q K^T / sqrt(d)) V,
       Q = W_Q phi_i(z_t),  K = W_K tau_theta(y),  V = W_V tau_theta(y)

   with the caption's padding tokens masked out as keys (True = padding, PyTorch's
   key_padding_mask). tau_theta is trained jointly with eps_theta (the paper's
   text-to-image model: a Transformer over BERT tokens), or is a frozen pretrained text
   tower, as Stable Diffusion's frozen CLIP text encoder: `load_clip_text_encoder` takes
   demos/clip.py's.

The pooled caption (optional, `UNet(pooled_dim=...)`): the text encoder's end-of-text state
tau_theta(y)_eot, which with causal attention has read the whole caption, is also projected
and added to the UNet's timestep embedding, as Imagen does (Saharia et al. 2022,
arXiv:2205.11487: "we also add a pooled embedding vector to the diffusion timestep
embedding"; SDXL too, Podell et al. 2023, arXiv:2307.01952). Every ResBlock then reads the
whole caption, not only the attention blocks; on the shapes captions it is what teaches
"in the top left" within the CPU budget.

Classifier-free guidance (Ho & Salimans 2022, arXiv:2207.12598), with the empty caption
as the null condition as in Stable Diffusion's scripts/txt2img.py
(github.com/CompVis/stable-diffusion): in training each caption is replaced by "" with
probability p_uncond = 0.1, at the token level, so the null condition is exactly
tau_theta(""); at sampling, with c = tau_theta(y) and null = tau_theta(y_null),

    eps_tilde(z_t, t) = eps_theta(z_t, t, null) + s (eps_theta(z_t, t, c) - eps_theta(z_t, t, null))

where y_null is "" or, for a negative prompt, the negative caption: the guidance then
pushes away from what it describes. s = 1 is the conditional model (one network pass, as
txt2img.py skips the null pass at scale 1), s = 0 the null-conditioned one. The same rule
holds for the x0 and v objectives, each linear in eps at a fixed z_t.

`unconditional=True` builds the same latent model without text (eq. (2)).
"""
import numbers
import os

import numpy as np

import autograd
from autograd.tensor import Tensor
import minigen.nn as nn
from minigen.checkpoint import load
from minigen.contrastive.encoders import TextTransformer

from .guidance import ClassifierFreeGuidance, drop_condition
from .process import OBJECTIVES, diffusion_loss
from .samplers import ddim_sample, ddpm_sample

SAMPLERS = ('ddim', 'ddpm')


def freeze(module):
    """Stop training `module`: requires_grad False on every parameter and eval mode (as
    latent-diffusion's instantiate_first_stage / instantiate_cond_stage do,
    github.com/CompVis/latent-diffusion, ldm/models/diffusion/ddpm.py). Returns it."""
    for p in module.parameters():
        p.requires_grad_(False)
    return module.eval()


def load_clip_text_encoder(path, heads=4, eot_token=2, pad_token=0, freeze_weights=True):
    """The text tower of a CLIP checkpoint written by demos/clip.py (OUT/checkpoint.npz,
    or the OUT folder), as a TextTransformer, frozen (requires_grad False, eval) unless
    freeze_weights=False.

    demos/clip.py builds it as TextTransformer(vocab_size, context_length,
    width=text_width, layers=text_layers, heads=4, eot_token=Tokenizer().eot) and saves
    CLIP's state_dict under state['model'], the tower's weights as 'text_encoder.*'; the
    vocabulary, context length and depth are read back from their shapes."""
    if os.path.isdir(path):
        path = os.path.join(path, 'checkpoint.npz')
    ckpt = load(path)
    state = ckpt.get('state', {}).get('model') if isinstance(ckpt.get('state'), dict) else None
    prefix = 'text_encoder.'
    tower = {k[len(prefix):]: v for k, v in (state or {}).items() if k.startswith(prefix)}
    if 'token_embedding.weight' not in tower or 'positional_embedding' not in tower:
        raise ValueError(f"load_clip_text_encoder: {path} holds no CLIP text tower (expected "
                         f"state['model'] with '{prefix}*' weights, as demos/clip.py saves)")
    vocab_size, width = np.shape(tower['token_embedding.weight'])
    context_length = np.shape(tower['positional_embedding'])[0]
    layers = len({k.split('.')[1] for k in tower if k.startswith('blocks.')})
    encoder = TextTransformer(vocab_size, context_length, width=width, layers=layers,
                              heads=heads, eot_token=eot_token, pad_token=pad_token)
    encoder.load_state_dict(tower)
    return freeze(encoder) if freeze_weights else encoder


class LatentDiffusion(nn.Module):
    """A latent (or pixel-space) diffusion model, conditioned on captions by
    cross-attention to tau_theta(y), sampled with classifier-free guidance.

    unet: a minigen.diffusion.UNet on the latents (in_channels = latent channels,
        resolution = latent side), built with context_dim = text_encoder.width (None when
        unconditional);
    schedule: the NoiseSchedule (e.g. linear_schedule(1000)); objective: 'eps', 'x0', 'v';
    text_encoder: tau_theta, a TextTransformer (trained with the UNet unless frozen, e.g.
        by `load_clip_text_encoder`); tokenizer: minigen.data.Tokenizer of the same
        context length, whose ids the text encoder reads;
    first_stage: None (diffusion on pixels, z = x) or an object with encode_latents(x) -> z
        and decode_latents(z) -> x; it is frozen here (requires_grad False, eval), as in
        the paper, and encoded under no_grad;
    p_uncond: the probability a training caption is replaced by the empty caption "";
    unconditional: no text at all (unet without context_dim, no text encoder).

    Train with Adam(model.trainable_parameters()) on model.loss(x0, captions); sample with
    model.sample(captions, guidance=s).
    """

    def __init__(self, unet, schedule, text_encoder=None, tokenizer=None, first_stage=None,
                 objective='eps', p_uncond=0.1, unconditional=False):
        super().__init__()
        name = 'LatentDiffusion'
        if objective not in OBJECTIVES:
            raise ValueError(f"{name}: objective must be one of {OBJECTIVES}, got {objective!r}")
        if not (isinstance(p_uncond, numbers.Real) and 0 <= p_uncond <= 1):
            raise ValueError(f"{name}: p_uncond must be in [0, 1], got {p_uncond}")
        if unconditional:
            if text_encoder is not None or tokenizer is not None:
                raise ValueError(f"{name}: unconditional=True takes no text_encoder or tokenizer")
            if unet.context_dim is not None or getattr(unet, 'pooled_dim', None) is not None:
                raise ValueError(f"{name}: unconditional=True needs a UNet without context_dim "
                                 f"or pooled_dim, got context_dim={unet.context_dim}, "
                                 f"pooled_dim={getattr(unet, 'pooled_dim', None)}")
        else:
            if text_encoder is None or tokenizer is None:
                raise ValueError(f"{name}: a text-conditional model needs text_encoder and "
                                 f"tokenizer (or unconditional=True)")
            if unet.context_dim != text_encoder.width:
                raise ValueError(f"{name}: the UNet's context_dim ({unet.context_dim}) must equal "
                                 f"the text encoder's width ({text_encoder.width})")
            if getattr(unet, 'pooled_dim', None) not in (None, text_encoder.width):
                raise ValueError(f"{name}: the UNet's pooled_dim ({unet.pooled_dim}) must be None "
                                 f"or the text encoder's width ({text_encoder.width})")
            if tokenizer.context_length != text_encoder.context_length or \
                    tokenizer.vocab_size > text_encoder.vocab_size or \
                    tokenizer.pad != text_encoder.pad_token:
                raise ValueError(f"{name}: the tokenizer (context_length "
                                 f"{tokenizer.context_length}, vocab {tokenizer.vocab_size}, "
                                 f"pad {tokenizer.pad}) does not fit the text encoder "
                                 f"(context_length {text_encoder.context_length}, vocab "
                                 f"{text_encoder.vocab_size}, pad {text_encoder.pad_token})")
        if first_stage is not None and not (callable(getattr(first_stage, 'encode_latents', None))
                                            and callable(getattr(first_stage, 'decode_latents',
                                                                 None))):
            raise ValueError(f"{name}: first_stage must offer encode_latents(x) -> z and "
                             f"decode_latents(z) -> x, got {type(first_stage).__name__}")
        self.unet, self.text_encoder, self.first_stage = unet, text_encoder, first_stage
        if isinstance(first_stage, nn.Module):
            freeze(first_stage)
        self.schedule, self.objective, self.tokenizer = schedule, objective, tokenizer
        self.p_uncond, self.unconditional = p_uncond, unconditional
        self.latent_shape = (unet.in_channels, unet.resolution, unet.resolution)

    # --- the pieces ---------------------------------------------------------------------
    @property
    def device(self):
        return self.unet.conv_in.weight.device

    @property
    def text_encoder_trainable(self):
        """True when tau_theta is trained with the UNet (some parameter requires grad)."""
        return self.text_encoder is not None and any(p.requires_grad for p in
                                                     self.text_encoder.parameters())

    def trainable_parameters(self):
        """The parameters to optimise: the UNet's and a trainable text encoder's."""
        return [p for p in self.parameters() if p.requires_grad]

    def train(self, mode=True):
        """Train mode for the UNet (and a trainable text encoder); frozen parts stay in eval."""
        super().train(mode)
        if isinstance(self.first_stage, nn.Module):
            self.first_stage.train(False)
        if self.text_encoder is not None and not self.text_encoder_trainable:
            self.text_encoder.train(False)
        return self

    def _need_text(self, op):
        if self.unconditional:
            raise ValueError(f"LatentDiffusion.{op}: the model is unconditional (no text)")

    def tokenize(self, captions, op='tokenize'):
        """Captions (a list of strings, or one string) or token ids (N, L) -> int64 NumPy ids
        (N, context_length)."""
        self._need_text(op)
        if isinstance(captions, str):
            captions = [captions]
        if isinstance(captions, (list, tuple)) and all(isinstance(c, str) for c in captions):
            return self.tokenizer.encode(list(captions)) if captions else \
                np.zeros((0, self.tokenizer.context_length), np.int64)
        raw = captions.data if isinstance(captions, Tensor) else captions
        ids = raw.get() if hasattr(raw, 'get') else np.asarray(raw)
        L = self.tokenizer.context_length
        if ids.ndim != 2 or ids.shape[1] != L or ids.dtype.kind not in 'iu':
            raise ValueError(f"LatentDiffusion.{op}: captions must be a list of strings or "
                             f"integer ids (N, {L}), got {ids.dtype} {ids.shape}")
        if ids.size and (ids.min() < 0 or ids.max() >= self.text_encoder.vocab_size):
            raise ValueError(f"LatentDiffusion.{op}: ids must lie in "
                             f"[0, {self.text_encoder.vocab_size}), got values in "
                             f"[{ids.min()}, {ids.max()}]")
        return ids.astype(np.int64)

    def null_ids(self, n):
        """The empty caption "" (the null condition), n times: (n, context_length) ids."""
        self._need_text('null_ids')
        return np.repeat(self.tokenizer.encode(['']), n, axis=0)

    def encode_text(self, captions):
        """tau_theta(y): (context (N, L, width), padding mask (N, L), True = padding), under
        no_grad when the text encoder is frozen."""
        ids = self.tokenize(captions, 'encode_text')
        if self.text_encoder_trainable and autograd.is_grad_enabled():
            return self.text_encoder.token_states(ids)
        with autograd.no_grad():
            return self.text_encoder.token_states(ids)

    def text_conditions(self, captions):
        """The UNet's keyword condition for `captions`: context = tau_theta(y) (N, L, width),
        context_key_padding_mask (N, L) and, when the UNet takes a pooled vector, pooled =
        the end-of-text state (N, width)."""
        ids = self.tokenize(captions, 'text_conditions')
        context, mask = self.encode_text(ids)
        cond = dict(context=context, context_key_padding_mask=mask)
        if getattr(self.unet, 'pooled_dim', None) is not None:
            rows = np.arange(len(ids))
            cond['pooled'] = context[rows, self.text_encoder.eot_positions(ids)]
        return cond

    def drop_captions(self, ids, p_uncond=None):
        """Classifier-free guidance training: each row of `ids` replaced by the empty
        caption's ids with probability p_uncond (default self.p_uncond), via drop_condition."""
        ids = self.tokenize(ids, 'drop_captions')
        p = self.p_uncond if p_uncond is None else p_uncond
        null = autograd.tensor(self.null_ids(1))
        return drop_condition(autograd.tensor(ids), null, p).numpy()

    def encode_latents(self, x):
        """z = first_stage.encode_latents(x) under no_grad (the first stage is frozen), or x."""
        if self.first_stage is None:
            z = x
        else:
            with autograd.no_grad():
                z = self.first_stage.encode_latents(x)
        if tuple(z.shape[1:]) != self.latent_shape:
            raise ValueError(f"LatentDiffusion.encode_latents: the latents have shape "
                             f"{tuple(z.shape)} but the UNet takes (B, {self.latent_shape[0]}, "
                             f"{self.latent_shape[1]}, {self.latent_shape[2]})")
        return z

    def decode_latents(self, z):
        """x = first_stage.decode_latents(z) under no_grad, or z itself (pixel space)."""
        if self.first_stage is None:
            return z
        with autograd.no_grad():
            return self.first_stage.decode_latents(z)

    def decode_trajectory(self, trajectory):
        """sample's trajectory [(t, z_t, z0_hat)] of NumPy latents -> [(t, x_t, x0_hat)] of
        NumPy images, each decoded by the first stage (the frames of a noise-to-image GIF;
        in pixel space the images are the latents)."""
        frames = []
        for t, z_t, z0 in trajectory:
            x_t, x0 = (self.decode_latents(autograd.tensor(np.asarray(z), device=self.device))
                       .numpy() for z in (z_t, z0))
            frames.append((t, x_t, x0))
        return frames

    # --- training -----------------------------------------------------------------------
    def loss(self, x0, captions=None, t=None, eps=None, reduction='mean', min_snr_gamma=None):
        """Eq. (3) (eq. (2) when unconditional): diffusion_loss on z0 = encode_latents(x0)
        with the UNet reading tau_theta(y). In training mode each caption is first replaced
        by "" with probability p_uncond (classifier-free guidance); in eval mode none is.
        x0 (B, C, H, W) images; captions: B strings or ids (B, L); t, eps: as
        diffusion_loss (fresh draws by default)."""
        if not isinstance(x0, Tensor) or x0.ndim != 4:
            raise ValueError(f"LatentDiffusion.loss: x0 must be a Tensor of images (B, C, H, W), "
                             f"got {getattr(x0, 'shape', type(x0).__name__)}")
        return self.latent_loss(self.encode_latents(x0), captions, t, eps, reduction,
                                min_snr_gamma)

    def latent_loss(self, z0, captions=None, t=None, eps=None, reduction='mean',
                    min_snr_gamma=None):
        """`loss` on latents z0 = encode_latents(x0) (B, *latent_shape) already encoded, e.g.
        once for a whole training set, as a run that encodes every image once does."""
        if not isinstance(z0, Tensor) or tuple(z0.shape[1:]) != self.latent_shape:
            raise ValueError(f"LatentDiffusion.latent_loss: z0 must be a Tensor of latents "
                             f"(B, {', '.join(map(str, self.latent_shape))}), got "
                             f"{getattr(z0, 'shape', type(z0).__name__)}")
        cond = {}
        if self.unconditional:
            if captions is not None:
                raise ValueError("LatentDiffusion.loss: the model is unconditional; give no "
                                 "captions")
        else:
            if captions is None:
                raise ValueError("LatentDiffusion.loss: give one caption per image")
            ids = self.tokenize(captions, 'loss')
            if len(ids) != z0.shape[0]:
                raise ValueError(f"LatentDiffusion.loss: {len(ids)} captions for "
                                 f"{z0.shape[0]} images")
            if self.training and self.p_uncond > 0:
                ids = self.drop_captions(ids)
            cond = self.text_conditions(ids)
        return diffusion_loss(self.unet, self.schedule, z0, t=t, eps=eps,
                              objective=self.objective, min_snr_gamma=min_snr_gamma,
                              reduction=reduction, **cond)

    def forward(self, x0, captions=None, **kwargs):
        """The training loss, as `loss` (latent-diffusion's LatentDiffusion.forward also
        returns its loss)."""
        return self.loss(x0, captions, **kwargs)

    # --- sampling -----------------------------------------------------------------------
    def _conditions(self, captions, guidance, negative, n, op):
        """(network for the samplers, its keyword condition, batch size)."""
        if not (isinstance(guidance, numbers.Real) and np.isfinite(guidance) and guidance >= 0):
            raise ValueError(f"LatentDiffusion.{op}: guidance must be a finite number >= 0 "
                             f"(0 null-conditioned, 1 conditional, > 1 guided), got {guidance}")
        if self.unconditional:
            if captions is not None or negative is not None:
                raise ValueError(f"LatentDiffusion.{op}: the model is unconditional; give no "
                                 f"captions or negative prompt")
            if n is None:
                raise ValueError(f"LatentDiffusion.{op}: an unconditional model needs n "
                                 f"(the number of samples) or x_T")
            return self.unet, {}, n
        if captions is None:
            raise ValueError(f"LatentDiffusion.{op}: give the captions to draw (or build the "
                             f"model with unconditional=True)")
        ids = self.tokenize(captions, op)
        B = len(ids)
        if B == 0 or (n is not None and n != B):
            raise ValueError(f"LatentDiffusion.{op}: got {B} captions for {n} samples")
        cond = self.text_conditions(ids)
        if guidance == 1:
            return self.unet, cond, B  # eps(null) + 1 (eps(c) - eps(null)) = eps(c): one pass
        if negative is None:
            null_ids = self.null_ids(1)
        else:
            null_ids = self.tokenize(negative, op)
            if len(null_ids) not in (1, B):
                raise ValueError(f"LatentDiffusion.{op}: give one negative prompt or one per "
                                 f"caption ({B}), got {len(null_ids)}")
        guided = ClassifierFreeGuidance(self.unet, guidance, **self.text_conditions(null_ids))
        return guided, cond, B

    def predict(self, z_t, t, captions=None, guidance=1.0, negative=None):
        """The (guided) network output at z_t (B, *latent_shape), t (B,) ints:
        eps(null) + s (eps(c) - eps(null)), null = "" or the negative prompt(s). Under
        no_grad, in eval mode."""
        with autograd.no_grad():
            model, cond, _ = self._conditions(captions, guidance, negative, z_t.shape[0],
                                              'predict')
            was = self.unet.training
            self.unet.train(False)
            try:
                return model(z_t, t, **cond)
            finally:
                self.unet.train(was)

    def sample(self, captions=None, guidance=3.0, negative=None, steps=50, sampler='ddim',
               eta=0.0, n=None, x_T=None, seed=None, clip_x0=None, trajectory=None,
               record_every=1, decode=True):
        """Draw images for `captions` (a list of B strings, or ids (B, L)); under no_grad.

        guidance: the classifier-free guidance scale s >= 0 (1: plain conditional; unused
            by an unconditional model);
        negative: None (null = the empty caption), or one caption or B captions to steer
            away from;
        sampler: 'ddim' (`steps` steps, noise eta in [0, 1]) or 'ddpm' (all T steps);
        n: the number of samples (needed only when unconditional without x_T);
        x_T: the starting latents (B, *latent_shape), else drawn from N(0, I);
        seed: draw x_T and the sampler's noise from autograd's generator seeded with
            `seed`, restoring the generator's state afterwards;
        clip_x0: clip z0_hat to [-1, 1] at each step; default only in pixel space (the
            latents are not bounded);
        trajectory: a list to which (t, z_t, z0_hat) NumPy latents are appended every
            `record_every` steps (decode them with decode_latents for a GIF);
        decode: False returns the latents z_0 instead of images.
        Returns the images (B, C, H, W), decoded by the first stage.
        """
        if sampler not in SAMPLERS:
            raise ValueError(f"LatentDiffusion.sample: sampler must be one of {SAMPLERS}, "
                             f"got {sampler!r}")
        if x_T is not None and (not isinstance(x_T, Tensor)
                                or tuple(x_T.shape[1:]) != self.latent_shape):
            raise ValueError(f"LatentDiffusion.sample: x_T must be a Tensor of shape "
                             f"(B, {', '.join(map(str, self.latent_shape))}), got "
                             f"{getattr(x_T, 'shape', type(x_T).__name__)}")
        if n is None and x_T is not None:
            n = x_T.shape[0]
        if clip_x0 is None:
            clip_x0 = self.first_stage is None
        state = autograd.backend.get_rng_state() if seed is not None else None
        try:
            if seed is not None:
                autograd.manual_seed(seed)
            with autograd.no_grad():
                model, cond, B = self._conditions(captions, guidance, negative, n, 'sample')
                if x_T is None:
                    x_T = autograd.randn(B, *self.latent_shape, device=self.device)
                kwargs = dict(objective=self.objective, clip_x0=clip_x0, trajectory=trajectory,
                              record_every=record_every, **cond)
                if sampler == 'ddim':
                    z = ddim_sample(model, self.schedule, x_T, steps=steps, eta=eta, **kwargs)
                else:
                    z = ddpm_sample(model, self.schedule, x_T, **kwargs)
                return self.decode_latents(z) if decode else z
        finally:
            if state is not None:
                autograd.backend.set_rng_state(state)

    def extra_repr(self):
        return (f"latent_shape={self.latent_shape}, objective={self.objective!r}, "
                f"p_uncond={self.p_uncond}, unconditional={self.unconditional}, "
                f"first_stage={type(self.first_stage).__name__ if self.first_stage else None}")
