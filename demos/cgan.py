"""A class-conditional DCGAN: ask for a digit (or a shape) and get it, one row per class.

Mirza & Osindero 2014, "Conditional Generative Adversarial Nets" (arXiv:1411.1784): both
players see the label y,

    min_G max_D  E_{x,y} log D(x, y) + E_{z,y} log(1 - D(G(z, y), y)).

G(z, y) is the DCGAN generator with a learned 10-d embedding of y concatenated to z; D
is the DCGAN discriminator with one-hot label maps concatenated to the image as K extra
channels (minigen/gans/dcgan.py, which also has conditional batch norm for G and the
projection discriminator of Miyato & Koyama 2018, arXiv:1802.05637: --g-conditioning
batchnorm, --d-conditioning projection; its docstring says why these are not the
default). Training is DCGAN's (Radford et al. 2015, arXiv:1511.06434): Adam 2e-4, beta1
0.5, batch 64, non-saturating G loss (--loss hinge: the projection paper's hinge loss);
fakes get labels drawn uniformly. Every picture and metric samples from an exponential
moving average of G's weights (minigen/optim/ema.py; decay 0.99 in the quick preset,
warmed up), which the checkpoint keeps. The score is the share of samples that a
classifier trained on real data (minigen.metrics' feature net) puts in the class that was
asked for, beside FID and friends against held-out real images.

    python -m demos.cgan [--preset quick|full] [--dataset mnist|shapes] [--steps N]
        [--batch-size B] [--ngf W] [--ndf W] [--eval-samples N] [--device cpu|cuda]
        [--checkpoint-every N] [--seed S] [--out out/cgan] [--resume] [--loss nonsaturating|hinge]
        [--g-conditioning concat|batchnorm] [--d-conditioning concat|projection]

Writes to --out: classes.png (row k: ten samples of class k; column j shares its noise
across rows, so it keeps its style), classes_<step>.png over training, loss.png,
samples.npy (the last evaluation's --eval-samples images, classes in turn, (N, C, H, W)
in [0, 1], for python -m demos.evaluate), metrics.json and checkpoint.npz (which
--resume continues).
"""
import argparse
import os
import time

import numpy as np

import autograd
from minigen import viz
from minigen.gans import DCGANDiscriminator, DCGANGenerator
from minigen.gans.losses import discriminator_loss, generator_loss
from minigen.gans.sampling import class_grid, sample
from minigen.metrics import evaluate_samples, load_feature_net
from minigen.optim import EMA, Adam

from demos.conventions import (TrainingCheckpoints, add_run_arguments, count, gan_log,
                               gan_log_extra, load_image_dataset, parse_run_args, positive_int,
                               resolve_preset, write_metrics, write_samples)

PRESETS = {'quick': dict(steps=800, batch_size=64, ngf=32, ndf=32, lr=2e-4, betas=(0.5, 0.999),
                         ema=0.99, evals=4, eval_samples=1000, checkpoint_every=200),
           'full': dict(steps=4000, batch_size=64, ngf=64, ndf=32, lr=2e-4, betas=(0.5, 0.999),
                        ema=0.999, evals=8, eval_samples=2000, checkpoint_every=500)}
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
    ap.add_argument('--loss', choices=('nonsaturating', 'hinge'), default='nonsaturating')
    ap.add_argument('--g-conditioning', choices=('concat', 'batchnorm'), default='concat')
    ap.add_argument('--d-conditioning', choices=('concat', 'projection'), default='concat')
    add_run_arguments(ap, 'cgan', PRESETS, datasets=('mnist', 'shapes'), checkpoints=True)
    args = parse_run_args(ap, argv)
    hp = resolve_preset(args, PRESETS)
    if (hp['steps'] == 0 and not args.resume) or hp['eval_samples'] < 4:
        ap.error('--steps must be >= 1 (0 with --resume evaluates the saved run again) and '
                 '--eval-samples >= 4')
    return args, hp


def train(G, D, opt_g, opt_d, ema, x, labels, hp, loss, steps, evaluate_at, evaluate,
          losses, run, device):
    """The conditional GAN game over `steps`: one D step on real (x, y) pairs and detached
    fakes G(z, y) with uniformly drawn y, then one G step and the EMA update of G's
    weights; evaluate(step) after each step
    in `evaluate_at`; the losses [L_D, L_G] of each step go to `losses`; checkpointed by
    `run`."""
    K, n = G.num_classes, hp['batch_size']
    bar = viz.progress(steps, 'train')
    for step in bar:
        idx = autograd.randint(0, len(x), (n,), device=device)
        y_fake = autograd.randint(0, K, (n,), device=device)
        fake = G(autograd.randn(n, Z_DIM, device=device), y_fake)
        d_loss = discriminator_loss(D(x[idx], labels[idx]), D(fake.detach(), y_fake), loss)
        opt_d.zero_grad()
        d_loss.backward()
        opt_d.step()
        g_loss = generator_loss(D(fake, y_fake), loss)
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


