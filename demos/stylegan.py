"""StyleGAN2 on MNIST or shapes at 16x16: samples, style mixing, truncation, noise inputs.

Karras, Laine & Aila 2019, "A Style-Based Generator Architecture for Generative Adversarial
Networks" (arXiv:1812.04948) and Karras et al. 2020, StyleGAN2 (arXiv:1912.04958): the
generator of minigen/gans/stylegan.py (w = f(z), a learned 4x4 constant, modulated and
demodulated convolutions, noise inputs, toRGB skips) against a DCGAN discriminator without
normalisation (minigen/gans/dcgan.py), trained with the non-saturating loss and lazy R1
(StyleGAN2 sec. 4, every k = --r1-every D steps, scaled by k):

    L_D = E softplus(-D(x)) + E softplus(D(G(z))) + [step % k == 0] k gamma/2 E ||grad_x D(x)||^2
    L_G = E softplus(-D(G(z))),   style mixing with probability p while training,

noise strengths B learnt at 1/100 of the rate (--noise-lr 0.01: at the full rate G paints
per-pixel speckle), Adam betas (0, 0.99), and an EMA of G's weights (minigen/optim/ema.py)
that every picture and metric samples from. The quick preset mixes styles with p = 0.5
(--mixing; the paper's 0.9, kept in the full preset, scored a little lower here). MNIST (the test
split: 8,000 train, 2,000 held out) is padded 28 -> 32 and 2x2-average-pooled to 16x16; for
the MNIST classifier the 16x16 images (samples and real alike) are enlarged 2x by pixel
repetition and the 2-px padding cropped, back to 28x28 (the path that keeps the most of the
real digits: 91% of them confident, against 82% through bilinear upsampling, whose figures
metrics.json keeps as `final_bilinear_path`); `confident_fraction_real` is the training
images' score through the same path (the floor).

    python -m demos.stylegan [--preset quick|full] [--dataset mnist|shapes] [--steps N]
        [--batch-size B] [--width W] [--ndf W] [--samples N] [--r1-gamma G] [--r1-every K]
        [--lr LR] [--lr-d LR] [--noise-lr M] [--mbstd G] [--mixing P]
        [--device cpu|cuda] [--checkpoint-every N] [--seed S] [--out out/stylegan] [--resume]

Writes to --out: samples.png (64 fixed z), progress.gif, style_mixing.png (cell (i, j):
coarse styles, 4x4 and 8x8, from row i's source, fine styles, 16x16, from column j's),
truncation.png and .npy (rows psi 1, 0.7, 0.5, 0), noise.png (per row one fixed w, 8 draws of the
noise inputs, then their per-pixel std), loss.png, samples.npy (--samples images; MNIST's
brought back to 28x28 as above, so demos.evaluate and demos.trilemma read them as digits),
metrics.json, checkpoint.npz.
"""
import argparse
import os
import time

import numpy as np

import autograd
from minigen import viz
import minigen.nn.functional as F
from minigen.gans import DCGANDiscriminator
from minigen.gans.losses import discriminator_loss, generator_loss, r1_penalty
from minigen.gans.sampling import sample
from minigen.gans.stylegan import StyleGANGenerator, mix_styles
from minigen.gans.stylegan_discriminator import MinibatchStdDiscriminator
from minigen.optim import EMA, Adam

from demos.conventions import (TrainingCheckpoints, add_run_arguments, count, gan_log,
                               gan_log_extra, halve, load_image_dataset, non_negative_float,
                               parse_run_args, positive_float, positive_int, resolve_preset,
                               sample_quality, unit_float, write_metrics, write_samples)

PRESETS = {'quick': dict(steps=7200, batch_size=16, width=32, ndf=64, lr=3e-3, lr_d=3e-3,
                         noise_lr=0.01, mbstd=4, r1_gamma=0.1, r1_every=4, mixing=0.5, ema=0.998,
                         samples=1000, evals=6, checkpoint_every=600),
           'full': dict(steps=20000, batch_size=64, width=128, ndf=64, lr=2e-3, lr_d=2e-3,
                        noise_lr=0.01, mbstd=4, r1_gamma=0.1, r1_every=16, mixing=0.9, ema=0.999,
                        samples=2000, evals=10, checkpoint_every=1000)}
