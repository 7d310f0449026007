"""CycleGAN on two unpaired tasks: warm <-> cool shapes, and MNIST digits <-> their inverses.

Zhu, Park, Isola & Efros 2017, "Unpaired Image-to-Image Translation using Cycle-Consistent
Adversarial Networks" (arXiv:1703.10593; minigen/gans/cyclegan.py): G: X -> Y and F: Y -> X
against D_Y and D_X, least-squares GAN losses, the history pool of 50 fakes and
    L = L_GAN(G, D_Y) + L_GAN(F, D_X) + lambda L_cyc + 0.5 lambda L_identity,  lambda = 10,
one G step (both generators) then one D step (both discriminators, losses halved), Adam with
betas (0.5, 0.999), the learning rate constant for half the steps then linearly down to 0
(as the paper's 100 + 100 epochs; the quick preset takes 1e-3, not the paper's 2e-4, to fit
its minutes). No image of X is paired with one of Y: each domain is drawn on its own.

    shapes  X: single shapes in a warm colour (red, orange, yellow), Y: another draw in a cool
            one (green, cyan, blue), plain backgrounds; shape, size and position should
            survive the trip.
    mnist   X: the first n_train training digits, Y: n_train others (from the end of the
            8,000) inverted (1 - x); padded to 32 x 32 for the U-Net, cropped back to 28
            for the classifier.

Held out, both directions: cycle SSIM(x, F(G(x))); on shapes, the project's shapes classifier
(minigen.metrics, four heads) reads G(x) and x: shape, size and position kept (each, and all
three), the colour moved into the other family, and the joint rate (all four); on MNIST, the
digit classifier reads 1 - G(x) (and F(y)) against the label. Steganography check (Chu et al.
2017, arXiv:1712.02950): if F reads the input back from faint detail hidden in G(x), a small
change of G(x) (Gaussian noise sigma 0.02, 8-bit quantisation, a [1 2 1]/4 blur) undoes the
cycle: we report the cycle SSIM and the source colour / digit F recovers under each.

    python -m demos.cyclegan [--task shapes|mnist] [--preset quick|full] [--steps N]
        [--batch-size B] [--ngf W] [--ndf W] [--n-train N] [--n-held N] [--device cpu|cuda]
        [--checkpoint-every N] [--seed S] [--out out/cyclegan] [--resume]

Writes to --out: translations.png (rows x, G(x), F(G(x)), y, F(y), G(F(y))), steganography.png,
loss.png, samples.npy (G(x) on the held-out x, (N, C, H, W) in [0, 1]), metrics.json and
checkpoint.npz (which --resume continues).
"""
import argparse
import os
import time

import numpy as np

import autograd
from minigen import metrics as mm, viz
from minigen.data.shapes import COLORS, make_shapes
from minigen.gans.cyclegan import CycleGAN
from minigen.optim import Adam

from demos.conventions import (TrainingCheckpoints, add_run_arguments, count,
                               in_batches, load_image_dataset, parse_run_args, positive_int,
                               resolve_preset, write_metrics, write_samples)

PRESETS = {'quick': dict(steps=3000, batch_size=8, ngf=16, ndf=16, lr=1e-3, betas=(0.5, 0.999),
                         lam=10.0, n_train=2000, n_held=500, checkpoint_every=250,
                         mnist=dict(steps=1000)),
           'full': dict(steps=20000, batch_size=16, ngf=64, ndf=64, lr=2e-4, betas=(0.5, 0.999),
                        lam=10.0, n_train=4000, n_held=1000, checkpoint_every=1000)}
WARM, COOL = ('red', 'orange', 'yellow'), ('green', 'cyan', 'blue')
KEPT = ('shape', 'size', 'position')
SIZE = 32


