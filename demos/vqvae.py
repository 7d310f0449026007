"""A VQ-VAE on MNIST: digits as 7x7 grids of discrete tokens.

van den Oord, Vinyals & Kavukcuoglu 2017, "Neural Discrete Representation Learning"
(arXiv:1711.00937), with the EMA codebook of its appendix (and of Razavi, van den Oord &
Vinyals 2019, arXiv:1906.00446). A convolutional encoder turns a 28x28 digit into a 7x7
grid of vectors z_e; each is snapped to its nearest code of a K-entry codebook,

    k* = argmin_k ||z_e - e_k||^2,   z_q = e_{k*},

the decoder rebuilds the digit from z_q, and the encoder gets the decoder's gradient through
the straight-through copy z_e + sg(z_q - z_e). The loss is

    L = ||x - D(z_q)||^2 + beta ||z_e - sg(z_q)||^2        (beta = 0.25)

while each code moves to the running (EMA, decay 0.99) mean of the vectors it wins; codes
unused for `--restart-after` steps are re-seeded from encoder outputs. Codebook usage is
followed as the perplexity exp(-sum p_k log p_k) (K when all codes are used equally).

Samples without a prior: the paper samples token grids from a PixelCNN prior fitted to the
training set's grids; this demo has none yet, so its samples decode grids whose tokens are
drawn independently from the codebook's usage on the training set, p(k) = n_k / sum_j n_j,
the same p at every position. That is the prior-less baseline a learned prior must beat
(its samples are textures of digit strokes, not digits); samples.npy and the classifier
figures of metrics.json measure it.

Data: MNIST test digits in ../shared/data/mnist (first 8,000 train, last 2,000 held
out), or the built-in shapes set (--dataset shapes, and when MNIST is absent).

    python -m demos.vqvae [--preset quick|full] [--dataset mnist|shapes] [--steps N]
        [--batch-size B] [--codes K] [--code-dim D] [--restart-after N] [--samples N]
        [--checkpoint-every N] [--device cpu|cuda] [--seed S] [--out out/vqvae] [--resume]

Writes to --out: reconstructions.png, codebook_usage.png (perplexity and dead codes over
training), tokens.png (a digit beside its token grid), samples.png, loss.png, samples.npy
((N, C, H, W) in [0, 1], for `python -m demos.evaluate --samples`), metrics.json
(held-out MSE, PSNR, SSIM, codebook use, the samples' classifier figures) and
checkpoint.npz (which --resume continues).
"""
import argparse
import os
import time

import numpy as np

import autograd
from minigen import viz
from minigen.autoencoders.vqvae import VQVAE
from minigen.optim import Adam
from minigen.viz.tokens import save_token_grid

from demos.conventions import (TrainingCheckpoints, add_run_arguments, count, in_batches,
                               load_image_dataset, parse_run_args, positive_int,
                               reconstruction_quality, resolve_preset, sample_quality,
                               write_metrics, write_samples)

PRESETS = {'quick': dict(steps=800, batch_size=64, hidden=(32, 64), lr=1e-3, codes=64,
                         code_dim=16, restart_after=50, samples=2000, train_images=8000,
                         eval_images=2000, checkpoint_every=200),
           'full': dict(steps=5000, batch_size=128, hidden=(64, 128), lr=1e-3, codes=64,
                        code_dim=16, restart_after=50, samples=2000, train_images=8000,
                        eval_images=2000, checkpoint_every=1000)}
BETA = 0.25


def parse_args(argv):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--steps', type=count, help='training steps in this run (preset default; '
                                                '0 with --resume: evaluate)')
    ap.add_argument('--batch-size', type=positive_int)
    ap.add_argument('--codes', type=positive_int, help='codebook size K')
    ap.add_argument('--code-dim', type=positive_int)
    ap.add_argument('--restart-after', type=count,
                    help='re-seed codes unused for this many steps (0: never)')
    ap.add_argument('--samples', type=positive_int, help='prior-less samples for samples.npy')
    ap.add_argument('--train-images', type=positive_int, help='first N digits to train on')
    ap.add_argument('--eval-images', type=positive_int, help='last N digits held out')
    add_run_arguments(ap, 'vqvae', PRESETS, datasets=('mnist', 'shapes'), checkpoints=True)
    args = parse_run_args(ap, argv, steps_zero_means='evaluate a saved run')
    return args


def train(model, opt, x_train, hp, steps, history, run, device):
    """The VQ-VAE loss over `steps`, checkpointed by `run`."""
    x_all = autograd.tensor(x_train, device=device)
    bar = viz.progress(steps, 'train')
    for step in bar:
        x = x_all[autograd.randint(0, len(x_train), (hp['batch_size'],), device=device)]
        out = model.loss(x)
        opt.zero_grad()
        out['loss'].backward()
        opt.step()
        history['recon'].append(out['recon'].item())
        history['commitment'].append(out['vq'].item() / BETA)
        history['perplexity'].append(out['perplexity'])
        history['dead_codes'].append(int((model.quantizer.unused_steps.numpy() > 0).sum()))
        if step % 20 == 0:
            bar.set_postfix(recon=f"{np.mean(history['recon'][-20:]):.4f}",
                            perplexity=f"{np.mean(history['perplexity'][-20:]):.1f}")
        run.step_done(step + 1)


