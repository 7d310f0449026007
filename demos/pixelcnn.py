"""Gated PixelCNN on binarized MNIST: digits drawn pixel by pixel, with an exact likelihood.

van den Oord et al. 2016, "Conditional Image Generation with PixelCNN Decoders"
(arXiv:1606.05328), minigen/autoregressive/pixelcnn.py. The model factorises

    p(x | y) = prod_{i=1}^{784} p(x_i | x_<i, y),   -log p(x | y) in nats per image,
    bits/dim = nats / (784 ln 2)

and trains on dynamically binarized digits (each pixel 1 with probability its grey level,
drawn anew at every step), conditioned on the class y. Published: PixelCNN 81.3 nats on
binarized MNIST after long training (arXiv:1601.06759, table 2); minutes get less far.
Sampling is 784 passes of the net (on the window of rows and columns within its reach),
one per pixel, for the whole batch at once. Completions: the bottom half of held-out digits removed and drawn
again, several times each, under the digit's label. `--output softmax` models 256 grey
levels instead (a 256-way softmax per pixel; the NLL is then of 8-bit images).

Data: MNIST test digits in ../shared/data/mnist (first 8,000 train, last 2,000 held out,
binarized once with a fixed seed for the held-out NLL), or the built-in shapes set in grey
(--dataset shapes, and when MNIST is absent).

    python -m demos.pixelcnn [--preset quick|full] [--dataset mnist|shapes] [--steps N]
        [--batch-size B] [--lr LR] [--channels C] [--layers L] [--output bernoulli|softmax]
        [--samples-per-class N] [--completions K] [--eval-every N] [--train-images N]
        [--eval-images N] [--checkpoint-every N] [--device cpu|cuda] [--seed S]
        [--out out/pixelcnn] [--resume]

Writes to --out: samples.png (one row per class), completions.png (original, occluded,
then the completions), nll.png (training NLL per step and held-out NLL), samples.npy (the
class rows, (N, 1, 28, 28) in [0, 1]), metrics.json (held-out nll_nats and bits_per_dim,
the samples' confident_fraction by the MNIST classifier) and checkpoint.npz.
"""
import argparse
import math
import os
import time

import numpy as np

import autograd
from minigen import viz
from minigen.autoregressive import GatedPixelCNN, binarize, bits_per_dim
from minigen.optim import Adam

from demos.conventions import (TrainingCheckpoints, add_run_arguments, count, load_image_dataset,
                               parse_run_args, positive_float, positive_int, resolve_preset,
                               sample_quality, write_metrics, write_samples)

PRESETS = {'quick': dict(steps=600, batch_size=32, lr=3e-3, channels=16, layers=5,  # 5 min 22 s
                         samples_per_class=5, completions=3, eval_every=100,         # (demos/README)
                         train_images=8000, eval_images=2000, checkpoint_every=100),
           'full': dict(steps=20000, batch_size=64, lr=1e-3, channels=64, layers=10,
                        samples_per_class=20, completions=4, eval_every=1000,
                        train_images=8000, eval_images=2000, checkpoint_every=1000)}
PUBLISHED_NLL_NATS = 81.3  # PixelCNN, binarized MNIST (arXiv:1601.06759, table 2)


def parse_args(argv):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--steps', type=count, help='training steps (0 with --resume: evaluate)')
    ap.add_argument('--batch-size', type=positive_int)
    ap.add_argument('--lr', type=positive_float, help="Adam's learning rate")
    ap.add_argument('--channels', type=positive_int, help='channels of each gated layer')
    ap.add_argument('--layers', type=positive_int, help='gated layers (the first 7x7)')
    ap.add_argument('--output', choices=('bernoulli', 'softmax'), default='bernoulli',
                    help='binarized pixels, or 256 grey levels by a softmax')
    ap.add_argument('--samples-per-class', type=positive_int,
                    help='samples drawn for each class (samples.png rows, samples.npy)')
    ap.add_argument('--completions', type=positive_int,
                    help='completions of each of 8 occluded held-out digits')
    ap.add_argument('--eval-every', type=positive_int,
                    help='steps between held-out NLLs on the first 500 held-out images')
    ap.add_argument('--train-images', type=positive_int, help='first N digits to train on')
    ap.add_argument('--eval-images', type=positive_int, help='last N digits held out')
    add_run_arguments(ap, 'pixelcnn', PRESETS, datasets=('mnist', 'shapes'), checkpoints=True)
    args = parse_run_args(ap, argv, steps_zero_means='evaluate a saved run')
    return args


def grey(images):
    """(N, C, H, W) -> (N, 1, H, W): RGB averaged (the shapes fallback)."""
    return images.mean(axis=1, keepdims=True).astype(np.float32)


def model_inputs(x, output):
    """What the model reads: binarized afresh (bernoulli) or the 8-bit levels k / 255."""
    return binarize(x) if output == 'bernoulli' else (np.rint(x * 255) / 255).astype(np.float32)


def held_out_nll(model, x, y, device, batch=250):
    """Mean -log p(x | y) in nats per image over x, without gradient."""
    model.eval()
    with autograd.no_grad():
        nll = np.concatenate([model.nll(autograd.tensor(x[i:i + batch], device=device),
                                        y[i:i + batch]).numpy()
                              for i in range(0, len(x), batch)])
    model.train()
    return float(nll.mean())


