"""An autoencoder and a denoising autoencoder on MNIST, trained side by side.

Vincent, Larochelle, Bengio & Manzagol 2008, "Extracting and Composing Robust Features
with Denoising Autoencoders" (ICML). Both models squeeze a digit x through a code
z = f(x) of `--latent-dim` numbers and rebuild x_hat = sigmoid(g(z)), minimising the
cross-entropy summed over pixels

    L = sum_pixels -x log x_hat - (1 - x) log(1 - x_hat).

The plain autoencoder reads the clean digit; the denoising one reads a corrupted
x_tilde = clip(x + sigma eps, 0, 1) (or masking noise) and must still rebuild the clean x,
so it learns what digits look like instead of copying pixels. The picture shows, for
held-out digits: clean input, AE(clean), noisy input, AE(noisy), DAE(noisy).

Data: the MNIST test set in ../shared/data/mnist (or $MINIGEN_MNIST) (first 8,000 digits
to train, last 2,000 held out), or the built-in shapes set (--dataset shapes, and when
MNIST is not there).

    python -m demos.autoencoder [--preset quick|full] [--dataset mnist|shapes] [--steps N]
        [--batch-size B] [--noise gaussian|masking] [--noise-level S] [--latent-dim D]
        [--checkpoint-every N] [--device cpu|cuda] [--seed S] [--out out/autoencoder]
        [--resume]

Writes to --out: reconstructions.png, loss.png, metrics.json (held-out MSE, PSNR, SSIM of
both models on clean and noisy inputs) and checkpoint.npz (which --resume continues).
"""
import argparse
import os
import time

import numpy as np

import autograd
from minigen import viz
from minigen.autoencoders.autoencoder import Autoencoder, corrupt
from minigen.optim import Adam

from demos.conventions import (TrainingCheckpoints, add_run_arguments, count, in_batches,
                               load_image_dataset, non_negative_float, parse_run_args,
                               positive_int, reconstruction_quality, resolve_preset,
                               write_metrics)

PRESETS = {'quick': dict(steps=600, batch_size=64, hidden=(32, 64), lr=1e-3, latent_dim=32,
                         noise='gaussian', noise_level=0.4, train_images=8000, eval_images=2000,
                         checkpoint_every=200),
           'full': dict(steps=4000, batch_size=128, hidden=(32, 64), lr=1e-3, latent_dim=32,
                        noise='gaussian', noise_level=0.4, train_images=8000, eval_images=2000,
                        checkpoint_every=1000)}


def parse_args(argv):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--steps', type=count, help='training steps in this run (preset default; '
                                                '0 with --resume: evaluate)')
    ap.add_argument('--batch-size', type=positive_int)
    ap.add_argument('--noise', choices=('gaussian', 'masking'))
    ap.add_argument('--noise-level', type=non_negative_float,
                    help='sigma, or the share of pixels masked')
    ap.add_argument('--latent-dim', type=positive_int)
    ap.add_argument('--train-images', type=positive_int, help='first N digits to train on')
    ap.add_argument('--eval-images', type=positive_int, help='last N digits held out')
    add_run_arguments(ap, 'autoencoder', PRESETS, datasets=('mnist', 'shapes'), checkpoints=True)
    args = parse_run_args(ap, argv, steps_zero_means='evaluate a saved run')
    if args.noise == 'masking' and args.noise_level is not None and args.noise_level > 1:
        ap.error(f'--noise-level is the share of pixels masked: at most 1, got {args.noise_level}')
    return args


def build(shape, hp, device):
    """The plain and the denoising autoencoder, of one architecture."""
    return {'ae': Autoencoder(shape, hp['latent_dim'], 'conv', hp['hidden']).to(device),
            'dae': Autoencoder(shape, hp['latent_dim'], 'conv', hp['hidden'], hp['noise'],
                               hp['noise_level']).to(device)}


