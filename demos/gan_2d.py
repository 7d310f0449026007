"""Mode collapse on 2-D data, and its fix: a vanilla GAN and a WGAN-GP side by side.

Goodfellow et al. 2014, "Generative Adversarial Networks" (arXiv:1406.2661): D and G play

    min_G max_D  E_x log D(x) + E_z log(1 - D(G(z))),

here with G's non-saturating loss -E log D(G(z)). A generator that puts all its samples on
one mode of a mixture can still fool the current D there, then hops to another mode when
D catches up: mode collapse. Gulrajani et al. 2017, "Improved Training of Wasserstein GANs"
(arXiv:1704.00028) train a critic f on the Wasserstein-1 objective (Arjovsky et al. 2017,
arXiv:1701.07875) with a gradient penalty instead,

    L_f = E f(G(z)) - E f(x) + lambda E (||grad f(x_hat)||_2 - 1)^2,   L_G = -E f(G(z)),

x_hat = alpha x + (1 - alpha) G(z), alpha ~ U[0, 1], 5 critic steps per G step, Adam
betas (0.5, 0.9) and lambda 0.1 for 2-D toys (igul222 gan_toy.py); its critic keeps a
useful gradient towards every mode the generator misses, so the samples spread over all.
Here both discriminators learn ten times faster than their generators (Adam lr 1e-3 vs
1e-4): the vanilla GAN's D then pins G to one or a few modes, while a strong critic is
what WGAN-GP wants. Both nets are the toy code's MLPs (3 hidden ReLU layers; width 512
there, 128 / 256 here).

    python -m demos.gan_2d [--preset quick|full] [--dataset 8gaussians|25gaussians]
        [--steps N] [--batch-size B] [--width W] [--lam L] [--checkpoint-every N]
        [--device cpu|cuda] [--seed S] [--out out/gan_2d] [--resume]

Writes to --out: progress.png (samples of both GANs over training, one row each),
samples.png (final samples over the data), points.npy (WGAN-GP's 2,000 final points,
(N, 2)), points_gan.npy (the vanilla GAN's), modes.png (modes covered against step),
metrics.json (modes covered and fraction of samples within 3 sigma of a mode, over
training) and checkpoint.npz (which --resume continues).
"""
import argparse
import os
import time

import numpy as np

import autograd
from minigen import viz
from minigen.data.toy2d import modes, toy2d
from minigen.gans import MLPDiscriminator, MLPGenerator
from minigen.gans.losses import discriminator_loss, generator_loss, gradient_penalty
from minigen.optim import Adam

from demos.conventions import (TrainingCheckpoints, add_run_arguments, count,
                               non_negative_float, parse_run_args, positive_int, resolve_preset,
                               write_metrics)

PRESETS = {'quick': dict(steps=2000, batch_size=256, width=128, lam=0.1, snapshots=6,
                         checkpoint_every=500),
           'full': dict(steps=10000, batch_size=256, width=256, lam=0.1, snapshots=8,
                        checkpoint_every=2000)}
SIGMA = {'8gaussians': 0.25, '25gaussians': 0.1}  # the datasets, and each mode's std
# The two games: Adam lr of G and of D, betas, the loss, D steps per G step.
KINDS = {'gan': dict(lr_g=1e-4, lr_d=1e-3, betas=(0.5, 0.999), loss='nonsaturating',
                     n_critic=1),
         'wgan-gp': dict(lr_g=1e-4, lr_d=1e-3, betas=(0.5, 0.9), loss='wasserstein',
                         n_critic=5)}


