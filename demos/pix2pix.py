"""pix2pix on shapes: colour-coded outlines to filled shapes, cGAN + L1 against L1 alone.

Isola et al. 2017, "Image-to-Image Translation with Conditional Adversarial Networks"
(arXiv:1611.07004; minigen/gans/pix2pix.py): a U-Net G and a 16-pixel PatchGAN D on
(input, output) pairs play
    G* = arg min_G max_D L_cGAN(G, D) + lambda E ||y - G(x)||_1,   lambda = 100,
one D step (its loss halved) then one G step, Adam 2e-4 (0.5, 0.999). A second U-Net of
the same size trains on the same batches with lambda L1 alone (no D): the baseline that
shows what the adversarial term adds.

The paired task is drawn procedurally (minigen/data/shapes.py, plain backgrounds): the
target y is a shapes image; the input x is its outline (the silhouette's boundary) drawn
in the object's own colour on the image's background, so the input carries the colour
and G has to fill the shape. On held-out pairs: L1, PSNR and SSIM of G(x) against y, and
edge sharpness, the mean squared image gradient of G(x) over that of y (a blurred edge
spreads its jump J over k pixels, so its squared gradient J^2 / k falls: 1 is as sharp
as the target, lower is blurrier).

    python -m demos.pix2pix [--preset quick|full] [--dataset shapes] [--steps N]
        [--batch-size B] [--ngf W] [--ndf W] [--n-train N] [--n-held N] [--device cpu|cuda]
        [--checkpoint-every N] [--seed S] [--out out/pix2pix] [--resume]

Writes to --out: triples.png (held-out rows: input, cGAN + L1, L1 only, target), loss.png,
samples.npy (the cGAN + L1 outputs on the held-out inputs, (N, 3, 32, 32) in [0, 1]),
metrics.json and checkpoint.npz (which --resume continues).
"""
import argparse
import os
import time

import numpy as np

import autograd
from minigen import viz
from minigen.data.shapes import make_shapes
from minigen.gans.pix2pix import (PatchDiscriminator, UNetGenerator, discriminator_objective,
                                  generator_objective)
from minigen.optim import Adam

from demos.conventions import (TrainingCheckpoints, add_run_arguments, count, in_batches,
                               parse_run_args, positive_int, reconstruction_quality,
                               resolve_preset, write_metrics, write_samples)

PRESETS = {'quick': dict(steps=1200, batch_size=16, ngf=32, ndf=32, lr=2e-4, betas=(0.5, 0.999),
                         lam=100.0, n_train=4000, n_held=500, checkpoint_every=200),
           'full': dict(steps=8000, batch_size=32, ngf=64, ndf=64, lr=2e-4, betas=(0.5, 0.999),
                        lam=100.0, n_train=20000, n_held=2000, checkpoint_every=1000)}
SIZE = 32


def parse_args(argv):
    """The flags (a flag named like a preset key overrides it) and the run's settings."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--steps', type=count, help='training steps in this run (preset default)')
    ap.add_argument('--batch-size', type=positive_int)
    ap.add_argument('--ngf', type=positive_int, help="G's width (preset default)")
    ap.add_argument('--ndf', type=positive_int, help="D's width (preset default)")
    ap.add_argument('--n-train', type=positive_int, help='training pairs (preset default)')
    ap.add_argument('--n-held', type=positive_int, help='held-out pairs (preset default)')
    add_run_arguments(ap, 'pix2pix', PRESETS, datasets=('shapes',), checkpoints=True)
    args = parse_run_args(ap, argv, steps_zero_means='evaluate a saved run again')
    return args, resolve_preset(args, PRESETS)


def outline_pairs(n, seed):
    """(x, y) in [0, 1], (n, 3, 32, 32): y a shapes image on a plain background, x its
    outline in the image's own colours (outline pixels of y) on that background."""
    d = make_shapes(n, size=SIZE, seed=seed, texture=0.0, with_masks=True)
    empty = d.masks == 0                                            # background pixels
    background = (d.images * empty).sum((2, 3), keepdims=True) / empty.sum((2, 3), keepdims=True)
    x = d.outlines * d.images + (1 - d.outlines) * background
    return x.astype(np.float32), d.images


def edge_sharpness(output, target):
    """mean |grad output|^2 / mean |grad target|^2, forward differences in x and y."""
    def energy(a):
        return (np.diff(a, axis=2) ** 2).mean() + (np.diff(a, axis=3) ** 2).mean()
    return float(energy(output) / energy(target))


