"""DCGAN on MNIST (or the procedural shapes): samples over training, latent interpolations
and the FID / KID / IS / precision / recall / confident-share trajectory.

Radford, Metz & Chintala 2015, "Unsupervised Representation Learning with Deep
Convolutional Generative Adversarial Networks" (arXiv:1511.06434): a generator of
transposed convolutions with batch norm and ReLU (Tanh out) against a discriminator of
strided convolutions with leaky ReLU(0.2), weights ~ N(0, 0.02), Adam lr 2e-4, beta1 0.5,
batch 64, images scaled to [-1, 1] (minigen/gans/dcgan.py). They play the GAN game of
Goodfellow et al. 2014 (arXiv:1406.2661) with the non-saturating generator loss:

    L_D = -E_x log D(x) - E_z log(1 - D(G(z))),     L_G = -E_z log D(G(z)),

one D step on real and detached fake images, then one G step, alternately (--loss hinge:
D minimises E relu(1 - D(x)) + E relu(1 + D(G(z))), G minimises -E D(G(z))).
The recipe's other knobs are flags: --lr-d, D's own learning rate (the two time-scale
update rule, Heusel et al. 2017, arXiv:1706.08500); --lr-decay F, both learning rates
falling linearly to 0 over the last F of the run; --label-smoothing S, D's target 1 - S
for real images (one-sided, Salimans et al. 2016, arXiv:1606.03498). Off in the presets:
from the quick run's step 1,200 neither moved the confident share at step 2,000 (0.56)
beyond its noise (demos/README.md). A wider G did: the quick preset's ngf is 48 (0.61
confident at 2,400 steps, against 0.54-0.56 with 32).
Every picture and metric samples from an exponential moving average of G's weights
(minigen/optim/ema.py, warmed up; decay 0.995 in the quick preset), which the checkpoint
keeps. The quick preset trains at Adam lr 1e-3 (betas 0.5, 0.999) rather than the paper's
2e-4: at 800 steps that took the samples from 29% to 46% confident (probes in
demos/README.md), and 2,400 steps still fit the CPU budget.
MNIST here is the 10,000-digit test set (all there is in shared/data/mnist): the first
8,000 train, the last 2,000 are the real set the metrics compare samples with. Without
it the demo falls back to --dataset shapes (3 x 32 x 32) and says so. --dataset shapes
draws the shapes at 16 x 16 in the quick preset, large objects only (--sizes; a small one
is 3-4 pixels across there), with ngf 64 and ndf 64 (32 x 32 and both sizes in the full
one); the shapes classifier reads them enlarged by pixel repetition.

    python -m demos.dcgan [--preset quick|full] [--dataset mnist|shapes] [--steps N]
        [--batch-size B] [--ngf W] [--ndf W] [--lr LR] [--lr-d LR] [--lr-decay F]
        [--label-smoothing S] [--loss nonsaturating|hinge] [--sizes small large]
        [--eval-samples N] [--device cpu|cuda] [--checkpoint-every N] [--seed S]
        [--out out/dcgan] [--resume]

Writes to --out: samples_<step>.png (64 fixed-noise samples at each evaluation),
samples.png (the last), progress.gif, interpolation.png (G along straight lines between
latent pairs), loss.png, metrics.png (FID and KID against step), precision_recall.png
(with the confident share: samples the classifier labels with p_max > 0.9),
samples.npy (the last evaluation's --eval-samples images, (N, C, H, W) in [0, 1], for
python -m demos.evaluate), metrics.json and checkpoint.npz (which --resume continues).
"""
import argparse
import os
import time

import numpy as np

import autograd
from minigen import viz
from minigen.data.shapes import SIZES
from minigen.gans import DCGANDiscriminator, DCGANGenerator
from minigen.gans.losses import discriminator_loss, generator_loss
from minigen.gans.sampling import interpolate, sample
from minigen.optim import EMA, Adam

from demos.conventions import (TrainingCheckpoints, add_run_arguments, count, gan_log,
                               gan_log_extra, load_image_dataset, parse_run_args, positive_float,
                               positive_int, resolve_preset, sample_quality, unit_float,
                               write_metrics, write_samples)

PRESETS = {'quick': dict(steps=2400, batch_size=64, ngf=48, ndf=32, lr=1e-3, lr_d=None,
                         betas=(0.5, 0.999), lr_decay=0.0, label_smoothing=0.0, ema=0.995,
                         size=None, sizes=None, evals=4, eval_samples=1000,
                         checkpoint_every=300,
                         shapes=dict(size=16, ngf=64, ndf=64, sizes=('large',))),
           'full': dict(steps=4000, batch_size=64, ngf=64, ndf=32, lr=2e-4, lr_d=None,
                        betas=(0.5, 0.999), lr_decay=0.0, label_smoothing=0.0, ema=0.999,
                        size=None, sizes=None, evals=8, eval_samples=2000,
                        checkpoint_every=500)}
Z_DIM = 100


