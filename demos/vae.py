"""Variational autoencoders on MNIST: a 2-D latent you can draw, and a larger one that samples.

Kingma & Welling 2013, "Auto-Encoding Variational Bayes" (arXiv:1312.6114). The encoder gives
q(z|x) = N(mu, diag(exp(logvar))), z = mu + exp(logvar / 2) eps, and training minimises the
negative evidence lower bound with a Bernoulli decoder, summed over pixels and latents:

    -ELBO(x) = -E_q log p(x|z) + KL(q(z|x) || N(0, I)),
    KL = -1/2 sum_j (1 + logvar_j - mu_j^2 - exp(logvar_j)),

with the KL weight raised linearly from 0 to beta over `--warmup` steps (KL warm-up).
Run 1: an MLP VAE (784-400-2) whose 2-D latent plane is drawn as a grid of decodings at the
Gaussian quantiles of an evenly spaced grid (the paper's figure 4) beside a scatter of
held-out codes mu(x) coloured by digit. Run 2: a convolutional VAE with a 16-D latent:
samples from the prior, reconstructions, interpolations between held-out digits; held-out
ELBO, importance-sampled log p(x) (Burda et al. 2015, arXiv:1509.00519, K = 100), MSE, PSNR,
SSIM, and the classifier FID of samples (minigen.metrics).

Data: MNIST test digits in ../shared/data/mnist (first 8,000 train, last 2,000 held out),
or the built-in shapes set when MNIST is absent.

    python -m demos.vae [--preset quick|full] [--steps N] [--steps-2d N] [--batch-size B]
        [--beta B] [--warmup N] [--iw-samples K] [--device cpu|cuda] [--seed S]
        [--out out/vae] [--resume]

Writes to --out: manifold.png, latent_scatter.png, samples.png, reconstructions.png,
interpolations.png, loss.png, metrics.json and checkpoint.npz (which --resume continues).
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
from demos.autoencoder import in_batches, load_images, quality, resume_or_start, save_checkpoint
from demos.conventions import add_run_arguments, write_metrics

PRESETS = {'quick': dict(steps=800, steps_2d=3000, batch_size=64, warmup=200),
           'full': dict(steps=6000, steps_2d=15000, batch_size=128, warmup=1000)}


def normal_quantiles(p):
    """Phi^-1(p) for p in (0, 1), by bisection on Phi(z) = (1 + erf(z / sqrt 2)) / 2."""
    erf = np.vectorize(math.erf)
    lo, hi = np.full(len(p), -10.0), np.full(len(p), 10.0)
    for _ in range(60):
        mid = (lo + hi) / 2
        below = 0.5 * (1 + erf(mid / math.sqrt(2))) < p
        lo, hi = np.where(below, mid, lo), np.where(below, hi, mid)
    return (lo + hi) / 2


def train_step(model, opt, x, beta):
    out = model.loss(x, beta=beta)
    opt.zero_grad()
    out['loss'].backward()
    opt.step()
    return out['recon'].item(), out['kl'].item()


def held_out_figures(model, test_x, device, seed, k):
    """Held-out ELBO (one z per image, nats per image), importance-sampled log p(x) with k
    samples on the first 300 images, and reconstruction MSE / PSNR / SSIM of the decoder
    mean at mu."""
    autograd.manual_seed(seed)
    def elbo_per_image(x):  # log p(x|z) - KL with one z ~ q(z|x) per image
        mu, logvar = model.encode(x)
        return model.log_px_given_z(x, model.reparameterize(mu, logvar)) - gaussian_kl(mu, logvar)

    elbo = in_batches(elbo_per_image, test_x, device, 250)
    log_px = in_batches(lambda x: model.importance_log_px(x, k=k), test_x[:300], device,
                        max(1, 500 // k))
    rec = in_batches(model.reconstruct, test_x, device)
    return {'elbo_nats': float(np.mean(elbo)), 'elbo_nats_first_300': float(np.mean(elbo[:300])),
            'log_px_iw_nats_first_300': float(np.mean(log_px)),
            **quality(test_x, rec)}, rec


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--preset', choices=PRESETS, default='quick')
    ap.add_argument('--steps', type=int, help='steps of the 16-D conv VAE (preset default)')
    ap.add_argument('--steps-2d', type=int, help='steps of the 2-D MLP VAE (preset default)')
    ap.add_argument('--batch-size', type=int)
    ap.add_argument('--beta', type=float, default=1.0)
    ap.add_argument('--warmup', type=int, help='KL warm-up steps (preset default)')
    ap.add_argument('--samples', type=int, default=2000, help='samples for the FID')
    ap.add_argument('--iw-samples', type=int, default=100,
                    help='importance samples K per image for log p(x)')
    ap.add_argument('--train-images', type=int, default=8000, help='first N digits to train on')
    ap.add_argument('--eval-images', type=int, default=2000, help='last N digits held out')
    add_run_arguments(ap, 'vae')
    args = ap.parse_args(argv)
    preset = PRESETS[args.preset]
    steps = preset['steps'] if args.steps is None else args.steps  # 0 with --resume: evaluate
    steps_2d = preset['steps_2d'] if args.steps_2d is None else args.steps_2d
    batch_size = args.batch_size or preset['batch_size']
    warmup = preset['warmup'] if args.warmup is None else args.warmup
    os.makedirs(args.out, exist_ok=True)
    ckpt_path = os.path.join(args.out, 'checkpoint.npz')

    autograd.manual_seed(args.seed)
    train_x, _, test_x, test_y, dataset = load_images(args.train_images, args.eval_images)
    shape = train_x.shape[1:]
    x_train = autograd.tensor(train_x, device=args.device)
    config = {'dataset': dataset, 'beta': args.beta, 'warmup': warmup}
    models = {'vae2d': VAE(shape, 2, 'mlp', (400,)), 'vae': VAE(shape, 16, 'conv', (32, 64))}
    for m in models.values():
        m.to(args.device)
    opts = {k: Adam(m.parameters(), lr=1e-3) for k, m in models.items()}
    start_step, history, rng_states = resume_or_start(ckpt_path, args.resume, config, models,
                                                      opts, 'vae')
    if rng_states is None:  # one random stream per run, so each resumes exactly on its own
        rng_states = {}
        for i, name in enumerate(models):
            autograd.manual_seed(args.seed + 100 * i)
            rng_states[name] = autograd.backend.get_rng_state()
    history = history or {'vae2d_recon': [], 'vae2d_kl': [], 'vae_recon': [], 'vae_kl': []}
    done_2d, done = len(history['vae2d_recon']), len(history['vae_recon'])

    start = time.time()
    runs = (('vae2d', done_2d, steps_2d, 2 * batch_size), ('vae', done, steps, batch_size))
    for name, done_k, n_steps, bs in runs:
        autograd.backend.set_rng_state(rng_states[name])
        bar = viz.progress(range(done_k, done_k + n_steps), name)
        for step in bar:
            x = x_train[autograd.randint(0, len(train_x), (bs,), device=args.device)]
            recon, kl = train_step(models[name], opts[name], x, kl_warmup(step, warmup, args.beta))
            history[f'{name}_recon'].append(recon)
            history[f'{name}_kl'].append(kl)
            if step % 20 == 0:
                bar.set_postfix(recon=f"{np.mean(history[f'{name}_recon'][-20:]):.1f}",
                                kl=f"{np.mean(history[f'{name}_kl'][-20:]):.1f}")
        rng_states[name] = autograd.backend.get_rng_state()
    train_seconds = time.time() - start
    step = start_step + steps
    save_checkpoint(ckpt_path, step, config, models, opts, history, rng_states)

    for m in models.values():
        m.eval()
    vae2d, vae = models['vae2d'], models['vae']
    # run 1: the learned 2-D manifold and the held-out codes
    n = 20
    q = normal_quantiles(np.linspace(0.05, 0.95, n))
    grid = np.stack(np.meshgrid(q, q[::-1]), -1).reshape(-1, 2).astype(np.float32)
    viz.save_image(in_batches(vae2d.decode, grid, args.device),
                   os.path.join(args.out, 'manifold.png'),
                   nrow=n, padding=0, scale=1)
    mu = in_batches(lambda x: vae2d.encode(x)[0], test_x, args.device)
    viz.save_scatter(mu, os.path.join(args.out, 'latent_scatter.png'), labels=test_y,
                     class_names=[str(i) for i in range(10)] if dataset == 'mnist' else None,
                     title='held-out codes mu(x), 2-D VAE')
    # run 2: samples, reconstructions, interpolations of the 16-D VAE
    figures = {}
    figures['vae2d'], _ = held_out_figures(vae2d, test_x, args.device, args.seed + 1,
                                        args.iw_samples)
    figures['vae'], rec = held_out_figures(vae, test_x, args.device, args.seed + 1,
                                              args.iw_samples)
    z = np.random.default_rng(args.seed).standard_normal((args.samples, 16)).astype(np.float32)
    samples = in_batches(vae.decode, z, args.device)  # the mean of p(x|z), z ~ N(0, I)
    viz.save_image(samples[:64], os.path.join(args.out, 'samples.png'), nrow=8)
    viz.save_image(np.concatenate([test_x[:10], rec[:10], test_x[10:20], rec[10:20]]),
                   os.path.join(args.out, 'reconstructions.png'), nrow=10,
                   row_labels=['input', 'VAE', 'input', 'VAE'])
    ends = in_batches(lambda x: vae.encode(x)[0], test_x[:12], args.device)
    t = np.linspace(0, 1, 10)[None, :, None]
    path = ((1 - t) * ends[0::2, None] + t * ends[1::2, None]).reshape(-1, 16).astype(np.float32)
    viz.save_interpolation(in_batches(vae.decode, path, args.device).reshape(6, 10, *shape),
                           os.path.join(args.out, 'interpolations.png'))
    viz.save_curves({f'{k} (nats)': v for k, v in history.items()},
                    os.path.join(args.out, 'loss.png'), log_y=True,
                    title='reconstruction and KL terms')
    try:  # FID etc. of samples against held-out digits, with the metrics' feature net
        from minigen.metrics import evaluate_samples
        figures['vae_samples'] = evaluate_samples(samples, test_x[:args.samples], dataset)
        figures['vae_samples']['n'] = len(samples)
    except (ImportError, OSError, ValueError) as err:
        figures['vae_samples'] = {'unavailable': f'{type(err).__name__}: {err}'}

    result = {'settings': vars(args) | {'steps': steps, 'steps_2d': steps_2d, 'warmup': warmup,
                                        'batch_size': batch_size, 'lr': 1e-3},
              'dataset': dataset, 'step': step, 'train_seconds': round(train_seconds, 2),
              'final_loss': {k: float(np.mean(v[-50:])) for k, v in history.items()},
              'held_out': figures, 'held_out_images': len(test_x)}
    return write_metrics(args.out, result)


if __name__ == '__main__':
    main()
