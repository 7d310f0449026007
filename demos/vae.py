"""Variational autoencoders on MNIST: a 2-D latent you can draw, and a larger one that samples.

Kingma & Welling 2013, "Auto-Encoding Variational Bayes" (arXiv:1312.6114). The encoder gives
q(z|x) = N(mu, diag(exp(logvar))), z = mu + exp(logvar / 2) eps, and training minimises the
negative evidence lower bound with a Bernoulli decoder, summed over pixels and latents:

    -ELBO(x) = -E_q log p(x|z) + KL(q(z|x) || N(0, I)),
    KL = -1/2 sum_j (1 + logvar_j - mu_j^2 - exp(logvar_j)),

with the KL weight raised linearly from 0 to beta over `--warmup` steps (KL warm-up).
Run 1: an MLP VAE (784-400-2) whose 2-D latent plane is drawn as a grid of decodings at the
Gaussian quantiles of an evenly spaced grid (the paper's figure 4) beside a scatter of
held-out codes mu(x) coloured by class. Run 2: a convolutional VAE with a 16-D latent:
samples (the decoder's mean at z ~ N(0, I)), reconstructions, interpolations between
held-out digits; held-out ELBO, importance-sampled log p(x) (Burda, Grosse & Salakhutdinov
2015, arXiv:1509.00519, K = 100), MSE, PSNR, SSIM, and the classifier FID and confident
fraction of the samples (minigen.metrics).

Data: MNIST test digits in ../shared/data/mnist (first 8,000 train, last 2,000 held out),
or the built-in shapes set (--dataset shapes, and when MNIST is absent).

    python -m demos.vae [--preset quick|full] [--dataset mnist|shapes] [--steps N]
        [--steps-2d N] [--batch-size B] [--beta B] [--warmup N] [--samples N]
        [--iw-samples K] [--checkpoint-every N] [--device cpu|cuda] [--seed S]
        [--out out/vae] [--resume]

Writes to --out: manifold.png, latent_scatter.png, samples.png, reconstructions.png,
interpolations.png, loss.png, samples.npy (the --samples samples, (N, C, H, W) in [0, 1],
what `python -m demos.evaluate --samples` reads), metrics.json and checkpoint.npz (which
--resume continues).
"""
import argparse
import math
import os
import time

import numpy as np

import autograd
from minigen import viz
from minigen.autoencoders.vae import VAE, gaussian_kl, kl_warmup
from minigen.optim import Adam

from demos.conventions import (TrainingCheckpoints, add_run_arguments, count, fresh_streams,
                               in_batches, load_image_dataset, non_negative_float,
                               parse_run_args, positive_int, reconstruction_quality,
                               resolve_preset, run_ends, sample_quality, write_metrics,
                               write_samples)

PRESETS = {'quick': dict(steps=800, steps_2d=3000, batch_size=64, warmup=200, beta=1.0,
                         lr=1e-3, latent_dim=16, samples=2000, iw_samples=100,
                         train_images=8000, eval_images=2000, checkpoint_every=500),
           'full': dict(steps=6000, steps_2d=15000, batch_size=128, warmup=1000, beta=1.0,
                        lr=1e-3, latent_dim=16, samples=2000, iw_samples=100,
                        train_images=8000, eval_images=2000, checkpoint_every=2000)}


def parse_args(argv):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--steps', type=count, help='steps of the 16-D conv VAE (0 with --resume: '
                                                'evaluate)')
    ap.add_argument('--steps-2d', type=count, help='steps of the 2-D MLP VAE')
    ap.add_argument('--batch-size', type=positive_int,
                    help='images per step (the 2-D VAE: twice as many)')
    ap.add_argument('--beta', type=non_negative_float, help='the KL weight after warm-up')
    ap.add_argument('--warmup', type=count, help='KL warm-up steps')
    ap.add_argument('--samples', type=positive_int, help='samples for samples.npy and the FID')
    ap.add_argument('--iw-samples', type=positive_int,
                    help='importance samples K per image for log p(x)')
    ap.add_argument('--train-images', type=positive_int, help='first N digits to train on')
    ap.add_argument('--eval-images', type=positive_int, help='last N digits held out')
    add_run_arguments(ap, 'vae', PRESETS, datasets=('mnist', 'shapes'), checkpoints=True)
    args = parse_run_args(ap, argv, steps_zero_means='evaluate a saved run')
    return args