def parse_args(argv):
    """The flags (a flag named like a preset key overrides it) and the run's settings."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--steps', type=count, help='training steps in this run (preset default)')
    ap.add_argument('--batch-size', type=positive_int)
    ap.add_argument('--ngf', type=positive_int, help="G's width (preset default)")
    ap.add_argument('--ndf', type=positive_int, help="D's width (preset default)")
    ap.add_argument('--eval-samples', type=positive_int,
                    help='samples per evaluation, and in samples.npy (preset default)')
    ap.add_argument('--lr', type=positive_float, help="G's Adam learning rate (and D's)")
    ap.add_argument('--lr-d', type=positive_float, help="D's, if not --lr's (TTUR)")
    ap.add_argument('--lr-decay', type=unit_float, metavar='F',
                    help='both learning rates fall linearly to 0 over the last F of the run')
    ap.add_argument('--label-smoothing', type=unit_float, metavar='S',
                    help="one-sided: D's target for real images is 1 - S (S < 0.5)")
    ap.add_argument('--loss', choices=('nonsaturating', 'hinge'), default='nonsaturating')
    ap.add_argument('--sizes', nargs='+', choices=SIZES,
                    help='shapes object sizes to train on (quick: large only, legible at 16x16)')
    add_run_arguments(ap, 'dcgan', PRESETS, datasets=('mnist', 'shapes'), checkpoints=True)
    args = parse_run_args(ap, argv)
    hp = resolve_preset(args, PRESETS)
    if (hp['steps'] == 0 and not args.resume) or hp['eval_samples'] < 4:
        ap.error('--steps must be >= 1 (0 with --resume evaluates the saved run again) and '
                 '--eval-samples >= 4')
    if hp['lr_decay'] == 1 or hp['label_smoothing'] >= 0.5:
        ap.error('--lr-decay must be below 1 and --label-smoothing below 0.5')
    if hp['label_smoothing'] and args.loss == 'hinge':
        ap.error('--label-smoothing is for the non-saturating loss, not --loss hinge')
    hp['lr_d'] = hp['lr_d'] or hp['lr']
    return args, hp


def lr_scale(step, end, fraction):
    """The learning rates' factor at `step` of a run ending at `end`: 1, then over the last
    `fraction` of the run a straight line down to 0 at `end` (a function of the step alone,
    so --resume continues it)."""
    decay_steps = fraction * end
    return min(1.0, (end - step) / decay_steps) if decay_steps else 1.0


def train(G, D, opt_g, opt_d, ema, x, hp, loss, steps, evaluate_at, evaluate, losses, run,
          device):
    """The GAN game over `steps`: one D step on a real batch and a detached fake batch,
    then one G step and the EMA update; evaluate(step) after each step in `evaluate_at`.
    The losses [L_D, L_G] of each step go to `losses`; checkpointed by `run`."""
    bar = viz.progress(steps, 'train')
    for step in bar:
        scale = lr_scale(step, steps.stop, hp['lr_decay'])
        for opt, lr in ((opt_g, hp['lr']), (opt_d, hp['lr_d'])):
            for group in opt.param_groups:
                group['lr'] = lr * scale
        real = x[autograd.randint(0, len(x), (hp['batch_size'],), device=device)]
        fake = G(autograd.randn(hp['batch_size'], Z_DIM, device=device))
        d_loss = discriminator_loss(D(real), D(fake.detach()), loss, hp['label_smoothing'])
        opt_d.zero_grad()
        d_loss.backward()
        opt_d.step()
        g_loss = generator_loss(D(fake), loss)
        opt_g.zero_grad()
        g_loss.backward()
        opt_g.step()
        ema.update()
        losses.append([d_loss.item(), g_loss.item()])
        if step % 20 == 0:
            bar.set_postfix(d=f'{d_loss.item():.3f}', g=f'{g_loss.item():.3f}')
        if step + 1 in evaluate_at:
            evaluate(step + 1)
        run.step_done(step + 1)


def evaluate(G, ema, z_fixed, z_eval, real, dataset, step, log, out):
    """At `step`: the EMA generator's fixed-noise grid (samples_<step>.png, kept for
    progress.gif) and the quality of its samples for z_eval against the real images
    (conventions.sample_quality: FID, KID, IS, precision, recall, confident fraction);
    returns those samples."""
    tick = time.time()
    if log['trajectory'] and log['trajectory'][-1]['step'] == step:  # --steps 0 --resume
        log['trajectory'].pop(), log['grids'].pop()                   # evaluates again
    with ema.average_parameters():
        grid = sample(G, z_fixed)
        began = time.time()
        images = sample(G, z_eval)
        log['sample_seconds_per_image'] = (time.time() - began) / len(images)
    viz.save_image(grid, os.path.join(out, f'samples_{step:06d}.png'))
    log['grids'].append(np.round(grid * 255).astype(np.uint8))
    log['trajectory'].append({'step': step} | sample_quality(images, real, dataset))
    log['eval_seconds'] += time.time() - tick
    return images


def draw(G, ema, z_fixed, log, out, dataset, n_eval, n_real):
    """samples.png, progress.gif, interpolation.png (8 pairs of latents), loss.png, and the
    trajectory of the metrics: metrics.png (FID, KID) and precision_recall.png; the
    pictures of G are the EMA generator's."""
    with ema.average_parameters():
        viz.save_image(sample(G, z_fixed), os.path.join(out, 'samples.png'))
        viz.save_interpolation(interpolate(G, z_fixed[:8], z_fixed[8:16]),
                               os.path.join(out, 'interpolation.png'))
    steps = [r['step'] for r in log['trajectory']]
    viz.save_gif([g / 255 for g in log['grids']], os.path.join(out, 'progress.gif'),
                 duration=500, frame_labels=[f'step {s}' for s in steps])
    losses = np.array(log['losses'])
    viz.save_curves({'L_D': losses[:, 0], 'L_G': losses[:, 1]}, os.path.join(out, 'loss.png'),
                    title=f'DCGAN on {dataset}')
    curve = {k: (steps, [r[k] for r in log['trajectory']])
             for k in ('fid', 'kid', 'precision', 'recall', 'confident_fraction')}
    viz.save_curves({k: curve[k] for k in ('fid', 'kid')}, os.path.join(out, 'metrics.png'),
                    log_y=True, ylabel='distance',
                    title=f'classifier FID / KID ({n_eval} samples vs {n_real} real)')
    viz.save_curves({k: curve[k] for k in ('precision', 'recall', 'confident_fraction')},
                    os.path.join(out, 'precision_recall.png'), ylabel='share',
                    title='precision, recall (k = 3), confident share (p_max > 0.9)')


