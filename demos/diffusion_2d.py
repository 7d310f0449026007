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

    python -m demos.diffusion_2d [--preset quick|full] [--dataset 8gaussians] [--steps N]
        [--batch-size B] [--device cpu|cuda] [--seed S] [--out out/diffusion_2d] [--resume]

Writes to --out: samples.png (data beside samples), samples.npy, loss.png, loss_vs_t.png,
reverse.gif (noise -> data), metrics.json and checkpoint.npz (which --resume continues).
"""
import argparse
import math
import os
import tempfile
import time

import numpy as np
from PIL import Image, ImageDraw

import autograd
import minigen
from minigen import nn, viz
from minigen.data.toy2d import NAMES, toy2d, modes
from minigen.diffusion import linear_schedule, diffusion_loss, ddpm_sample, TimestepLoss
from minigen.optim import Adam

from demos.conventions import add_run_arguments, write_metrics

PRESETS = {'quick': dict(steps=8000, batch_size=256, T=100, samples=2000),
           'full': dict(steps=30000, batch_size=512, T=200, samples=5000)}


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


def save_beside(data, samples, path, left_title, right_title):
    """Scatter plots of the data and of the samples, side by side, in one PNG."""
    with tempfile.TemporaryDirectory() as tmp:
        panels = []
        for i, (x, title) in enumerate(((data, left_title), (samples, right_title))):
            viz.save_scatter(x, os.path.join(tmp, f'{i}.png'), labels=np.full(len(x), i),
                             title=title)
            panels.append(Image.open(os.path.join(tmp, f'{i}.png')).convert('RGB'))
    both = Image.new('RGB', (panels[0].width + panels[1].width, panels[0].height), 'white')
    both.paste(panels[0], (0, 0))
    both.paste(panels[1], (panels[0].width, 0))
    both.save(path)


def draw_points(x, lim, label, size=240):
    """Points x (N, 2) on a fixed [-lim, lim]^2 canvas, as a (1, 3, H, W) image in [0, 1]."""
    im = Image.new('RGB', (size, size), 'white')
    draw = ImageDraw.Draw(im)
    px = (x / lim * 0.5 + 0.5) * (size - 1)
    for u, v in px[np.all(np.abs(x) < lim, axis=1)]:
        draw.ellipse([u - 1, size - 1 - v - 1, u + 1, size - 1 - v + 1], fill=(31, 119, 180))
    draw.text((4, 4), label, fill='black')
    return np.asarray(im, np.float32).transpose(2, 0, 1)[None] / 255


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--preset', choices=PRESETS, default='quick')
    ap.add_argument('--dataset', choices=NAMES, default='8gaussians')
    ap.add_argument('--steps', type=int, help='training steps in this run (preset default)')
    ap.add_argument('--batch-size', type=int)
    ap.add_argument('--samples', type=int, help='points to generate (preset default)')
    add_run_arguments(ap, 'diffusion_2d')
    args = ap.parse_args(argv)
    preset = PRESETS[args.preset]
    steps = preset['steps'] if args.steps is None else args.steps
    batch_size = args.batch_size or preset['batch_size']
    n_samples = args.samples or preset['samples']
    os.makedirs(args.out, exist_ok=True)
    ckpt_path = os.path.join(args.out, 'checkpoint.npz')

    autograd.manual_seed(args.seed)
    data = toy2d(args.dataset, 20000, seed=args.seed)[0]
    scale = float(data.std())  # x_0 = data / scale has unit variance, like the noise
    x_data = autograd.tensor(data / scale, device=args.device)
    schedule = linear_schedule(preset['T'])
    model = Denoiser().to(args.device)
    opt = Adam(model.parameters(), lr=1e-3)
    start_step, losses = 0, []
    if args.resume:
        if not os.path.exists(ckpt_path):
            raise FileNotFoundError(f"diffusion_2d --resume: no checkpoint at {ckpt_path}; "
                                    f"run once without --resume first")
        ckpt = minigen.load(ckpt_path)
        if ckpt['dataset'] != args.dataset or ckpt['diffusion_config'] != schedule.config | {
                'objective': 'eps'}:
            raise ValueError(f"diffusion_2d --resume: {ckpt_path} holds a run on "
                             f"{ckpt['dataset']} with {ckpt['diffusion_config']}; this run asks "
                             f"for {args.dataset} with {schedule.config} (preset {args.preset})")
        model.load_state_dict(ckpt['model'])
        opt.load_state_dict(ckpt['optimizer'])
        model.diffusion_config = ckpt['diffusion_config']
        autograd.backend.set_rng_state(ckpt['rng'])
        start_step, losses = ckpt['step'], list(ckpt['losses'])

    start = time.time()
    bar = viz.progress(range(start_step, start_step + steps), 'train')
    for step in bar:  # Algorithm 1
        idx = autograd.randint(0, len(data), (batch_size,), device=args.device)
        loss = diffusion_loss(model, schedule, x_data[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
        if step % 50 == 0:
            bar.set_postfix(loss=f'{np.mean(losses[-50:]):.4f}')
    train_seconds = time.time() - start
    step = start_step + steps
    minigen.save({'model': model.state_dict(), 'optimizer': opt.state_dict(), 'step': step,
                  'rng': autograd.backend.get_rng_state(), 'losses': np.array(losses),
                  'dataset': args.dataset, 'diffusion_config': model.diffusion_config},
                 ckpt_path)

    # loss of the trained model against t, on one fixed held batch
    by_t = TimestepLoss(schedule.T)
    x0 = autograd.tensor(toy2d(args.dataset, 8192, seed=args.seed + 1)[0] / scale,
                         device=args.device)
    t = schedule.sample_timesteps(len(x0), device=args.device)
    with autograd.no_grad():
        by_t.update(diffusion_loss(model, schedule, x0, t=t, reduction='none'), t)

    start = time.time()
    trajectory = []
    x_T = autograd.randn(n_samples, 2, device=args.device)
    samples = ddpm_sample(model, schedule, x_T, clip_x0=False, trajectory=trajectory,
                          record_every=max(1, schedule.T // 25)).numpy() * scale
    sample_seconds = time.time() - start

    np.save(os.path.join(args.out, 'samples.npy'), samples)
    save_beside(data[:n_samples], samples, os.path.join(args.out, 'samples.png'),
                f'{args.dataset}: data', f'DDPM samples, step {step}')
    smooth = np.convolve(losses, np.ones(100) / 100, mode='valid') if len(losses) >= 100 else None
    viz.save_curves({'L_simple': losses} | ({'mean of 100': (np.arange(99, len(losses)), smooth)}
                                            if smooth is not None else {}),
                    os.path.join(args.out, 'loss.png'), log_y=True, title='training loss')
    centres, mean_loss = by_t.result()
    viz.save_curves({'L_simple': (centres, mean_loss)}, os.path.join(args.out, 'loss_vs_t.png'),
                    log_y=True, title='loss against t (trained model)', xlabel='t')
    lim = 1.15 * float(np.abs(data / scale).max())
    frames = [draw_points(x_t, lim, f't = {t_}') for t_, x_t, _ in trajectory]
    frames.append(draw_points(samples / scale, lim, 'x_0'))
    viz.save_gif(frames, os.path.join(args.out, 'reverse.gif'), nrow=1, scale=1, duration=120)

    metrics = {'settings': vars(args) | {'steps': steps, 'batch_size': batch_size,
                                         'samples': n_samples, 'T': schedule.T, 'lr': 1e-3},
               'step': step, 'train_seconds': round(train_seconds, 2),
               'sample_seconds': round(sample_seconds, 2),
               'first_loss': float(np.mean(losses[:50])),
               'final_loss': float(np.mean(losses[-100:])),
               **quality(samples, data[:n_samples],
                         toy2d(args.dataset, n_samples, seed=args.seed + 2)[0], args.dataset)}
    return write_metrics(args.out, metrics)


if __name__ == '__main__':
    main()