def completions(model, x, y, k):
    """Each digit of x with its bottom half removed (rows H/2 on set to 0) and completed k
    times; rows of [original, occluded, completion 1..k]."""
    H = x.shape[2]
    occluded = x.copy()
    occluded[:, :, H // 2:] = 0
    drawn = model.sample(image=np.repeat(occluded, k, axis=0), y=np.repeat(y, k),
                         start_row=H // 2).reshape(len(x), k, *x.shape[1:])
    return np.concatenate([x[:, None], occluded[:, None], drawn], axis=1).reshape(-1, *x.shape[1:])


def main(argv=None):
    args = parse_args(argv)
    hp = resolve_preset(args, PRESETS)
    os.makedirs(args.out, exist_ok=True)
    autograd.manual_seed(args.seed)
    data = load_image_dataset(args.dataset, n_train=hp['train_images'], n_held=hp['eval_images'],
                              seed=args.seed, demo='pixelcnn', fallback=True)
    train, held = grey(data.train), grey(data.held)
    n_classes, size = len(data.class_names), train.shape[2:]
    held_in = model_inputs(held, args.output) if args.output == 'softmax' else \
        (np.random.default_rng(12345).random(held.shape) < held).astype(np.float32)
    config = {'dataset': data.name, 'output': args.output, 'channels': hp['channels'],
              'layers': hp['layers']}
    model = GatedPixelCNN(hp['channels'], hp['layers'], n_classes=n_classes,
                          output=args.output).to(args.device)
    if args.output == 'bernoulli':  # start at the mean pixel: 305 nats on MNIST, not 543
        mean = float(np.clip(train.mean(), 1e-3, 1 - 1e-3))
        model.head_2.bias.data[...] = np.log(mean / (1 - mean))
    opt = Adam(model.parameters(), lr=hp['lr'])
    run = TrainingCheckpoints(args, 'pixelcnn', config, {'model': model, 'opt': opt},
                              hp['checkpoint_every'],
                              extra=lambda: {'losses': losses, 'held_curve': held_curve})
    step, saved = run.resume()
    losses = list(saved.get('losses', []))
    held_curve = [list(p) for p in saved.get('held_curve', [])]

    start = time.time()
    bar = viz.progress(range(step, run.end(step, hp['steps'], saved)), 'pixelcnn')
    with run:
        for step in bar:
            i = autograd.randint(0, len(train), (hp['batch_size'],)).numpy()
            x = autograd.tensor(model_inputs(train[i], args.output), device=args.device)
            loss = model.nll(x, data.labels[i]).mean()       # nats per image
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(loss.item())
            if (step + 1) % hp['eval_every'] == 0:
                held_curve.append([step + 1, held_out_nll(model, held_in[:500],
                                                          data.held_labels[:500], args.device)])
            if step % 20 == 0:
                bar.set_postfix(nll=f'{np.mean(losses[-20:]):.1f}')
            run.step_done(step + 1)
        step = len(losses)
    train_seconds = time.time() - start
    run.save(step)

    nll = held_out_nll(model, held_in, data.held_labels, args.device)
    model.eval()
    start = time.time()
    labels = np.repeat(np.arange(n_classes), hp['samples_per_class'])
    samples = write_samples(args.out, model.sample(y=labels, size=size), 'pixelcnn')
    sample_seconds = time.time() - start
    filled = completions(model, held_in[:8], data.held_labels[:8], hp['completions'])
    viz.save_image(samples, os.path.join(args.out, 'samples.png'),
                   nrow=hp['samples_per_class'], row_labels=list(data.class_names))
    viz.save_image(filled, os.path.join(args.out, 'completions.png'), nrow=hp['completions'] + 2)
    curves = {'training NLL (nats)': np.asarray(losses)}
    if held_curve:
        pts = np.asarray(held_curve)
        curves['held-out NLL, 500 images'] = (pts[:, 0] - 1, pts[:, 1])
    viz.save_curves(curves, os.path.join(args.out, 'nll.png'), log_y=True,
                    title='PixelCNN NLL (nats per image)', ylabel='nats')
    quality = sample_quality(samples, data.held, data.name)
    dims = int(np.prod(held.shape[1:]))
    published = {'published_nll_nats': PUBLISHED_NLL_NATS,   # the same task only
                 'published_bits_per_dim': bits_per_dim(PUBLISHED_NLL_NATS, 784)} \
        if data.name == 'mnist' and args.output == 'bernoulli' else {}
    result = {'settings': vars(args) | hp, 'dataset': data.name, 'step': step,
              'train_seconds': round(train_seconds, 2),
              'sample_seconds': round(sample_seconds, 2),
              'sample_seconds_per_image': sample_seconds / len(samples),
              'parameters': sum(p.size for p in model.parameters()),
              'nll_nats': nll, 'bits_per_dim': bits_per_dim(nll, dims),
              **published,
              'held_out_images': len(held), 'held_out_binarization': 'fixed, seed 12345',
              'final_training_nll_nats': float(np.mean(losses[-50:])) if losses else math.nan,
              'confident_fraction': quality.get('confident_fraction'),
              'samples': quality | {'n': len(samples)}, 'held_curve': held_curve}
    return write_metrics(args.out, result, hide=('settings', 'held_curve'))


if __name__ == '__main__':
    main()
