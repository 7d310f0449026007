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
1e-4): that makes the vanilla GAN collapse, and does not hurt WGAN-GP. Both nets are the
toy code's MLPs (3 hidden ReLU layers; width 512 there, 128 / 256 here).

    python -m demos.gan_2d [--preset quick|full] [--dataset 8gaussians|25gaussians]
        [--steps N] [--batch-size B] [--device cpu|cuda] [--seed S] [--out out/gan_2d]
        [--resume]

Writes to --out: progress.png (samples of both GANs over training, one row each),
samples.png (final samples over the data), samples.npz, modes.png (modes covered against step),
metrics.json (modes covered and fraction of samples within 3 sigma of a mode, over
training) and checkpoint.npz (which --resume continues).
"""
import argparse
import os
import time

import numpy as np
from PIL import Image, ImageDraw

import autograd
import minigen
from minigen import viz
from minigen.data.toy2d import modes, toy2d
from minigen.gans import MLPDiscriminator, MLPGenerator
from minigen.gans.losses import discriminator_loss, generator_loss, gradient_penalty
from minigen.optim import Adam

from demos.conventions import add_run_arguments, write_metrics

PRESETS = {'quick': dict(steps=2000, batch_size=256, width=128, snapshots=6),
           'full': dict(steps=10000, batch_size=256, width=256, snapshots=8)}
SIGMA = {'8gaussians': 0.25, '25gaussians': 0.1}
# (Adam lr of G, lr of D, betas, loss, D steps per G step). Both discriminators learn ten
# times faster than their generator: the vanilla GAN's D then pins G to one or two modes
# (seeds 0, 1, 2 end with 1, 4, 1 of 8), while a strong critic is what WGAN-GP wants.
CONFIG = {'gan': (1e-4, 1e-3, (0.5, 0.999), 'nonsaturating', 1),
          'wgan-gp': (1e-4, 1e-3, (0.5, 0.9), 'wasserstein', 5)}


def mode_stats(samples, dataset):
    """Fraction of samples within 3 sigma of a mode ("high quality") and the number of
    modes holding at least a quarter of their fair share of those samples."""
    centres = modes(dataset)
    d = np.linalg.norm(samples[:, None, :] - centres[None], axis=2)
    near = d.min(1) < 3 * SIGMA[dataset]
    counts = np.bincount(d.argmin(1)[near], minlength=len(centres))
    return int((counts >= len(samples) / (4 * len(centres))).sum()), float(near.mean())


def draw_points(x, data, lim, label, size=200):
    """Samples x (blue) over data (grey) on a [-lim, lim]^2 canvas, (3, H, W) in [0, 1]."""
    im = Image.new('RGB', (size, size), 'white')
    draw = ImageDraw.Draw(im)
    for pts, colour in ((data, (200, 200, 200)), (x, (31, 119, 180))):
        px = (pts / lim * 0.5 + 0.5) * (size - 1)
        for u, v in px[np.all(np.abs(pts) < lim, axis=1)]:
            draw.ellipse([u - 1, size - 2 - v, u + 1, size - v], fill=colour)
    draw.text((4, 4), label, fill='black')
    return np.asarray(im, np.float32).transpose(2, 0, 1) / 255


def train_step(kind, G, D, opt_g, opt_d, x_data, batch_size, lam, device):
    """One generator update after n_critic discriminator updates; returns both losses."""
    *_, loss, n_critic = CONFIG[kind]
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


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--preset', choices=PRESETS, default='quick')
    ap.add_argument('--dataset', choices=tuple(SIGMA), default='8gaussians')
    ap.add_argument('--steps', type=int, help='generator updates in this run (preset default)')
    ap.add_argument('--batch-size', type=int)
    ap.add_argument('--width', type=int, help='hidden width of G and D (preset default)')
    ap.add_argument('--lam', type=float, default=0.1, help='gradient penalty weight')
    add_run_arguments(ap, 'gan_2d')
    args = ap.parse_args(argv)
    preset = PRESETS[args.preset]
    steps = preset['steps'] if args.steps is None else args.steps
    batch_size = args.batch_size or preset['batch_size']
    width = args.width or preset['width']
    os.makedirs(args.out, exist_ok=True)
    ckpt_path = os.path.join(args.out, 'checkpoint.npz')

    autograd.manual_seed(args.seed)
    data = toy2d(args.dataset, 20000, seed=args.seed)[0]
    x_data = autograd.tensor(data, device=args.device)
    nets = {}
    for kind, (lr_g, lr_d, betas, _, _) in CONFIG.items():
        G, D = MLPGenerator(width=width).to(args.device), MLPDiscriminator(width=width).to(
            args.device)
        nets[kind] = (G, D, Adam(G.parameters(), lr=lr_g, betas=betas),
                      Adam(D.parameters(), lr=lr_d, betas=betas))
    start_step, history = 0, {kind: [] for kind in CONFIG}  # (step, modes, quality) rows
    snapshots = {kind: [] for kind in CONFIG}                # samples at those steps
    z_fixed = autograd.randn(2000, 2, device=args.device)
    if args.resume:
        if not os.path.exists(ckpt_path):
            raise FileNotFoundError(f"gan_2d --resume: no checkpoint at {ckpt_path}; run once "
                                    f"without --resume first")
        ckpt = minigen.load(ckpt_path)
        if ckpt['dataset'] != args.dataset or ckpt['width'] != width:
            raise ValueError(f"gan_2d --resume: {ckpt_path} holds a run on {ckpt['dataset']} "
                             f"with width {ckpt['width']}; this run asks for {args.dataset} "
                             f"with width {width}")
        for kind, modules in nets.items():
            for module, state in zip(modules, ckpt[kind]):
                module.load_state_dict(state)
            history[kind] = [list(row) for row in ckpt['history'][kind]]
            snapshots[kind] = list(ckpt['snapshots'][kind])
        autograd.backend.set_rng_state(ckpt['rng'])
        start_step = ckpt['step']

    end = start_step + steps
    record_at = {round(end * (i + 1) / preset['snapshots'])
                 for i in range(preset['snapshots'])} | {end}
    start = time.time()
    bar, shown, losses = viz.progress(range(start_step, end), 'train'), {}, {}
    for step in bar:
        for kind, (G, D, opt_g, opt_d) in nets.items():
            losses[kind] = train_step(kind, G, D, opt_g, opt_d, x_data, batch_size, args.lam,
                                      args.device)
        if step % 50 == 0:
            shown |= {f'{kind}_L_D': f'{losses[kind][0]:.3f}' for kind in CONFIG}
            bar.set_postfix(shown)
        if step + 1 in record_at:
            for kind, (G, *_) in nets.items():
                with autograd.no_grad():
                    samples = G(z_fixed).numpy()
                history[kind].append([step + 1, *mode_stats(samples, args.dataset)])
                snapshots[kind].append(samples[:600])
            shown |= {f'{kind}_modes': history[kind][-1][1] for kind in CONFIG}
    train_seconds = time.time() - start
    step = end
    minigen.save({kind: [m.state_dict() for m in modules] for kind, modules in nets.items()}
                 | {'step': step, 'rng': autograd.backend.get_rng_state(), 'width': width,
                    'dataset': args.dataset, 'history': history,
                    'snapshots': {k: np.stack(v) for k, v in snapshots.items()}}, ckpt_path)

    lim = 1.2 * float(np.abs(data).max())
    grey = data[:1000]
    tiles = [draw_points(x, grey, lim, f'step {row[0]}: {row[1]} modes')
             for kind in CONFIG for x, row in zip(snapshots[kind], history[kind])]
    viz.save_image(np.stack(tiles), os.path.join(args.out, 'progress.png'),
                   nrow=len(history['gan']), scale=1, row_labels=list(CONFIG))
    with autograd.no_grad():
        final = {kind: G(z_fixed).numpy() for kind, (G, *_) in nets.items()}
    np.savez(os.path.join(args.out, 'samples.npz'), **final)
    tiles = [draw_points(final[kind], grey, lim, f'{kind}: {history[kind][-1][1]} modes, '
                         f'{history[kind][-1][2]:.0%} near one', size=300) for kind in CONFIG]
    viz.save_image(np.stack(tiles), os.path.join(args.out, 'samples.png'), nrow=len(tiles),
                   scale=1)
    viz.save_curves({kind: ([r[0] for r in history[kind]], [r[1] for r in history[kind]])
                     for kind in CONFIG}, os.path.join(args.out, 'modes.png'),
                    title=f'modes covered of {len(modes(args.dataset))}', ylabel='modes')
    metrics = {'settings': vars(args) | {'steps': steps, 'batch_size': batch_size,
                                         'width': width, 'config': CONFIG},
               'step': step, 'train_seconds': round(train_seconds, 2),
               'modes_total': len(modes(args.dataset)),
               **{f'{kind}_final_losses': {'L_D': d, 'L_G': g} for kind, (d, g) in losses.items()},
               **{f'{kind}_modes_covered': history[kind][-1][1] for kind in CONFIG},
               **{f'{kind}_fraction_within_3_sigma': round(history[kind][-1][2], 4)
                  for kind in CONFIG},
               'history': history}
    return write_metrics(args.out, metrics, hide=('settings', 'history'))


if __name__ == '__main__':
    main()