def tokens_of(model, x, device):
    """The token grids (N, h, w) of images x."""
    return in_batches(lambda t: autograd.as_tensor(model.encode(t)), x, device)


def sample_without_prior(model, train_tokens, n, codes, seed, device):
    """Decodes of n token grids whose tokens are drawn i.i.d. from the codebook's usage on
    the training set (the baseline a learned prior must beat)."""
    p = np.bincount(train_tokens.reshape(-1), minlength=codes) / train_tokens.size
    grids = np.random.default_rng(seed).choice(codes, size=(n, *train_tokens.shape[1:]), p=p)
    return in_batches(model.decode, grids, device)


def draw(held, rec, held_tokens, samples, history, codes, out):
    viz.save_image(np.concatenate([held[:10], rec[:10], held[10:20], rec[10:20]]),
                   os.path.join(out, 'reconstructions.png'), nrow=10,
                   row_labels=['input', 'VQ-VAE', 'input', 'VQ-VAE'])
    viz.save_image(samples[:64], os.path.join(out, 'samples.png'), nrow=8)
    viz.save_curves({'perplexity (batch)': history['perplexity'],
                     'codes unused this step': history['dead_codes']},
                    os.path.join(out, 'codebook_usage.png'), xlabel='step', ylabel='codes',
                    title=f'codebook usage, K = {codes}')
    viz.save_curves({'reconstruction MSE ([-1, 1] units)': history['recon'],
                     'commitment ||z_e - sg(z_q)||^2': history['commitment']},
                    os.path.join(out, 'loss.png'), log_y=True, title='VQ-VAE losses')
    save_token_grid(held[0], held_tokens[0], os.path.join(out, 'tokens.png'))


def codebook_figures(tokens, codes):
    """Codes used, perplexity exp(-sum p log p) and bits per image of held-out token grids."""
    p = np.bincount(tokens.reshape(-1), minlength=codes) / tokens.size
    return {'codes_used': int((p > 0).sum()),
            'perplexity': float(np.exp(-(p[p > 0] * np.log(p[p > 0])).sum())),
            'bits_per_image': float(np.prod(tokens.shape[1:]) * np.log2(codes))}


def main(argv=None):
    args = parse_args(argv)
    hp = resolve_preset(args, PRESETS)
    os.makedirs(args.out, exist_ok=True)
    autograd.manual_seed(args.seed)
    data = load_image_dataset(args.dataset, n_train=hp['train_images'],
                              n_held=hp['eval_images'], seed=args.seed, demo='vqvae',
                              fallback=True)
    config = {'dataset': data.name, 'codes': hp['codes'], 'code_dim': hp['code_dim'],
              'hidden': hp['hidden'], 'restart_after': hp['restart_after']}
    model = VQVAE(data.train.shape[1:], hp['hidden'], hp['code_dim'], hp['codes'], beta=BETA,
                  ema=True, decay=0.99, restart_after=hp['restart_after']).to(args.device)
    opt = Adam(model.parameters(), lr=hp['lr'])
    run = TrainingCheckpoints(args, 'vqvae', config, {'vqvae': model, 'opt': opt},
                              hp['checkpoint_every'], extra=lambda: {'history': history})
    step, saved = run.resume()
    history = {k: list(saved.get('history', {}).get(k, []))
               for k in ('recon', 'commitment', 'perplexity', 'dead_codes')}

    start = time.time()
    with run:
        end = run.end(step, hp['steps'], saved)
        train(model, opt, data.train, hp, range(step, end), history, run, args.device)
    step, train_seconds = end, time.time() - start
    run.save(step)

    model.eval()
    held_tokens = tokens_of(model, data.held, args.device)
    rec = in_batches(model.decode, held_tokens, args.device)
    train_tokens, tick = tokens_of(model, data.train, args.device), time.time()
    samples = write_samples(args.out, sample_without_prior(
        model, train_tokens, hp['samples'], hp['codes'], args.seed, args.device), 'vqvae')
    sample_seconds = time.time() - tick
    draw(data.held, rec, held_tokens, samples, history, hp['codes'], args.out)
    result = {'settings': vars(args) | hp, 'dataset': data.name, 'step': step,
              'train_seconds': round(train_seconds, 2),
              'sample_seconds_per_image': sample_seconds / len(samples),
              'first_loss': float(np.mean(history['recon'][:20])),
              'final_loss': float(np.mean(history['recon'][-50:])),
              'held_out': reconstruction_quality(data.held, rec)
              | codebook_figures(held_tokens, hp['codes']),
              'held_out_images': len(data.held),
              'samples_without_prior': sample_quality(samples, data.held[:hp['samples']],
                                                      data.name) | {'n': len(samples)}}
    return write_metrics(args.out, result)


if __name__ == '__main__':
    main()
