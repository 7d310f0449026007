"""SimCLR: learn image features without labels, by making two views of an image agree.

Chen, Kornblith, Norouzi & Hinton 2020, "A Simple Framework for Contrastive Learning of
Visual Representations" (arXiv:2002.05709). Each image x_k of a batch is augmented twice
(random resized crop, flip, colour jitter, grayscale, blur: Appendix A), a small ResNet
f gives h = f(x) and a head g gives z = g(h), and the NT-Xent loss (eq. 1)

    l(i, j) = -log exp(sim(z_i, z_j) / tau) / sum_{k != i} exp(sim(z_i, z_k) / tau)

averaged over the 2N views pulls the two views of an image together and pushes the
other 2N - 2 away. No label is used in training; afterwards the frozen h is judged by a
linear probe (logistic regression) and a k-NN classifier on the labels, against the same
network at its random initialisation.

`--loss spectral` trains with the spectral contrastive loss instead (HaoChen et al. 2021,
arXiv:2106.04156): L = -2 E[z^T z+] + E[(z^T z')^2], positives pulled together and every
other pair pushed towards orthogonality, with no temperature
(minigen/contrastive/spectral.py).

Data: the built-in shapes set (labels: shape, colour, size, position) or MNIST test digits
(../shared/data/mnist: the first 8,000 are the unlabelled pool and the probe's training
images, the last 2,000 held out).

    python -m demos.simclr [--preset quick|full] [--dataset shapes|mnist] [--steps N]
        [--batch-size B] [--n-train N] [--n-test N] [--n-pool N] [--probe-steps N]
        [--widths W ...] [--loss nt_xent|spectral] [--checkpoint-every N] [--device cpu|cuda] [--seed S]
        [--out out/simclr] [--resume]

Writes to --out: augmentations.png (one row per operator), views.png (pairs of views
the model is trained on), loss.png, pca_LABEL.png (PCA of the test features, coloured by
each label, trained beside random), metrics.json (probe and k-NN accuracies, trained and
random, and their margin) and checkpoint.npz (which --resume continues).
"""
import argparse
import os
import time
from functools import partial

import numpy as np

import autograd
from minigen import viz
from minigen.contrastive.encoders import ResNetEncoder
from minigen.contrastive.simclr import SimCLR
from minigen.data import augment as A
from minigen.data.shapes import make_shapes
from minigen.metrics.probe import knn_accuracy, linear_probe_accuracy
from minigen.optim import Adam
from minigen.viz.loss_curve import save_loss_curve
from minigen.viz.scatter_panels import save_scatter_panels

from demos.conventions import (TrainingCheckpoints, add_run_arguments, count,
                               load_image_dataset, parse_run_args, positive_int,
                               resolve_preset, write_metrics)

PRESETS = {'quick': dict(steps=300, batch_size=128, widths=(32, 64, 128), stem_stride=2,
                         n_train=2000, n_test=1000, n_pool=10000, probe_steps=300,
                         temperature=0.5, loss='nt_xent', lr=1e-3, weight_decay=1e-6,
                         checkpoint_every=100),
           'full': dict(steps=3000, batch_size=256, widths=(32, 64, 128), stem_stride=1,
                        n_train=5000, n_test=2000, n_pool=10000, probe_steps=300,
                        temperature=0.5, loss='nt_xent', lr=1e-3, weight_decay=1e-6,
                        checkpoint_every=500)}


def parse_args(argv):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--steps', type=count, help='training steps in this run (0: evaluate only)')
    ap.add_argument('--batch-size', type=positive_int, help='images per step (2x as many views)')
    ap.add_argument('--n-train', type=positive_int, help='labelled images for the probes')
    ap.add_argument('--n-test', type=positive_int, help='held-out images for the probes')
    ap.add_argument('--n-pool', type=positive_int, help='unlabelled training images')
    ap.add_argument('--probe-steps', type=positive_int, help='linear-probe Adam steps')
    ap.add_argument('--widths', type=positive_int, nargs='+', help='ResNet stage widths')
    ap.add_argument('--loss', choices=('nt_xent', 'spectral'),
                    help='NT-Xent (Chen et al. 2020) or the spectral contrastive loss '
                         '(HaoChen et al. 2021)')
    add_run_arguments(ap, 'simclr', PRESETS, datasets=('shapes', 'mnist'), checkpoints=True)
    return parse_run_args(ap, argv)