def parse_args(argv):
    """The flags (a flag named like a preset key overrides it) and the run's settings."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--dataset', '--task', dest='dataset', choices=('shapes', 'mnist'),
                    default='shapes', help='the unpaired task: warm <-> cool shapes, or MNIST '
                                           'digits <-> inverted digits')
    ap.add_argument('--steps', type=count, help='training steps in this run (preset default)')
    ap.add_argument('--batch-size', type=positive_int)
    ap.add_argument('--ngf', type=positive_int, help="the generators' width (preset default)")
    ap.add_argument('--ndf', type=positive_int, help="the discriminators' width")
    ap.add_argument('--n-train', type=positive_int, help='training images of each domain')
    ap.add_argument('--n-held', type=positive_int, help='held-out images of each domain')
    add_run_arguments(ap, 'cyclegan', PRESETS, checkpoints=True)
    args = parse_run_args(ap, argv, steps_zero_means='evaluate a saved run again')
    return args, resolve_preset(args, PRESETS)


def colour_family(n, family, seed):
    """n single-object shapes images whose colour is one of `family` (names): make_shapes'
    draws of those colours. Returns (images (n, 3, 32, 32) in [0, 1], attrs)."""
    keep = [COLORS.index(c) for c in family]
    d = make_shapes(int(1.5 * n * len(COLORS) / len(family)) + 64, size=SIZE, seed=seed,
                    texture=0.0)
    i = np.flatnonzero(np.isin(d.attrs['color'], keep))[:n]
    return d.images[i], {k: v[i] for k, v in d.attrs.items()}


def load_task(task, n_train, n_held, seed):
    """(x, y, held_x, held_y, labels of held_x, labels of held_y), images in [0, 1]."""
    if task == 'shapes':
        (x, _), (y, _) = colour_family(n_train, WARM, seed), colour_family(n_train, COOL, seed + 1)
        (hx, ax), (hy, ay) = (colour_family(n_held, WARM, seed + 12345),
                              colour_family(n_held, COOL, seed + 12346))
        return x, y, hx, hy, ax, ay
    d = load_image_dataset('mnist', n_held=2 * min(n_held, 1000), demo='cyclegan')
    pad = lambda a: np.pad(a, ((0, 0), (0, 0), (2, 2), (2, 2)))   # 28 -> 32 px, black border
    half, hh = min(n_train, len(d.train) // 2), len(d.held) // 2
    return (pad(d.train[:half]), 1 - pad(d.train[-half:]), pad(d.held[:hh]),
            1 - pad(d.held[hh:]), d.held_labels[:hh], d.held_labels[hh:])


def perturbations(a, rng):
    """Small changes of images a in [0, 1]: Gaussian noise, 8-bit quantisation, a blur."""
    b = np.pad(a, ((0, 0), (0, 0), (1, 1), (1, 1)), mode='edge')
    b = (b[:, :, :-2] + 2 * b[:, :, 1:-1] + b[:, :, 2:]) / 4            # [1 2 1]/4 in y,
    b = (b[..., :-2] + 2 * b[..., 1:-1] + b[..., 2:]) / 4               # then in x
    return {'noise_0.02': np.clip(a + 0.02 * rng.standard_normal(a.shape), 0, 1),
            'quantise_8bit': np.round(a * 255) / 255, 'blur_121': b}


LABELS = {'noise_0.02': 'F(G(x) + noise)', 'quantise_8bit': 'F(8-bit G(x))',
          'blur_121': 'F(blurred G(x))'}


def read(task, images):
    """The project's classifier's labels of images in [0, 1]: the four shapes heads, or the
    digit of a (cropped) dark-background MNIST image."""
    if task == 'shapes':
        return {k: v.argmax(1) for k, v in mm.load_feature_net('shapes').logits(images).items()}
    return {'digit': mm.load_feature_net('mnist').predict(images[:, :, 2:-2, 2:-2])}


def evaluate(task, translate, x, held_labels, rng, direction):
    """One direction's held-out figures; translate(name, images) runs 'G' or 'F' in [0, 1]."""
    there, back = ('G', 'F') if direction == 'x_to_y' else ('F', 'G')
    fake = translate(there, x)
    out = {'cycle_ssim': mm.ssim(x, translate(back, fake))}
    if task == 'shapes':
        rx, rf = read(task, x), read(task, fake)
        other = [COLORS.index(c) for c in (COOL if direction == 'x_to_y' else WARM)]
        hits = {a: rf[a] == rx[a] for a in KEPT} | {'colour_moved': np.isin(rf['color'], other)}
        hits['shape_size_position'] = hits['shape'] & hits['size'] & hits['position']
        hits['joint'] = hits['shape_size_position'] & hits['colour_moved']
        source = lambda images: read(task, images)['color'] == rx['color']
    else:
        digit = lambda images, inverted: read(task, 1 - images if inverted else images)['digit']
        hits = {'digit_kept': digit(fake, direction == 'x_to_y') == held_labels}
        source = lambda images: digit(images, direction == 'y_to_x') == held_labels
    out |= {k: float(v.mean()) for k, v in hits.items()}
    out['source_recovered'] = {'clean': float(source(translate(back, fake)).mean())}
    for name, moved in perturbations(fake, rng).items():   # steganography check
        rec = translate(back, moved.astype(np.float32))
        out['cycle_ssim_' + name] = mm.ssim(x, rec)
        out['perturbation_ssim_' + name] = mm.ssim(fake, moved)   # how small the change is
        out['source_recovered'][name] = float(source(rec).mean())
    return out, fake