def train(models, opts, x_train, hp, steps, history, run, device):
    """Both models over `steps` on the same batches (the DAE corrupts x itself),
    checkpointed by `run`."""
    x_all = autograd.tensor(x_train, device=device)
    bar = viz.progress(steps, 'train')
    for step in bar:
        x = x_all[autograd.randint(0, len(x_train), (hp['batch_size'],), device=device)]
        for k, m in models.items():
            loss = m.loss(x)
            opts[k].zero_grad()
            loss.backward()
            opts[k].step()
            history[k].append(loss.item())
        if step % 20 == 0:
            bar.set_postfix({k: f'{np.mean(v[-20:]):.1f}' for k, v in history.items()})
        run.step_done(step + 1)


def reconstruct(models, held, hp, seed, device):
    """The same noisy held-out images in every run, and every model's reconstruction of the
    clean and the noisy ones: (noisy, {'ae_clean': ..., 'dae_noisy': ...})."""
    for m in models.values():
        m.eval()
    autograd.manual_seed(seed + 1)
    noisy = in_batches(lambda x: corrupt(x, hp['noise'], hp['noise_level']), held, device)
    return noisy, {f'{k}_{inp}': in_batches(m.reconstruct, src, device)
                   for k, m in models.items() for inp, src in (('clean', held), ('noisy', noisy))}


def draw(held, noisy, rec, history, noise, out, n=10):
    rows = [held[:n], rec['ae_clean'][:n], noisy[:n], rec['ae_noisy'][:n], rec['dae_noisy'][:n]]
    viz.save_image(np.concatenate(rows), os.path.join(out, 'reconstructions.png'), nrow=n,
                   row_labels=['clean input', 'AE(clean)', f'{noise} noise', 'AE(noisy)',
                               'DAE(noisy)'])
    viz.save_curves({'AE': history['ae'], 'DAE': history['dae']}, os.path.join(out, 'loss.png'),
                    log_y=True, title='reconstruction cross-entropy (nats per image)')


def main(argv=None):
    args = parse_args(argv)
    hp = resolve_preset(args, PRESETS)
    os.makedirs(args.out, exist_ok=True)
    autograd.manual_seed(args.seed)
    data = load_image_dataset(args.dataset, n_train=hp['train_images'],
                              n_held=hp['eval_images'], seed=args.seed, demo='autoencoder',
                              fallback=True)
    config = {'dataset': data.name, 'latent_dim': hp['latent_dim'], 'hidden': hp['hidden'],
              'noise': hp['noise'], 'noise_level': hp['noise_level']}
    models = build(data.train.shape[1:], hp, args.device)
    opts = {k: Adam(m.parameters(), lr=hp['lr']) for k, m in models.items()}
    state = models | {f'{k}_opt': opt for k, opt in opts.items()}
    run = TrainingCheckpoints(args, 'autoencoder', config, state, hp['checkpoint_every'],
                              extra=lambda: {'history': history})
    step, saved = run.resume()
    history = {k: list(saved.get('history', {}).get(k, [])) for k in models}

    start = time.time()
    with run:
        end = run.end(step, hp['steps'], saved)
        train(models, opts, data.train, hp, range(step, end), history, run, args.device)
    step, train_seconds = end, time.time() - start
    run.save(step)

    noisy, rec = reconstruct(models, data.held, hp, args.seed, args.device)
    draw(data.held, noisy, rec, history, hp['noise'], args.out)
    figures = {name: reconstruction_quality(data.held, r) for name, r in rec.items()}
    figures['noisy_input'] = reconstruction_quality(data.held, noisy)
    result = {'settings': vars(args) | hp, 'dataset': data.name, 'step': step,
              'train_seconds': round(train_seconds, 2),
              'first_loss': {k: float(np.mean(v[:20])) for k, v in history.items()},
              'final_loss': {k: float(np.mean(v[-50:])) for k, v in history.items()},
              'held_out': figures, 'held_out_images': len(data.held)}
    return write_metrics(args.out, result)


if __name__ == '__main__':
    main()
