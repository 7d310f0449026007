"""x0_hat previews: what the network takes the clean image to be, at a few noise levels,
as training goes (Ho, Jain & Abbeel 2020, arXiv:2006.11239, Fig. 6 shows such x0_hat).

A few fixed images x_0 and a fixed noise eps are noised once at each preview timestep,

    x_t = sqrt(alpha_bar_t) x_0 + sqrt(1 - alpha_bar_t) eps                (eq. 4)

and at each preview the network's prediction is turned into the clean image it implies,
x0_hat = predict_x0(x_t, t, net(x_t, t)) clipped to [-1, 1] (for eps:
(x_t - sqrt(1 - alpha_bar_t) eps_theta) / sqrt(alpha_bar_t), eq. 15). The same x_t every
time, so the previews show the network changing, not the noise. Images come back in
[0, 1], ready to draw; `history` keeps the first image's row of each preview (what a
checkpoint saves), and progress_grid lays them out under that image's x_t.
"""
import numpy as np

import autograd
from .process import predict_x0, q_sample


def _unit(x):
    return np.clip((x + 1) / 2, 0, 1)


class X0Preview:
    """x0_hat of the images x0 (n, C, H, W) in [-1, 1], noised by eps (their shape) at each
    of `timesteps`; y: their class labels for a class-conditional network."""

    def __init__(self, schedule, x0, eps, timesteps, y=None):
        k, n = len(timesteps), len(x0)
        self.schedule, self.timesteps, self.history = schedule, [int(t) for t in timesteps], {}
        self.shape = (k, n) + tuple(x0.shape[1:])
        self.x0 = _unit(x0.numpy())
        self.t = autograd.tensor(np.repeat(self.timesteps, n), dtype=autograd.int64,
                                 device=x0.device)
        self.x_t = q_sample(schedule, autograd.cat([x0] * k), self.t, autograd.cat([eps] * k))
        self.cond = {} if y is None else {'y': autograd.cat([y] * k)}

    def __call__(self, model, objective='eps', step=None):
        """(x_t, x0_hat) in [0, 1], each (k, n, C, H, W): row i the images at timesteps[i].
        With `step`, history[step] keeps the first image's x0_hat at each t."""
        with autograd.no_grad():
            out = model(self.x_t, self.t, **self.cond)
            hat = predict_x0(self.schedule, self.x_t, self.t, out, objective).clip(-1, 1)
        x_t, hat = _unit(self.x_t.numpy().reshape(self.shape)), _unit(hat.numpy().reshape(
            self.shape))
        if step is not None:
            self.history[step] = hat[:, 0]
        return x_t, hat

    def progress_grid(self):
        """The first image's previews as rows (k + 1 images each): its x_t at each t, then
        its x0_hat at each kept step, every row led by the image itself; with the rows'
        labels."""
        x_t = _unit(self.x_t.numpy().reshape(self.shape))[:, 0]
        kept = sorted(self.history)
        rows = [x_t] + [self.history[s] for s in kept]
        grid = np.concatenate([np.concatenate([self.x0[:1], r]) for r in rows])
        return grid, ['x_t'] + [f'step {s}' for s in kept]