def load_data(dataset, hp, seed):
    """Images in [0, 1] for the probes (n_train, then n_test held out), their labels by
    name, each label's value names, and the unlabelled pool to train on. Shapes are drawn
    here rather than through load_image_dataset, which keeps only the shape label."""
    n_train, n_test = hp['n_train'], hp['n_test']
    if dataset == 'shapes':
        d = make_shapes(n_train + n_test, size=32, seed=seed)
        labels = {k: d.attrs[k] for k in ('shape', 'color', 'size', 'position')}
        pool = make_shapes(hp['n_pool'], size=32, seed=seed + 1).images
        return d.images, labels, {k: list(v) for k, v in d.vocab.items()}, pool
    data = load_image_dataset('mnist', n_train=8000, n_held=2000, demo='simclr')
    x = np.concatenate([data.train[:n_train], data.held[:n_test]])
    y = np.concatenate([data.labels[:n_train], data.held_labels[:n_test]])
    return x, {'digit': y}, {'digit': list(data.class_names)}, data.train[:hp['n_pool']]


def pipeline(dataset):
    """The two-view augmentation: SimCLR's (Appendix A) on shapes, but with crops of area
    >= 0.2 rather than 0.08 (on 32x32 images a small object is often cropped away); on
    28x28 digits the same crops, no flip (it changes digits), brightness and contrast
    jitter, blur and noise."""
    if dataset == 'shapes':
        return A.Compose([partial(A.random_resized_crop, scale=(0.2, 1.0)), A.random_hflip,
                          A.color_jitter, A.random_grayscale, A.random_gaussian_blur])
    return A.Compose([partial(A.random_resized_crop, scale=(0.2, 1.0)),
                      partial(A.color_jitter, brightness=0.4, contrast=0.4, saturation=0.0,
                              hue=0.0, p=0.8),
                      partial(A.random_gaussian_blur, p=0.5), A.gaussian_noise])


def gallery(x, dataset, path, rng):
    """One row per operator (applied with probability 1), then pairs of full views."""
    rows = [('original', x), ('crop', A.random_resized_crop(x, rng, scale=(0.2, 1.0)))]
    if dataset == 'shapes':
        rows += [('flip', A.random_hflip(x, rng, p=1.0)),
                 ('colour jitter', A.color_jitter(x, rng, p=1.0)),
                 ('grayscale', A.random_grayscale(x, rng, p=1.0))]
    else:
        rows += [('brightness, contrast', A.color_jitter(x, rng, 0.4, 0.4, 0.0, 0.0, p=1.0)),
                 ('noise', A.gaussian_noise(x, rng))]
    rows += [('blur', A.random_gaussian_blur(x, rng, p=1.0)), ('view 1', pipeline(dataset)(x, rng)),
             ('view 2', pipeline(dataset)(x, rng))]
    viz.save_image(np.concatenate([r for _, r in rows]), path, nrow=len(x), scale=3,
                   row_labels=[name for name, _ in rows])


def pca_2d(features):
    """Projection on the two leading principal axes: centre, SVD, x V[:, :2]."""
    centred = features - features.mean(0)
    _, s, vt = np.linalg.svd(centred, full_matrices=False)
    return centred @ vt[:2].T, (s[:2] ** 2 / (s ** 2).sum())


def evaluate(model, x_eval, labels, n_train, probe_steps=300):
    """Linear-probe and k-NN accuracy of each label from the frozen features h."""
    h = model.features(x_eval)
    out = {}
    for name, y in labels.items():
        out[name] = {'linear_probe': linear_probe_accuracy(h[:n_train], y[:n_train],
                                                           h[n_train:], y[n_train:],
                                                           steps=probe_steps),
                     'knn': knn_accuracy(h[:n_train], y[:n_train], h[n_train:], y[n_train:],
                                         k=20)}
    return h, out


def build(channels, hp, seed, device):
    """The encoder and head, with the same initial weights every time: the random-init
    baseline is the trained model's starting point."""
    autograd.manual_seed(seed)
    encoder = ResNetEncoder(channels, widths=hp['widths'], stem_stride=hp['stem_stride'])
    return SimCLR(encoder, proj_dim=64, temperature=hp['temperature'],
                  loss=hp['loss']).to(device)


def train(model, opt, pool, augment, hp, steps, losses, seed, run, device):
    """The contrastive loss on two augmented views over `steps`, checkpointed by `run`."""
    bar = viz.progress(steps, 'train')
    for step in bar:
        rng = np.random.default_rng([seed, step])   # per-step stream: exact resume
        x = pool[rng.choice(len(pool), hp['batch_size'], replace=False)]
        x1, x2 = (autograd.tensor(augment(x, rng), device=device) for _ in range(2))
        loss = model.loss(x1, x2)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
        if step % 10 == 0:
            bar.set_postfix(loss=f'{np.mean(losses[-10:]):.3f}')
        run.step_done(step + 1)