def normal_quantiles(p):
    """Phi^-1(p) for p in (0, 1), by bisection on Phi(z) = (1 + erf(z / sqrt 2)) / 2."""
    erf = np.vectorize(math.erf)
    lo, hi = np.full(len(p), -10.0), np.full(len(p), 10.0)
    for _ in range(60):
        mid = (lo + hi) / 2
        below = 0.5 * (1 + erf(mid / math.sqrt(2))) < p
        lo, hi = np.where(below, mid, lo), np.where(below, hi, mid)
    return (lo + hi) / 2


def train(models, opts, x_train, hp, history, streams, run, device):
    """Each run to its end in run.until (the 2-D one first), each on its own random stream
    so that each resumes exactly on its own; checkpointed by `run`, whose saves carry the
    step of the run in progress."""
    x_all = autograd.tensor(x_train, device=device)
    for name, bs in (('vae2d', 2 * hp['batch_size']), ('vae', hp['batch_size'])):
        autograd.backend.set_rng_state(streams[name])
        done = len(history[f'{name}_recon'])
        bar = viz.progress(range(done, run.until[name]), name)
        for step in bar:
            x = x_all[autograd.randint(0, len(x_train), (bs,), device=device)]
            out = models[name].loss(x, beta=kl_warmup(step, hp['warmup'], hp['beta']))
            opts[name].zero_grad()
            out['loss'].backward()
            opts[name].step()
            history[f'{name}_recon'].append(out['recon'].item())
            history[f'{name}_kl'].append(out['kl'].item())
            if step % 20 == 0:
                bar.set_postfix(recon=f"{np.mean(history[f'{name}_recon'][-20:]):.1f}",
                                kl=f"{np.mean(history[f'{name}_kl'][-20:]):.1f}")
            streams[name] = autograd.backend.get_rng_state()
            run.step_done(step + 1)
    return len(history['vae_recon'])


