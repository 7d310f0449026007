"""Classifier-free guidance: one network, trained both with and without its condition,
steered at sampling time by the difference of its two predictions.

Ho & Salimans 2022, "Classifier-Free Diffusion Guidance" (arXiv:2207.12598).
Training (Algorithm 1): each example's condition c is replaced by the null condition
with probability p_uncond (`drop_condition`), so the same network learns eps(x_t, c)
and eps(x_t, null). Sampling, eq. (6) with s = 1 + w:

    eps_tilde(x_t, c) = eps(x_t, null) + s (eps(x_t, c) - eps(x_t, null))

s = 0 is the unconditional model, s = 1 the conditional one, s > 1 sharpens toward c
(and away from diversity). The same rule holds for an x0 or v prediction, since each is
linear in eps at a fixed x_t. `ClassifierFreeGuidance` wraps the network and is passed
to any sampler in its place.
"""
import autograd
from autograd.tensor import Tensor


def null_like(null, cond):
    """The null condition (a Tensor, array or number) in cond's dtype and device,
    broadcast to cond's shape."""
    if not isinstance(null, Tensor):
        null = autograd.tensor(null, dtype=cond.dtype, device=cond.device)
    return null.astype(cond.dtype).broadcast_to(cond.shape)


def drop_condition(cond, null, p_uncond):
    """Classifier-free guidance training: each example's condition (row of `cond`) is
    replaced by `null` (broadcast to a row) with probability p_uncond."""
    if not 0 <= p_uncond <= 1:
        raise ValueError(f"drop_condition: p_uncond must be in [0, 1], got {p_uncond}")
    keep = autograd.rand(cond.shape[0], device=cond.device).data >= p_uncond
    keep = keep.reshape((-1,) + (1,) * (cond.ndim - 1))
    return autograd.where(keep, cond, null_like(null, cond))


class ClassifierFreeGuidance:
    """model(x_t, t, **cond) guided with scale s: eps(null) + s (eps(c) - eps(null)).

    null_cond gives, for every keyword of the condition, its null value, broadcast
    against the condition (e.g. y=autograd.tensor([unet.null_class])). Both predictions
    come from one forward pass on a batch of 2B.
    """

    def __init__(self, model, scale, **null_cond):
        if not null_cond:
            raise ValueError("ClassifierFreeGuidance: give the null condition, e.g. "
                             "y=tensor([model.null_class]) or context=<empty-prompt context>")
        self.model, self.scale, self.null_cond = model, scale, null_cond

    @property
    def diffusion_config(self):
        return getattr(self.model, 'diffusion_config', None)

    @property
    def training(self):
        return getattr(self.model, 'training', False)

    def train(self, mode=True):
        self.model.train(mode)
        return self

    def __call__(self, x_t, t, **cond):
        if set(cond) != set(self.null_cond):
            raise ValueError(f"ClassifierFreeGuidance: conditioned on {sorted(cond)} but the "
                             f"null condition gives {sorted(self.null_cond)}")
        B = x_t.shape[0]
        both = {k: autograd.cat([c, null_like(self.null_cond[k], c)]) for k, c in cond.items()}
        out = self.model(autograd.cat([x_t, x_t]), autograd.cat([t, t]), **both)
        conditional, unconditional = out[:B], out[B:]
        # eps_tilde = eps(null) + s (eps(c) - eps(null))
        return unconditional + self.scale * (conditional - unconditional)