def parse_args(argv):
    """The flags (a flag named like a preset key overrides it) and the run's settings."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--steps', type=count, help='generator updates in this run (preset '
                                                'default)')
    ap.add_argument('--batch-size', type=positive_int)
    ap.add_argument('--width', type=positive_int, help='hidden width of G and D (preset default)')
    ap.add_argument('--lam', type=non_negative_float,
                    help='gradient penalty weight (preset default 0.1)')
    add_run_arguments(ap, 'gan_2d', PRESETS, datasets=tuple(SIGMA), checkpoints=True)
    args = parse_run_args(ap, argv)
    hp = resolve_preset(args, PRESETS)
    if hp['steps'] == 0 and not args.resume:
        ap.error('--steps must be >= 1 (0 with --resume draws the saved run again)')
    return args, hp


def mode_stats(samples, dataset):
    """Fraction of samples within 3 sigma of a mode ("high quality") and the number of
    modes holding at least a quarter of their fair share of those samples."""
    centres = modes(dataset)
    d = np.linalg.norm(samples[:, None, :] - centres[None], axis=2)
    near = d.min(1) < 3 * SIGMA[dataset]
    counts = np.bincount(d.argmin(1)[near], minlength=len(centres))
    return int((counts >= len(samples) / (4 * len(centres))).sum()), float(near.mean())


def train_step(kind, G, D, opt_g, opt_d, x_data, batch_size, lam, device):
    """One generator update after n_critic discriminator updates; returns both losses."""
    loss, n_critic = KINDS[kind]['loss'], KINDS[kind]['n_critic']
    for _ in range(n_critic):
        real = x_data[autograd.randint(0, len(x_data), (batch_size,), device=device)]
        fake = G(autograd.randn(batch_size, 2, device=device)).detach()
        d_loss = discriminator_loss(D(real), D(fake), loss)
        if kind == 'wgan-gp':
            d_loss = d_loss + gradient_penalty(D, real, fake, lam=lam)
        opt_d.zero_grad()
        d_loss.backward()
        opt_d.step()
    g_loss = generator_loss(D(G(autograd.randn(batch_size, 2, device=device))), loss)
    opt_g.zero_grad()
    g_loss.backward()
    opt_g.step()
    return d_loss.item(), g_loss.item()


def train(nets, x_data, hp, steps, record_at, log, dataset, z_fixed, run, device):
    """Both games side by side over `steps`, one train_step each per step, checkpointed by
    `run`; at each step of `record_at`, each G's samples for z_fixed go to log: (step, modes,
    quality) rows in log['history'], 600 points in log['snapshots']. Returns the last losses
    of each."""
    bar, shown, losses = viz.progress(steps, 'train'), {}, {}
    for step in bar:
        for kind, (G, D, opt_g, opt_d) in nets.items():
            losses[kind] = train_step(kind, G, D, opt_g, opt_d, x_data, hp['batch_size'],
                                      hp['lam'], device)
        if step % 50 == 0:
            shown |= {f'{kind}_L_D': f'{losses[kind][0]:.3f}' for kind in KINDS}
            bar.set_postfix(shown)
        if step + 1 in record_at:
            for kind, (G, *_) in nets.items():
                with autograd.no_grad():
                    points = G(z_fixed).numpy()
                log['history'][kind].append([step + 1, *mode_stats(points, dataset)])
                log['snapshots'][kind].append(points[:600])
            shown |= {f'{kind}_modes': log['history'][kind][-1][1] for kind in KINDS}
        run.step_done(step + 1)
    return losses


def over_data(x, data, lim, label, size=200):
    """Points x (blue) over the data (grey) on a [-lim, lim]^2 canvas: (3, H, W) in [0, 1]."""
    tile = viz.points_image(x, lim, label, size=size)[0]
    data_px = (viz.points_image(data, lim, size=size)[0] < 1).any(0)
    tile[:, data_px & (tile == 1).all(0)] = 200 / 255
    return tile


def draw(final, data, log, out, dataset):
    """progress.png (the snapshots, one row per game), samples.png (the final points of
    both) and modes.png (modes covered against step)."""
    lim, grey, history = 1.2 * float(np.abs(data).max()), data[:1000], log['history']
    tiles = [over_data(x, grey, lim, f'step {row[0]}: {row[1]} modes')
             for kind in KINDS for x, row in zip(log['snapshots'][kind], history[kind])]
    viz.save_image(np.stack(tiles), os.path.join(out, 'progress.png'),
                   nrow=len(history['gan']), scale=1, row_labels=list(KINDS))
    tiles = [over_data(final[kind], grey, lim, f'{kind}: {history[kind][-1][1]} modes, '
                       f'{history[kind][-1][2]:.0%} near one', size=300) for kind in KINDS]
    viz.save_image(np.stack(tiles), os.path.join(out, 'samples.png'), nrow=len(tiles), scale=1)
    viz.save_curves({kind: ([r[0] for r in history[kind]], [r[1] for r in history[kind]])
                     for kind in KINDS}, os.path.join(out, 'modes.png'),
                    title=f'modes covered of {len(modes(dataset))}', ylabel='modes')


def main(argv=None):
    args, hp = parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    autograd.manual_seed(args.seed)
    data = toy2d(args.dataset, 20000, seed=args.seed)[0]
    x_data = autograd.tensor(data, device=args.device)
    nets = {}
    for kind, k in KINDS.items():
        G = MLPGenerator(width=hp['width']).to(args.device)
        D = MLPDiscriminator(width=hp['width']).to(args.device)
        nets[kind] = (G, D, Adam(G.parameters(), lr=k['lr_g'], betas=k['betas']),
                      Adam(D.parameters(), lr=k['lr_d'], betas=k['betas']))
    z_fixed = autograd.randn(2000, 2, device=args.device)  # the points every figure shows
    state = {f'{kind}_{name}': obj for kind, objs in nets.items()
             for name, obj in zip(('G', 'D', 'opt_g', 'opt_d'), objs)}
    config = {'dataset': args.dataset, 'width': hp['width']}
    run = TrainingCheckpoints(args, 'gan_2d', config, state, hp['checkpoint_every'],
                              extra=lambda: {'history': log['history'],
                                             'snapshots': log['snapshots']})
    start, saved = run.resume()
    log = {'history': {kind: [list(r) for r in saved['history'][kind]] if saved else []
                       for kind in KINDS},        # rows of (step, modes covered, quality)
           'snapshots': {kind: list(saved['snapshots'][kind]) if saved else []
                         for kind in KINDS}}      # 600 of G's points at those steps

    # train, recording both games' samples at `snapshots` evenly spaced steps
    end, tick = run.end(start, hp['steps'], saved), time.time()
    record_at = {round(end * (i + 1) / hp['snapshots']) for i in range(hp['snapshots'])} | {end}
    with run:
        losses = train(nets, x_data, hp, range(start, end), record_at, log, args.dataset,
                       z_fixed, run, args.device)
    train_seconds = time.time() - tick
    run.save(end)

    # sample, draw, report
    with autograd.no_grad():
        final = {kind: G(z_fixed).numpy() for kind, (G, *_) in nets.items()}
    np.save(os.path.join(args.out, 'points.npy'), final['wgan-gp'].astype(np.float32))
    np.save(os.path.join(args.out, 'points_gan.npy'), final['gan'].astype(np.float32))
    draw(final, data, log, args.out, args.dataset)
    history = log['history']
    metrics = {'settings': vars(args) | hp | {'kinds': KINDS}, 'step': end,
               'train_seconds': round(train_seconds, 2), 'modes_total': len(modes(args.dataset)),
               **{f'{kind}_final_losses': {'L_D': d, 'L_G': g} for kind, (d, g) in losses.items()},
               **{f'{kind}_modes_covered': history[kind][-1][1] for kind in KINDS},
               **{f'{kind}_fraction_within_3_sigma': round(history[kind][-1][2], 4)
                  for kind in KINDS},
               'history': history}
    return write_metrics(args.out, metrics, hide=('settings', 'history'))


if __name__ == '__main__':
    main()