def main(argv=None):
    args, hp = parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    autograd.manual_seed(args.seed)
    data = load_image_dataset(args.dataset, size=hp['size'], seed=args.seed, demo='dcgan',
                              fallback=True, shapes_sizes=hp['sizes'])
    real = data.held[:hp['eval_samples']]
    x = autograd.tensor(data.train * 2 - 1, device=args.device)  # Tanh's range, [-1, 1]
    channels, size = data.train.shape[1:3]
    G = DCGANGenerator(Z_DIM, size, channels, ngf=hp['ngf']).to(args.device)
    D = DCGANDiscriminator(size, channels, ndf=hp['ndf'], norm='batch').to(args.device)
    opt_g = Adam(G.parameters(), lr=hp['lr'], betas=hp['betas'])
    opt_d = Adam(D.parameters(), lr=hp['lr_d'], betas=hp['betas'])
    ema = EMA(G, decay=hp['ema'])  # the averaged weights every picture and metric use
    z_fixed = autograd.randn(64, Z_DIM, device=args.device)                # the grids' noise
    z_eval = autograd.randn(hp['eval_samples'], Z_DIM, device=args.device)  # the metrics'
    state = {'G': G, 'D': D, 'opt_g': opt_g, 'opt_d': opt_d, 'ema': ema}
    config = {'dataset': data.name, 'size': size, 'ngf': hp['ngf'], 'ndf': hp['ndf'],
              'sizes': hp['sizes'] if data.name == 'shapes' else None}
    run = TrainingCheckpoints(args, 'dcgan', config, state, hp['checkpoint_every'],
                              extra=lambda: gan_log_extra(log))
    start, saved = run.resume()
    log = gan_log(saved)

    # train, evaluating at `evals` evenly spaced steps up to the end, then at the end
    end, tick = run.end(start, hp['steps'], saved), time.time()
    evaluate_at = {round(end * (i + 1) / hp['evals']) for i in range(hp['evals'])}
    run_eval = lambda step: evaluate(G, ema, z_fixed, z_eval, real, data.name, step, log, args.out)
    with run:
        train(G, D, opt_g, opt_d, ema, x, hp, args.loss, range(start, end),
              evaluate_at - {end}, run_eval, log['losses'], run, args.device)
    train_seconds = time.time() - tick - log['eval_seconds']
    samples = run_eval(end)
    run.save(end)

    # sample, draw, report
    write_samples(args.out, samples, 'dcgan')
    draw(G, ema, z_fixed, log, args.out, data.name, len(samples), len(real))
    losses = np.array(log['losses'])
    metrics = {'settings': vars(args) | hp, 'dataset': data.name, 'step': end,
               'train_seconds': round(train_seconds, 2),
               'eval_seconds': round(log['eval_seconds'], 2),
               'sample_seconds_per_image': log['sample_seconds_per_image'],
               'parameters': {'G': sum(q.data.size for q in G.parameters()),
                              'D': sum(q.data.size for q in D.parameters())},
               'final_d_loss': float(losses[-50:, 0].mean()),
               'final_g_loss': float(losses[-50:, 1].mean()),
               'samples': len(samples), 'final': log['trajectory'][-1],
               'trajectory': log['trajectory']}
    return write_metrics(args.out, metrics, hide=('settings', 'trajectory'))


if __name__ == '__main__':
    main()