def evaluate(G, ema, z_cols, z_eval, real, data, step, log, out):
    """At `step`, with the EMA generator: the class grid (classes_<step>.png) and, for
    G's samples of z_eval with the classes in turn, the label accuracy (the share that the
    dataset's trained classifier, minigen.metrics' feature net, puts in the class asked
    for) beside FID and friends against the real images; returns those samples."""
    tick, K = time.time(), len(data.class_names)
    if log['trajectory'] and log['trajectory'][-1]['step'] == step:  # --steps 0 --resume
        log['trajectory'].pop()                                       # evaluates again
    y = np.arange(len(z_eval)) % K
    with ema.average_parameters():
        viz.save_image(class_grid(G, z_cols, K), os.path.join(out, f'classes_{step:06d}.png'),
                       nrow=len(z_cols), row_labels=list(data.class_names))
        images = sample(G, z_eval, autograd.tensor(y, device=z_eval.device))
    accuracy = float((load_feature_net(data.name).predict(images) == y).mean())
    subset = min(1000, len(images) // 2, len(real) // 2)  # KID's std needs subsets < n
    scores = evaluate_samples(images, real, data.name, kid_subset_size=subset)
    log['trajectory'].append({'step': step, 'label_accuracy': accuracy}
                             | {k: float(v) for k, v in scores.items()})
    log['eval_seconds'] += time.time() - tick
    return images


def main(argv=None):
    args, hp = parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    autograd.manual_seed(args.seed)
    data = load_image_dataset(args.dataset, seed=args.seed, demo='cgan', fallback=True)
    real, K = data.held[:hp['eval_samples']], len(data.class_names)
    x = autograd.tensor(data.train * 2 - 1, device=args.device)  # Tanh's range, [-1, 1]
    labels = autograd.tensor(data.labels, device=args.device)
    channels, size = data.train.shape[1:3]
    G = DCGANGenerator(Z_DIM, size, channels, ngf=hp['ngf'], num_classes=K,
                       conditioning=args.g_conditioning).to(args.device)
    D = DCGANDiscriminator(size, channels, ndf=hp['ndf'], num_classes=K,
                           conditioning=args.d_conditioning).to(args.device)
    opt_g = Adam(G.parameters(), lr=hp['lr'], betas=hp['betas'])
    opt_d = Adam(D.parameters(), lr=hp['lr'], betas=hp['betas'])
    ema = EMA(G, decay=hp['ema'])  # the averaged weights every picture and metric use
    z_cols = autograd.randn(10, Z_DIM, device=args.device)  # one noise per grid column
    z_eval = autograd.randn(hp['eval_samples'], Z_DIM, device=args.device)  # the metrics'
    state = {'G': G, 'D': D, 'opt_g': opt_g, 'opt_d': opt_d, 'ema': ema}
    config = {'dataset': data.name, 'ngf': hp['ngf'], 'ndf': hp['ndf'],
              'conditioning': [args.g_conditioning, args.d_conditioning]}
    run = TrainingCheckpoints(args, 'cgan', config, state, hp['checkpoint_every'],
                              extra=lambda: gan_log_extra(log))
    start, saved = run.resume()
    log = gan_log(saved, keys=('trajectory',))

    # train, evaluating at `evals` evenly spaced steps up to the end, then at the end
    end, tick = run.end(start, hp['steps'], saved), time.time()
    evaluate_at = {round(end * (i + 1) / hp['evals']) for i in range(hp['evals'])}
    run_eval = lambda step: evaluate(G, ema, z_cols, z_eval, real, data, step, log, args.out)
    with run:
        train(G, D, opt_g, opt_d, ema, x, labels, hp, args.loss, range(start, end),
              evaluate_at - {end}, run_eval, log['losses'], run, args.device)
    train_seconds = time.time() - tick - log['eval_seconds']
    samples = run_eval(end)
    run.save(end)

    # sample, draw, report
    write_samples(args.out, samples, 'cgan')
    with ema.average_parameters():
        viz.save_image(class_grid(G, z_cols, K), os.path.join(args.out, 'classes.png'),
                       nrow=len(z_cols), row_labels=list(data.class_names))
    losses = np.array(log['losses'])
    viz.save_curves({'L_D': losses[:, 0], 'L_G': losses[:, 1]},
                    os.path.join(args.out, 'loss.png'), title=f'conditional DCGAN on {data.name}')
    metrics = {'settings': vars(args) | hp, 'dataset': data.name, 'step': end,
               'train_seconds': round(train_seconds, 2),
               'eval_seconds': round(log['eval_seconds'], 2),
               'parameters': {'G': sum(q.data.size for q in G.parameters()),
                              'D': sum(q.data.size for q in D.parameters())},
               'final_d_loss': float(losses[-50:, 0].mean()),
               'final_g_loss': float(losses[-50:, 1].mean()),
               'samples': len(samples), 'final': log['trajectory'][-1],
               'trajectory': log['trajectory']}
    return write_metrics(args.out, metrics, hide=('settings', 'trajectory'))


if __name__ == '__main__':
    main()
