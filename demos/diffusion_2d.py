"""A denoising diffusion model on 2-D points: the whole of DDPM in one short lab.

Ho, Jain & Abbeel 2020, "Denoising Diffusion Probabilistic Models" (arXiv:2006.11239).
Data x_0 (a toy 2-D distribution, divided by its standard deviation) is noised in one
step by eq. (4),

    x_t = sqrt(alpha_bar_t) x_0 + sqrt(1 - alpha_bar_t) eps,    eps ~ N(0, I),

and an MLP eps_theta(x_t, t) learns to name the noise with the simple loss (eq. 14)

    L_simple = E_{x_0, t ~ U{0..T-1}, eps} || eps - eps_theta(x_t, t) ||^2 .

Sampling (Algorithm 2) starts from x_T ~ N(0, I) and takes T ancestral steps

    x_{t-1} = (x_t - beta_t / sqrt(1 - alpha_bar_t) eps_theta(x_t, t)) / sqrt(alpha_t) + sigma_t z

with sigma_t^2 = beta_t and no noise at the last step. The schedule is the linear one,
beta_t = linspace(1e-4, 0.02, T) * 1000 / T.

    python -m demos.diffusion_2d [--preset quick|full] [--dataset 8gaussians|...] [--steps N]
        [--batch-size B] [--samples N] [--checkpoint-every N] [--device cpu|cuda] [--seed S]
        [--out out/diffusion_2d] [--resume]

Writes to --out: samples.png (data beside samples), points.npy (the samples, (N, 2)),
loss.png, loss_vs_t.png, reverse.gif (noise -> data), metrics.json and checkpoint.npz
(which --resume continues).
"""
import argparse
import math
import os
import tempfile
import time

import numpy as np
from PIL import Image

import autograd
from minigen import nn, viz
from minigen.data.toy2d import NAMES, toy2d, modes
from minigen.diffusion import linear_schedule, diffusion_loss, ddpm_sample, TimestepLoss
from minigen.optim import Adam

from demos.conventions import (TrainingCheckpoints, add_run_arguments, count, parse_run_args,
                               positive_int, resolve_preset, write_metrics)

PRESETS = {'quick': dict(steps=8000, batch_size=256, lr=1e-3, T=100, samples=2000,
                         checkpoint_every=2000),
           'full': dict(steps=30000, batch_size=512, lr=1e-3, T=200, samples=5000,
                        checkpoint_every=5000)}