Z_DIM = W_DIM = 64
SIZE = 16
PSIS = (1.0, 0.7, 0.5, 0.0)
MNIST_PATH = ('pad 28->32, 2x2 mean pool to 16; for the classifier pixel repetition 16->32, '
              'crop 28')


def parse_args(argv):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--steps', type=count, help='training steps (0 with --resume: sample again)')
    ap.add_argument('--batch-size', type=positive_int)
    ap.add_argument('--width', type=positive_int, help="G's channels per layer")
    ap.add_argument('--ndf', type=positive_int, help="D's first width")
    ap.add_argument('--samples', type=positive_int, help='samples in samples.npy and metrics')
    ap.add_argument('--r1-gamma', type=non_negative_float)
    ap.add_argument('--r1-every', type=positive_int, help='lazy R1: every K D steps')
    ap.add_argument('--lr', type=positive_float, help="G's Adam learning rate")
    ap.add_argument('--lr-d', type=positive_float, help="D's Adam learning rate")
    ap.add_argument('--noise-lr', type=non_negative_float,
                    help="lr multiplier of the noise strengths B (0: noise inputs off)")
    ap.add_argument('--mbstd', type=count, help="D's minibatch stddev group (0: none)")
    ap.add_argument('--mixing', type=unit_float, help='style mixing probability while training')
    ap.add_argument('--evals', type=positive_int, help='evaluations (the last at the end)')
    add_run_arguments(ap, 'stylegan', PRESETS, datasets=('mnist', 'shapes'), checkpoints=True)
    args = parse_run_args(ap, argv, steps_zero_means='sample the saved run again')
    hp = resolve_preset(args, PRESETS)
    if hp['samples'] < 4:
        ap.error('--samples must be >= 4')
    return args, hp


def load(dataset, seed):
    """(train, held) images (N, C, 16, 16) in [0, 1]: MNIST padded to 32 and 2x2-pooled."""
    if dataset == 'shapes':
        data = load_image_dataset('shapes', size=SIZE, seed=seed, demo='stylegan')
        return data.train, data.held
    data = load_image_dataset('mnist', demo='stylegan')
    pad = lambda x: np.pad(x, ((0, 0), (0, 0), (2, 2), (2, 2)))  # 28 -> 32
    return halve(pad(data.train)), halve(pad(data.held))


def for_classifier(images, dataset, mode='nearest'):
    """MNIST: 16 -> 32 (pixel repetition, or mode='bilinear') and the padding cropped: 28x28,
    as the classifier's digits."""
    if dataset != 'mnist':
        return images
    up = F.interpolate(autograd.tensor(np.asarray(images, np.float32)), size=(32, 32),
                       mode=mode).numpy()
    return np.clip(up[:, :, 2:30, 2:30], 0, 1)


def synth(G, ws, noise_mode='const'):
    """G.synthesis(ws) under no_grad in eval mode, as NumPy in [0, 1]."""
    G.eval()
    with autograd.no_grad():
        out = G.synthesis(ws, noise_mode).numpy()
    G.train()
    return np.clip((out + 1) / 2, 0, 1)


def train(G, D, opt_g, opt_d, ema, x, hp, steps, on_eval, losses, run):
    """One D step (non-saturating loss, lazy R1 every r1_every steps) on a real batch and a
    detached fake batch with mixed styles, then one G step and the EMA update."""
    bar, k = viz.progress(steps, 'train'), hp['r1_every']
    for step in bar:
        real = x[autograd.randint(0, len(x), (hp['batch_size'],), device=x.device)]
        fake = G(autograd.randn(hp['batch_size'], Z_DIM, device=x.device), mixing_prob=hp['mixing'])
        d_loss = discriminator_loss(D(real), D(fake.detach()), 'nonsaturating')
        r1 = r1_penalty(D, real, gamma=hp['r1_gamma']) if step % k == 0 else None
        opt_d.zero_grad()
        (d_loss if r1 is None else d_loss + r1 * k).backward()
        opt_d.step()
        g_loss = generator_loss(D(fake), 'nonsaturating')
        opt_g.zero_grad()
        g_loss.backward()
        opt_g.step()
        ema.update()
        losses.append([d_loss.item(), g_loss.item()])
        if step % 20 == 0:
            bar.set_postfix(d=f'{d_loss.item():.3f}', g=f'{g_loss.item():.3f}')
        on_eval(step + 1)
        run.step_done(step + 1)