def main(argv=None):
    args, hp = parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    autograd.manual_seed(args.seed)
    x_np, y_np = outline_pairs(hp['n_train'], args.seed)
    held_x, held_y = outline_pairs(hp['n_held'], args.seed + 12345)
    x = autograd.tensor(x_np * 2 - 1, device=args.device)   # tanh's range, [-1, 1]
    y = autograd.tensor(y_np * 2 - 1, device=args.device)
    G, G_l1 = (UNetGenerator(3, 3, 4, hp['ngf'], image_size=SIZE).to(args.device)
               for _ in range(2))
    D = PatchDiscriminator(3, 3, hp['ndf'], n_layers=1).to(args.device)
    opt_g, opt_l1, opt_d = (Adam(m.parameters(), lr=hp['lr'], betas=hp['betas'])
                            for m in (G, G_l1, D))
    state = {'G': G, 'G_l1': G_l1, 'D': D, 'opt_g': opt_g, 'opt_l1': opt_l1, 'opt_d': opt_d}
    config = {'ngf': hp['ngf'], 'ndf': hp['ndf'], 'n_train': hp['n_train'], 'lam': hp['lam']}
    run = TrainingCheckpoints(args, 'pix2pix', config, state, hp['checkpoint_every'],
                              extra=lambda: {'losses': np.array(losses)})
    start, saved = run.resume()
    losses = [list(r) for r in saved.get('losses', [])]  # [L_D, L_GAN, L1, L1 of G_l1]

    # train: one D step, one G step (cGAN + lambda L1), one step of the L1-only G
    end, tick = run.end(start, hp['steps'], saved), time.time()
    with run:
        bar = viz.progress(range(start, end), 'train')
        for step in bar:
            i = autograd.randint(0, len(x_np), (hp['batch_size'],), device=args.device)
            xb, yb = x[i], y[i]
            fake = G(xb)
            d_loss = discriminator_objective(D, xb, yb, fake)
            opt_d.zero_grad()
            d_loss.backward()
            opt_d.step()
            total, gan, l1 = generator_objective(D, xb, yb, fake, lam=hp['lam'])
            opt_g.zero_grad()
            total.backward()
            opt_g.step()
            l1_only = (G_l1(xb) - yb).abs().mean()
            opt_l1.zero_grad()
            (hp['lam'] * l1_only).backward()
            opt_l1.step()
            losses.append([d_loss.item(), gan.item(), l1.item(), l1_only.item()])
            if step % 20 == 0:
                bar.set_postfix(d=f'{d_loss.item():.3f}', l1=f'{l1.item():.3f}',
                                l1_only=f'{l1_only.item():.3f}')
            run.step_done(step + 1)
    train_seconds = time.time() - tick
    run.save(end)

    # held-out pairs: both generators (dropout on, as the paper tests), in [0, 1]
    G.eval(), G_l1.eval()
    outputs = {name: np.clip((in_batches(g, held_x * 2 - 1, args.device) + 1) / 2, 0, 1)
               for name, g in (('gan_l1', G), ('l1_only', G_l1))}
    quality = {name: reconstruction_quality(held_y, out) | {
                   'l1': float(np.abs(out - held_y).mean()),
                   'edge_sharpness': edge_sharpness(out, held_y)}
               for name, out in outputs.items()}
    write_samples(args.out, outputs['gan_l1'], 'pix2pix')
    rows = np.concatenate([held_x[:8], outputs['gan_l1'][:8], outputs['l1_only'][:8],
                           held_y[:8]])
    viz.save_image(rows, os.path.join(args.out, 'triples.png'), nrow=8,
                   row_labels=['input', 'cGAN + L1', 'L1 only', 'target'])
    curves = np.array(losses)
    viz.save_curves({'L1 (cGAN + L1)': curves[:, 2], 'L1 (L1 only)': curves[:, 3],
                     'L_D': curves[:, 0]}, os.path.join(args.out, 'loss.png'), log_y=True,
                    title='pix2pix on shapes outlines')
    metrics = {'settings': vars(args) | hp, 'step': end, 'train_seconds': round(train_seconds, 2),
               'parameters': {'G': sum(q.data.size for q in G.parameters()),
                              'D': sum(q.data.size for q in D.parameters())},
               'held_out_pairs': len(held_y),
               'final_losses': dict(zip(('d', 'gan', 'l1', 'l1_only'),
                                        curves[-50:].mean(0).tolist())),
               **quality}
    return write_metrics(args.out, metrics)


if __name__ == '__main__':
    main()