def held_out_figures(model, held, device, seed, k):
    """Held-out ELBO (one z per image, nats per image), importance-sampled log p(x) with k
    samples on the first 300 images, and reconstruction MSE / PSNR / SSIM of the decoder
    mean at mu; and those reconstructions."""
    model.eval()
    autograd.manual_seed(seed)

    def elbo_per_image(x):  # log p(x|z) - KL with one z ~ q(z|x) per image
        mu, logvar = model.encode(x)
        return model.log_px_given_z(x, model.reparameterize(mu, logvar)) - gaussian_kl(mu, logvar)

    elbo = in_batches(elbo_per_image, held, device, 250)
    log_px = in_batches(lambda x: model.importance_log_px(x, k=k), held[:300], device,
                        max(1, 500 // k))
    rec = in_batches(model.reconstruct, held, device)
    return {'elbo_nats': float(np.mean(elbo)), 'elbo_nats_first_300': float(np.mean(elbo[:300])),
            'log_px_iw_nats_first_300': float(np.mean(log_px)),
            **reconstruction_quality(held, rec)}, rec


def draw_2d(vae2d, data, out, device, n=20):
    """manifold.png: decodes at the Gaussian quantiles of an n x n grid of the 2-D latent;
    latent_scatter.png: the held-out codes mu(x), coloured by class."""
    q = normal_quantiles(np.linspace(0.05, 0.95, n))
    grid = np.stack(np.meshgrid(q, q[::-1]), -1).reshape(-1, 2).astype(np.float32)
    viz.save_image(in_batches(vae2d.decode, grid, device), os.path.join(out, 'manifold.png'),
                   nrow=n, padding=0, scale=1)
    mu = in_batches(lambda x: vae2d.encode(x)[0], data.held, device)
    viz.save_scatter(mu, os.path.join(out, 'latent_scatter.png'), labels=data.held_labels,
                     class_names=data.class_names, title='held-out codes mu(x), 2-D VAE')


def draw(vae, samples, held, rec, history, out, device):
    """samples.png, reconstructions.png, interpolations.png (between the codes mu of pairs
    of held-out images) and loss.png."""
    viz.save_image(samples[:64], os.path.join(out, 'samples.png'), nrow=8)
    viz.save_image(np.concatenate([held[:10], rec[:10], held[10:20], rec[10:20]]),
                   os.path.join(out, 'reconstructions.png'), nrow=10,
                   row_labels=['input', 'VAE', 'input', 'VAE'])
    ends = in_batches(lambda x: vae.encode(x)[0], held[:12], device)
    t = np.linspace(0, 1, 10)[None, :, None]
    path = ((1 - t) * ends[0::2, None] + t * ends[1::2, None]).reshape(-1, ends.shape[1])
    strips = in_batches(vae.decode, path.astype(np.float32), device)
    viz.save_interpolation(strips.reshape(6, 10, *held.shape[1:]),
                           os.path.join(out, 'interpolations.png'))
    viz.save_curves({f'{k} (nats)': v for k, v in history.items()},
                    os.path.join(out, 'loss.png'), log_y=True, title='reconstruction and KL terms')


def main(argv=None):
    args = parse_args(argv)
    hp = resolve_preset(args, PRESETS)  # steps 0 with --resume: evaluate the saved models
    os.makedirs(args.out, exist_ok=True)
    autograd.manual_seed(args.seed)
    data = load_image_dataset(args.dataset, n_train=hp['train_images'],
                              n_held=hp['eval_images'], seed=args.seed, demo='vae', fallback=True)
    shape = data.train.shape[1:]
    config = {'dataset': data.name, 'beta': hp['beta'], 'warmup': hp['warmup'],
              'latent_dim': hp['latent_dim']}
    models = {'vae2d': VAE(shape, 2, 'mlp', (400,)).to(args.device),
              'vae': VAE(shape, hp['latent_dim'], 'conv', (32, 64)).to(args.device)}
    opts = {k: Adam(m.parameters(), lr=hp['lr']) for k, m in models.items()}
    state = models | {f'{k}_opt': opt for k, opt in opts.items()}
    run = TrainingCheckpoints(args, 'vae', config, state, hp['checkpoint_every'],
                              extra=lambda: {'history': history, 'streams': streams})
    _, saved = run.resume()
    history = {f'{k}_{term}': list(saved.get('history', {}).get(f'{k}_{term}', []))
               for k in models for term in ('recon', 'kl')}
    streams = saved.get('streams') or fresh_streams(models, args.seed)

    start = time.time()
    run.until = run_ends({k: history[f'{k}_recon'] for k in models},
                         {'vae2d': hp['steps_2d'], 'vae': hp['steps']}, saved)
    with run:
        step = train(models, opts, data.train, hp, history, streams, run, args.device)
    train_seconds = time.time() - start
    run.save(step)

    held_out = {k: held_out_figures(m, data.held, args.device, args.seed + 1, hp['iw_samples'])
                for k, m in models.items()}
    figures, rec = {k: f for k, (f, _) in held_out.items()}, held_out['vae'][1]
    z = np.random.default_rng(args.seed).standard_normal((hp['samples'], hp['latent_dim']))
    tick = time.time()
    samples = write_samples(args.out, in_batches(models['vae'].decode, z.astype(np.float32),
                                                 args.device), 'vae')
    sample_seconds = time.time() - tick
    draw_2d(models['vae2d'], data, args.out, args.device)
    draw(models['vae'], samples, data.held, rec, history, args.out, args.device)
    figures['vae_samples'] = sample_quality(samples, data.held[:hp['samples']],
                                            data.name) | {'n': len(samples)}
    result = {'settings': vars(args) | hp, 'dataset': data.name, 'step': step,
              'train_seconds': round(train_seconds, 2),
              'sample_seconds_per_image': sample_seconds / len(samples),
              'final_loss': {k: float(np.mean(v[-50:])) for k, v in history.items()},
              'held_out': figures, 'held_out_images': len(data.held)}
    return write_metrics(args.out, result)


if __name__ == '__main__':
    main()