def draw(pool, augment, losses, h, h0, labels, names, hp, args, step):
    """views.png (pairs of training views), loss.png, and pca_LABEL.png: the PCA of the
    held-out features coloured by each label, trained beside random."""
    rng = np.random.default_rng(args.seed + 7)
    x = pool[:8]
    viz.save_image(np.concatenate([x, augment(x, rng), augment(x, rng)]),
                   os.path.join(args.out, 'views.png'), nrow=8, scale=3,
                   row_labels=['image', 'view 1', 'view 2'])
    spectral = hp['loss'] == 'spectral'
    save_loss_curve(losses, os.path.join(args.out, 'loss.png'),
                    label='spectral contrastive loss' if spectral else 'NT-Xent', window=20,
                    log_y=False, title=f"SimCLR on {args.dataset} (" + (
                        '' if spectral else f"tau = {hp['temperature']}, ")
                    + f"batch {hp['batch_size']})")
    n = hp['n_train']
    projections = [(pca_2d(feats[n:].astype(np.float64)), title)
                   for feats, title in ((h, f'trained, step {step}'), (h0, 'random init'))]
    for name, y in labels.items():
        save_scatter_panels([(proj, f'{title}: PCA of h ({100 * var.sum():.0f}% var), by {name}')
                             for (proj, var), title in projections],
                            os.path.join(args.out, f'pca_{name}.png'), labels=y[n:],
                            class_names=names[name])


def main(argv=None):
    args = parse_args(argv)
    hp = resolve_preset(args, PRESETS)
    os.makedirs(args.out, exist_ok=True)
    x_eval, labels, names, pool = load_data(args.dataset, hp, args.seed)
    augment = pipeline(args.dataset)
    gallery(x_eval[:8], args.dataset, os.path.join(args.out, 'augmentations.png'),
            np.random.default_rng(args.seed))
    model = build(pool.shape[1], hp, args.seed, args.device)
    opt = Adam(model.parameters(), lr=hp['lr'], weight_decay=hp['weight_decay'])
    config = {'dataset': args.dataset, 'widths': hp['widths'], 'stem_stride': hp['stem_stride'],
              'temperature': hp['temperature'], 'loss': hp['loss']}
    run = TrainingCheckpoints(args, 'simclr', config, {'model': model, 'opt': opt},
                              hp['checkpoint_every'], extra=lambda: {
                                  'losses': losses, 'train_seconds':
                                  time.time() - start + float(saved.get('train_seconds', 0.0))})
    step, saved = run.resume()
    losses = list(saved.get('losses', []))

    start = time.time()
    with run:
        end = run.end(step, hp['steps'], saved)
        train(model, opt, pool, augment, hp, range(step, end), losses, args.seed, run,
              args.device)
    train_seconds = time.time() - start + float(saved.get('train_seconds', 0.0))  # all runs
    step = end
    run.save(step)

    start = time.time()   # frozen features: trained encoder against itself at initialisation
    h, trained = evaluate(model, x_eval, labels, hp['n_train'], hp['probe_steps'])
    h0, random_init = evaluate(build(pool.shape[1], hp, args.seed, args.device), x_eval,
                               labels, hp['n_train'], hp['probe_steps'])
    eval_seconds = time.time() - start
    draw(pool, augment, losses, h, h0, labels, names, hp, args, step)
    tau, bs = hp['temperature'], hp['batch_size']
    metrics = {'settings': vars(args) | hp, 'step': step,
               'train_seconds': round(train_seconds, 2), 'eval_seconds': round(eval_seconds, 2),
               'first_loss': float(np.mean(losses[:10])), 'final_loss': float(np.mean(losses[-20:])),
               'trained': trained, 'random_init': random_init,
               'linear_probe_margin': {k: round(trained[k]['linear_probe']
                                                - random_init[k]['linear_probe'], 4)
                                       for k in trained}}
    if hp['loss'] == 'nt_xent':
        metrics |= {'loss_floor': float(-np.log(np.exp(1 / tau) / (np.exp(1 / tau) + 2 * bs - 2))),
                    'chance_loss': float(np.log(2 * bs - 1))}
    return write_metrics(args.out, metrics)


if __name__ == '__main__':
    main()
