"""Memory stays flat over a long run: thousands of training steps keep no graph alive (not
through a loss history, a metric list, the EMA or the checkpoints), so the resident memory
after 2,000 steps is what it was after the first few hundred. A graph kept per step would
hold megabytes: 1,700 steps of it are far above the 8 MB allowed."""
import os
import sys

import numpy as np
import pytest

import autograd
from minigen import viz
from minigen.diffusion import TimestepLoss, diffusion_loss, linear_schedule
from minigen.optim import EMA, Adam, LambdaLR, linear_warmup

pytestmark = pytest.mark.skipif(not sys.platform.startswith('linux'),
                                reason='reads /proc/self/statm')


def resident_mb():
    with open('/proc/self/statm') as f:
        return int(f.read().split()[1]) * os.sysconf('SC_PAGE_SIZE') / 2 ** 20


def test_a_ddpm_style_loop_of_2000_steps_keeps_its_memory_flat():
    """demos.ddpm's loop on demos.diffusion_2d's small denoiser: Adam, a warm-up schedule, an
    EMA, a loss history of loss.item() and the per-timestep losses of each step."""
    from demos.diffusion_2d import Denoiser
    autograd.manual_seed(0)
    model, schedule = Denoiser(width=32), linear_schedule(100)
    opt = Adam(model.parameters(), lr=1e-3)
    lr_schedule, ema, by_t = LambdaLR(opt, linear_warmup(10)), EMA(model, 0.99), TimestepLoss(100)
    x = autograd.randn(512, 2)
    losses, memory = [], {}
    for step in range(2000):
        idx = autograd.randint(0, 512, (16,))
        t = schedule.sample_timesteps(16)
        per_example = diffusion_loss(model, schedule, x[idx], t=t, reduction='none')
        loss = per_example.mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        lr_schedule.step()
        ema.update()
        losses.append(loss.item())
        by_t.update(per_example.detach(), t)
        if step in (300, 1999):
            memory[step] = resident_mb()
    assert memory[1999] - memory[300] < 8, f'resident memory grew: {memory} MB'
    assert np.isfinite(losses).all()


def test_a_demo_run_of_2000_steps_keeps_its_memory_flat(tmp_path, monkeypatch):
    """demos.diffusion_2d itself, with its checkpoints every 500 steps; the resident memory is
    read through the progress bar the loop iterates."""
    from demos.diffusion_2d import main
    memory, progress = {}, viz.progress

    class Measured:
        def __init__(self, steps, *args, **kwargs):
            self.bar = progress(steps, *args, **kwargs)

        def __iter__(self):
            for i, step in enumerate(self.bar):
                if i in (300, 1999):
                    memory[i] = resident_mb()
                yield step

        def __getattr__(self, name):  # set_postfix, close
            return getattr(self.bar, name)
    monkeypatch.setattr(viz, 'progress', Measured)
    main(['--steps', '2000', '--batch-size', '16', '--samples', '20', '--checkpoint-every',
          '500', '--out', str(tmp_path)])
    assert memory[1999] - memory[300] < 8, f'resident memory grew: {memory} MB'
