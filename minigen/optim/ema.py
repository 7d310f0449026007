"""EMA: an exponential moving average of a model's weights, for sampling.

Diffusion models and GANs sample from averaged weights, which are smoother than the
last step's (Ho et al. 2020, arXiv:2006.11239, appendix B: decay 0.9999). After each
optimizer step, with t the number of updates so far (0 at the first),
    beta_t = min(decay, (1 + t) / (10 + t))
    theta_ema <- beta_t theta_ema + (1 - beta_t) theta
The warm-up (1 + t) / (10 + t) (the default of diffusers' EMAModel) lets the average
forget the random initialization quickly: with a plain 0.9999 it would take ~10k steps.

    ema = EMA(model, decay=0.999)
    ... optimizer.step(); ema.update()
    with ema.average_parameters():      # the model holds the averages inside the block
        samples = sample(model)
    ema.copy_to(sampling_model)          # or copy them into a model of the same structure

Only parameters are averaged; buffers (BatchNorm's running statistics) are the model's.
On a GPU fused.py runs the update line as one CUDA kernel per parameter (a fast path:
three array operations otherwise).
"""
from contextlib import contextmanager

from autograd import backend, no_grad

from . import fused


class EMA:
    def __init__(self, model, decay=0.9999):
        if not 0 <= decay < 1:
            raise ValueError(f"EMA: decay must be in [0, 1), got {decay}")
        self.model, self.decay, self.num_updates = model, decay, 0
        self.shadow = {name: p.data.copy() for name, p in model.named_parameters()}

    def update(self):
        beta = min(self.decay, (1 + self.num_updates) / (10 + self.num_updates))
        for name, p in self.model.named_parameters():
            s = self.shadow[name] = backend.to_device(self.shadow[name], p.device)
            if not fused.ema(s, p.data, beta):   # True: done on a GPU, as one kernel
                s -= (1 - beta) * (s - p.data)   # = beta s + (1 - beta) theta
        self.num_updates += 1

    def copy_to(self, model=None):
        """Write the averages into `model` (default: the tracked model)."""
        model = self.model if model is None else model
        self._check('copy_to', {n: p.shape for n, p in model.named_parameters()}, self.shadow)
        with no_grad():
            for name, p in model.named_parameters():
                p.copy_(backend.to_device(self.shadow[name], p.device))

    @contextmanager
    def average_parameters(self):
        """Swap the averages into the tracked model for the block, then restore its weights."""
        saved = {name: p.data.copy() for name, p in self.model.named_parameters()}
        self.copy_to()
        try:
            yield self.model
        finally:
            with no_grad():
                for name, p in self.model.named_parameters():
                    p.copy_(saved[name])

    def state_dict(self):
        return {'decay': self.decay, 'num_updates': self.num_updates, 'shadow': dict(self.shadow)}

    def load_state_dict(self, state_dict):
        """Load averages saved from an EMA of a model of the same structure; a mismatch
        raises a ValueError and changes nothing."""
        params = dict(self.model.named_parameters())
        self._check('load_state_dict', {n: p.shape for n, p in params.items()},
                    state_dict['shadow'])
        self.decay, self.num_updates = float(state_dict['decay']), int(state_dict['num_updates'])
        xp = backend.array_module(next(iter(params.values())).data)
        self.shadow = {n: xp.array(backend.to_device(v, params[n].device), dtype=params[n].dtype)
                       for n, v in state_dict['shadow'].items()}

    @staticmethod
    def _check(what, shapes, shadow):
        problems = [f"{n}: in the model, not in the averages" for n in shapes if n not in shadow]
        problems += [f"{n}: in the averages, not in the model" for n in shadow if n not in shapes]
        problems += [f"{n}: average {tuple(shadow[n].shape)}, model {shapes[n]}"
                     for n in shapes if n in shadow and tuple(shadow[n].shape) != shapes[n]]
        if problems:
            raise ValueError(f"EMA.{what}: the averages do not match the model; nothing was "
                             f"changed.\n  " + '\n  '.join(problems))