def evaluate(G, ema, z_fixed, z_eval, real, floor, dataset, log):
    """The EMA generator's fixed-noise grid (kept for progress.gif) and samples for z_eval
    with their quality against the held-out real images; returns the samples."""
    with ema.average_parameters():
        log['grids'].append(np.round(sample(G, z_fixed) * 255).astype(np.uint8))
        began = time.time()
        images = sample(G, z_eval)
        log['sample_seconds_per_image'] = (time.time() - began) / len(images)
    q = sample_quality(for_classifier(images, dataset), for_classifier(real, dataset), dataset,
                       reference=for_classifier(floor, dataset))
    return images, q


def draw(G, ema, z_fixed, log, out, dataset):
    """samples.png, progress.gif, style_mixing.png, truncation.png, noise.png, loss.png."""
    n_ws, lay = G.num_ws, 3  # ws 0-2 drive the 4x4 and 8x8 layers (coarse), 3-5 the 16x16
    with ema.average_parameters():
        viz.save_image(sample(G, z_fixed), os.path.join(out, 'samples.png'))
        G.eval()
        with autograd.no_grad():
            w = G.mapping(z_fixed[:16])
        spread = lambda v: autograd.tensor(np.repeat(v[:, None], n_ws, axis=1))  # (N, n_ws, W)
        rows, cols = w.numpy()[:6], w.numpy()[8:14]   # coarse sources / fine sources
        grid = synth(G, mix_styles(spread(np.repeat(rows, 6, axis=0)),
                                   spread(np.tile(cols, (6, 1))), np.full(36, lay)))
        src_r, src_c = synth(G, spread(rows)), synth(G, spread(cols))
        cells = [np.zeros_like(src_c[0])] + list(src_c)
        for i in range(6):
            cells += [src_r[i]] + list(grid[6 * i:6 * i + 6])
        viz.save_image(np.stack(cells), os.path.join(out, 'style_mixing.png'), nrow=7)
        trunc = [synth(G, spread(G.truncate(w[:8], psi).numpy())) for psi in PSIS]
        np.save(os.path.join(out, 'truncation.npy'), np.stack(trunc))  # (psi, 8, C, H, W)
        viz.save_image(np.concatenate(trunc), os.path.join(out, 'truncation.png'),
                       row_labels=[f'psi {p:g}' for p in PSIS])
        ws = spread(w.numpy()[:4])
        draws = np.stack([synth(G, ws, 'random') for _ in range(32)], axis=1)  # (4, 32, ...)
        std = draws.std(axis=1, keepdims=True)
        noise = np.concatenate([draws[:, :8], std / max(std.max(), 1e-8)], axis=1)
        viz.save_image(noise.reshape(-1, *noise.shape[2:]), os.path.join(out, 'noise.png'), nrow=9)
    viz.save_gif([g / 255 for g in log['grids']], os.path.join(out, 'progress.gif'), duration=500,
                 frame_labels=[f'step {r["step"]}' for r in log['trajectory']])
    losses = np.array(log['losses'])
    viz.save_curves({'L_D': losses[:, 0], 'L_G': losses[:, 1]}, os.path.join(out, 'loss.png'),
                    title=f'StyleGAN on {dataset}')