def main(argv=None):
    args, hp = parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    autograd.manual_seed(args.seed)
    x_np, y_np, held_x, held_y, labels_x, labels_y = load_task(args.dataset, hp['n_train'],
                                                               hp['n_held'], args.seed)
    x, y = (autograd.tensor(a * 2 - 1, device=args.device) for a in (x_np, y_np))  # tanh range
    c = x_np.shape[1]
    model = CycleGAN(c, c, SIZE, hp['ngf'], hp['ndf'], lam=hp['lam'], seed=args.seed)
    model.to(args.device)
    opt_g = Adam(list(model.G.parameters()) + list(model.F.parameters()), lr=hp['lr'],
                 betas=hp['betas'])
    opt_d = Adam(list(model.D_X.parameters()) + list(model.D_Y.parameters()), lr=hp['lr'],
                 betas=hp['betas'])
    state = {'model': model, 'pool_x': model.pool_x, 'pool_y': model.pool_y, 'opt_g': opt_g,
             'opt_d': opt_d}
    config = {'task': args.dataset, 'ngf': hp['ngf'], 'ndf': hp['ndf'], 'n_train': hp['n_train'],
              'lam': hp['lam']}
    run = TrainingCheckpoints(args, 'cyclegan', config, state, hp['checkpoint_every'],
                              extra=lambda: {'losses': np.array(losses)})
    start, saved = run.resume()
    losses = [list(r) for r in saved.get('losses', [])]  # [L_D, L_GAN, L_cyc, L_identity]

    end, tick = run.end(start, hp['steps'], saved), time.time()
    with run:
        bar = viz.progress(range(start, end), 'train')
        for step in bar:
            for group in opt_g.param_groups + opt_d.param_groups:  # constant, then linear to 0
                group['lr'] = hp['lr'] * min(1.0, 2 * (end - step) / end)
            xb = x[autograd.randint(0, len(x_np), (hp['batch_size'],), device=args.device)]
            yb = y[autograd.randint(0, len(y_np), (hp['batch_size'],), device=args.device)]
            total, terms, fake_x, fake_y = model.generator_objective(xb, yb)
            opt_g.zero_grad()
            total.backward()
            opt_g.step()
            d_loss = model.discriminator_objective(xb, yb, fake_x, fake_y)  # pools detach
            opt_d.zero_grad()
            d_loss.backward()
            opt_d.step()
            losses.append([d_loss.item()] + [terms[k].item() for k in ('gan', 'cycle',
                                                                      'identity')])
            if step % 20 == 0:
                bar.set_postfix(d=f'{losses[-1][0]:.3f}', cyc=f'{losses[-1][2]:.3f}')
            run.step_done(step + 1)
    train_seconds = time.time() - tick
    run.save(end)

    nets = {'G': model.G, 'F': model.F}
    translate = lambda name, a: np.clip((in_batches(nets[name], a * 2 - 1, args.device) + 1)
                                        / 2, 0, 1).astype(np.float32)
    rng = np.random.default_rng(args.seed)
    x_to_y, fake_y = evaluate(args.dataset, translate, held_x, labels_x, rng, 'x_to_y')
    y_to_x, fake_x = evaluate(args.dataset, translate, held_y, labels_y, rng, 'y_to_x')
    write_samples(args.out, fake_y if c == 3 else fake_y[:, :, 2:-2, 2:-2], 'cyclegan')
    k = 8
    rows = [held_x[:k], fake_y[:k], translate('F', fake_y[:k]), held_y[:k], fake_x[:k],
            translate('G', fake_x[:k])]
    viz.save_image(np.concatenate(rows), os.path.join(args.out, 'translations.png'), nrow=k,
                   row_labels=['x', 'G(x)', 'F(G(x))', 'y', 'F(y)', 'G(F(y))'])
    moved = perturbations(fake_y[:k], np.random.default_rng(args.seed))
    steg = [held_x[:k], rows[2]] + [translate('F', m.astype(np.float32)) for m in moved.values()]
    viz.save_image(np.concatenate(steg), os.path.join(args.out, 'steganography.png'), nrow=k,
                   row_labels=['x', 'F(G(x))'] + [LABELS[m] for m in moved])
    curves = np.array(losses)
    viz.save_curves({'L_D': curves[:, 0], 'L_GAN': curves[:, 1], 'L_cyc': curves[:, 2],
                     'L_identity': curves[:, 3]}, os.path.join(args.out, 'loss.png'),
                    log_y=True, title=f'CycleGAN on {args.dataset}')
    metrics = {'settings': vars(args) | hp, 'step': end, 'train_seconds': round(train_seconds, 2),
               'parameters': {'G': sum(q.data.size for q in model.G.parameters()),
                              'D_Y': sum(q.data.size for q in model.D_Y.parameters())},
               'held_out_per_domain': len(held_x),
               'final_losses': dict(zip(('d', 'gan', 'cycle', 'identity'),
                                        curves[-50:].mean(0).tolist())),
               'x_to_y': x_to_y, 'y_to_x': y_to_x,   # and pooled (as many held out each way):
               'both': {k: (v + y_to_x[k]) / 2 for k, v in x_to_y.items() if np.isscalar(v)}}
    return write_metrics(args.out, metrics)


if __name__ == '__main__':
    main()