class Denoiser(nn.Module):
    """eps_theta(x_t, t): [x_t, sinusoidal embedding of t] -> 4 Linear layers with SiLU."""

    def __init__(self, width=128, t_dim=32):
        super().__init__()
        self.t_dim = t_dim
        self.net = nn.Sequential(nn.Linear(2 + t_dim, width), nn.SiLU(),
                                 nn.Linear(width, width), nn.SiLU(),
                                 nn.Linear(width, width), nn.SiLU(),
                                 nn.Linear(width, 2))

    def forward(self, x, t):
        # emb(t) = [sin(t w_k), cos(t w_k)],  w_k = 10000^(-k / (d/2))  (Vaswani et al. 2017)
        xp = autograd.backend.array_module(x.data)
        w = xp.exp(-math.log(10000) * xp.arange(self.t_dim // 2) / (self.t_dim // 2))
        angle = t.data[:, None].astype(np.float64) * w[None, :]
        emb = autograd.as_tensor(xp.concatenate([xp.sin(angle), xp.cos(angle)], 1)
                                    .astype(x.dtype))
        return self.net(autograd.cat([x, emb], axis=1))


def nearest_distance(a, b):
    """For each point of a (N, 2), the distance to its nearest neighbour in b (M, 2)."""
    d2 = (a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2 * a @ b.T
    return np.sqrt(np.maximum(d2.min(1), 0))


def quality(samples, data, fresh, dataset):
    """Mean nearest-neighbour distances samples -> data and data -> samples (the second
    drops when every part of the data is covered), beside the same figure for fresh data."""
    q = {'nn_dist_samples_to_data': float(nearest_distance(samples, data).mean()),
         'nn_dist_data_to_samples': float(nearest_distance(data, samples).mean()),
         'nn_dist_fresh_data_to_data': float(nearest_distance(fresh, data).mean())}
    if dataset == '8gaussians':  # sigma = 0.25: within 3 sigma of a mode, modes holding >= 1/32
        centres = modes(dataset)
        d = np.linalg.norm(samples[:, None, :] - centres[None], axis=2)
        near = d.min(1) < 3 * 0.25
        counts = np.bincount(d.argmin(1)[near], minlength=len(centres))
        q['fraction_within_3_sigma'] = float(near.mean())
        q['modes_covered'] = int((counts >= len(samples) / (4 * len(centres))).sum())
    return q


def scatter_panels(data, samples, path, left_title, right_title):
    """Scatter plots of the data and of the samples, side by side, in one PNG."""
    with tempfile.TemporaryDirectory() as tmp:
        panels = []
        for i, x in enumerate((data, samples)):
            viz.save_scatter(x, os.path.join(tmp, f'{i}.png'), labels=np.full(len(x), i))
            with Image.open(os.path.join(tmp, f'{i}.png')) as im:
                panels.append(im.convert('RGB'))
    viz.save_panels(panels, [left_title, right_title], path)


def parse_args(argv):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_run_arguments(ap, 'diffusion_2d', PRESETS, datasets=NAMES, default_dataset='8gaussians',
                      checkpoints=True)
    ap.add_argument('--steps', type=count, help='training steps in this run (preset default)')
    ap.add_argument('--batch-size', type=positive_int)
    ap.add_argument('--samples', type=positive_int, help='points to generate (preset default)')
    args = parse_run_args(ap, argv, steps_zero_means='sample from a saved run')
    return args


def train(model, opt, schedule, x_data, args, hp, steps, losses, run):
    """Algorithm 1 over `steps`, checkpointed by `run`; returns the seconds it took."""
    began = time.time()
    bar = viz.progress(steps, 'train')
    for step in bar:
        idx = autograd.randint(0, len(x_data), (hp['batch_size'],), device=args.device)
        loss = diffusion_loss(model, schedule, x_data[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
        if step % 50 == 0:
            bar.set_postfix(loss=f'{np.mean(losses[-50:]):.4f}')
        run.step_done(step + 1)
    return time.time() - began


def loss_against_t(model, schedule, args, scale):
    """The trained model's loss per t, on one fixed held-out batch."""
    by_t = TimestepLoss(schedule.T)
    x0 = autograd.tensor(toy2d(args.dataset, 8192, seed=args.seed + 1)[0] / scale,
                         device=args.device)
    t = schedule.sample_timesteps(len(x0), device=args.device)
    with autograd.no_grad():
        by_t.update(diffusion_loss(model, schedule, x0, t=t, reduction='none'), t)
    return by_t.result()


def draw(args, data, samples, trajectory, losses, by_t, scale, step):
    """samples.png, loss.png, loss_vs_t.png and reverse.gif."""
    scatter_panels(data[:len(samples)], samples, os.path.join(args.out, 'samples.png'),
                   f'{args.dataset}: data', f'DDPM samples, step {step}')
    viz.save_loss_curve(losses, os.path.join(args.out, 'loss.png'), label='L_simple', window=100)
    viz.save_curves({'L_simple': by_t}, os.path.join(args.out, 'loss_vs_t.png'),
                    log_y=True, title='loss against t (trained model)', xlabel='t')
    lim = 1.15 * float(np.abs(data / scale).max())
    frames = [viz.points_image(x_t, lim, f't = {t_}') for t_, x_t, _ in trajectory]
    frames.append(viz.points_image(samples / scale, lim, 'x_0'))
    viz.save_gif(frames, os.path.join(args.out, 'reverse.gif'), nrow=1, scale=1, duration=120)


def main(argv=None):
    args = parse_args(argv)
    hp = resolve_preset(args, PRESETS)
    os.makedirs(args.out, exist_ok=True)
    autograd.manual_seed(args.seed)
    data = toy2d(args.dataset, 20000, seed=args.seed)[0]
    scale = float(data.std())  # x_0 = data / scale has unit variance, like the noise
    x_data = autograd.tensor(data / scale, device=args.device)
    schedule = linear_schedule(hp['T'])
    model = Denoiser().to(args.device)
    opt = Adam(model.parameters(), lr=hp['lr'])
    config = {'dataset': args.dataset, 'T': hp['T']}
    run = TrainingCheckpoints(args, 'diffusion_2d', config, {'model': model, 'opt': opt},
                              hp['checkpoint_every'], extra=lambda: {
                                  'losses': np.array(losses),
                                  'diffusion_config': model.diffusion_config})
    step, saved = run.resume()
    losses = list(saved.get('losses', []))
    model.diffusion_config = saved.get('diffusion_config')

    with run:
        end = run.end(step, hp['steps'], saved)
        train_seconds = train(model, opt, schedule, x_data, args, hp, range(step, end), losses,
                              run)
    step = end
    run.save(step)
    by_t = loss_against_t(model, schedule, args, scale)

    began, trajectory = time.time(), []  # Algorithm 2, recording x_t for the GIF
    x_T = autograd.randn(hp['samples'], 2, device=args.device)
    samples = ddpm_sample(model, schedule, x_T, clip_x0=False, trajectory=trajectory,
                          record_every=max(1, schedule.T // 25)).numpy() * scale
    sample_seconds = time.time() - began
    np.save(os.path.join(args.out, 'points.npy'), samples.astype(np.float32))
    draw(args, data, samples, trajectory, losses, by_t, scale, step)

    fresh = toy2d(args.dataset, len(samples), seed=args.seed + 2)[0]
    metrics = {'settings': vars(args) | hp, 'step': step,
               'train_seconds': round(train_seconds, 2),
               'sample_seconds': round(sample_seconds, 2),
               'first_loss': float(np.mean(losses[:50])),
               'final_loss': float(np.mean(losses[-100:])),
               **quality(samples, data[:len(samples)], fresh, args.dataset)}
    return write_metrics(args.out, metrics)

if __name__ == '__main__':
    main()