def main(argv=None):
    args, hp = parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    autograd.manual_seed(args.seed)
    train_x, held = load(args.dataset, args.seed)
    real, floor = held[:hp['samples']], train_x[:hp['samples']]
    x = autograd.tensor(train_x * 2 - 1, device=args.device)  # [-1, 1]
    channels = train_x.shape[1]
    G = StyleGANGenerator(Z_DIM, W_DIM, SIZE, channels, hp['width'],
                          noise_lr_multiplier=hp['noise_lr']).to(args.device)
    D = DCGANDiscriminator(SIZE, channels, ndf=hp['ndf'], norm=None)
    D = (MinibatchStdDiscriminator(D, hp['mbstd']) if hp['mbstd'] else D).to(args.device)
    opt_g = Adam(G.parameters(), lr=hp['lr'], betas=(0.0, 0.99))
    opt_d = Adam(D.parameters(), lr=hp['lr_d'], betas=(0.0, 0.99))
    ema = EMA(G, decay=hp['ema'])
    z_fixed = autograd.randn(64, Z_DIM, device=args.device)
    z_eval = autograd.randn(hp['samples'], Z_DIM, device=args.device)
    state = {'G': G, 'D': D, 'opt_g': opt_g, 'opt_d': opt_d, 'ema': ema}
    config = {'dataset': args.dataset, 'width': hp['width'], 'ndf': hp['ndf'], 'size': SIZE,
              'mbstd': hp['mbstd']}
    run = TrainingCheckpoints(args, 'stylegan', config, state, hp['checkpoint_every'],
                              extra=lambda: gan_log_extra(log))
    start, saved = run.resume()
    log = gan_log(saved)
    end = run.end(start, hp['steps'], saved)
    at = {round(end * (i + 1) / hp['evals']) for i in range(hp['evals'])} - {end}

    def on_eval(step, force=False):
        if step not in at and not force:
            return None
        tick = time.time()
        if log['trajectory'] and log['trajectory'][-1]['step'] == step:  # --steps 0 again
            log['trajectory'].pop(), log['grids'].pop()
        rng = autograd.backend.get_rng_state()  # the noise inputs' draws leave training's
        images, q = evaluate(G, ema, z_fixed, z_eval, real, floor, args.dataset, log)
        autograd.backend.set_rng_state(rng)      # stream as it was: --resume stays exact
        log['trajectory'].append({'step': step} | q)
        log['eval_seconds'] += time.time() - tick
        return images

    tick, cpu = time.time(), time.process_time()
    with run:
        train(G, D, opt_g, opt_d, ema, x, hp, range(start, end), on_eval, log['losses'], run)
    train_seconds = time.time() - tick - log['eval_seconds']
    train_cpu = time.process_time() - cpu
    samples = on_eval(end, force=True)
    run.save(end)
    write_samples(args.out, for_classifier(samples, args.dataset), 'stylegan')  # MNIST: 28x28
    draw(G, ema, z_fixed, log, args.out, args.dataset)
    losses = np.array(log['losses'])
    bilinear = None  # the same samples through the former path, bilinear 16 -> 32
    if args.dataset == 'mnist':
        up = lambda images: for_classifier(images, 'mnist', 'bilinear')
        bilinear = sample_quality(up(samples), up(real), 'mnist', reference=up(floor))
    metrics = {'settings': vars(args) | hp, 'dataset': args.dataset, 'image_size': SIZE,
               'mnist_preprocessing': MNIST_PATH if args.dataset == 'mnist' else None,
               'step': end, 'train_seconds': round(train_seconds, 2),
               'train_cpu_seconds_incl_evals': round(train_cpu, 2),
               'eval_seconds': round(log['eval_seconds'], 2),
               'sample_seconds_per_image': log['sample_seconds_per_image'],
               'parameters': {'G': sum(q.data.size for q in G.parameters()),
                              'D': sum(q.data.size for q in D.parameters())},
               'final_d_loss': float(losses[-50:, 0].mean()) if len(losses) else None,
               'final_g_loss': float(losses[-50:, 1].mean()) if len(losses) else None,
               'samples': len(samples), 'final': log['trajectory'][-1],
               'final_bilinear_path': bilinear, 'trajectory': log['trajectory']}
    return write_metrics(args.out, metrics, hide=('settings', 'trajectory'))


if __name__ == '__main__':
    main()
