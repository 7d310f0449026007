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

    python -m demos.simclr [--preset quick|full] [--dataset shapes|mnist] [--steps N]
        [--batch-size B] [--device cpu|cuda] [--seed S] [--out out/simclr] [--resume]

Writes to --out: augmentations.png (one row per operator), views.png (pairs of views
the model is trained on), loss.png, pca_LABEL.png (PCA of the test features, coloured by
each label, trained beside random), metrics.json (probe and k-NN accuracies, trained and
random, and their margin) and checkpoint.npz (which --resume continues).
"""
import argparse
import os
import tempfile
import time
from functools import partial

import numpy as np
from PIL import Image

import autograd
import minigen
from minigen import viz
from minigen.data import augment as A
from minigen.data.shapes import make_shapes
from minigen.contrastive.encoders import ResNetEncoder
from minigen.metrics.probe import knn_accuracy, linear_probe_accuracy
from minigen.contrastive.simclr import SimCLR
from minigen.optim import Adam

from demos.conventions import MNIST_ROOT, add_run_arguments, write_metrics

PRESETS = {'quick': dict(steps=300, batch_size=128, widths=(32, 64, 128), stem_stride=2,
                         n_train=2000, n_test=1000),
           'full': dict(steps=3000, batch_size=256, widths=(32, 64, 128), stem_stride=1,
                        n_train=5000, n_test=2000)}
TEMPERATURE, LR, WEIGHT_DECAY = 0.5, 1e-3, 1e-6


def load_data(dataset, n_train, n_test, seed, n_pool=10000):
    """Images in [0, 1], labels for the probe, their names, and the pool to train on."""
    if dataset == 'shapes':
        d = make_shapes(n_train + n_test, size=32, seed=seed)
        labels = {k: d.attrs[k] for k in ('shape', 'color', 'size', 'position')}
        pool = make_shapes(n_pool, size=32, seed=seed + 1).images  # unlabelled training set
        return d.images, labels, {k: list(v) for k, v in d.vocab.items()}, pool
    from minigen.data.idx import load_mnist
    x, y = load_mnist('test', root=MNIST_ROOT, download=False)   # the 10k test set: 8k train, 2k held
    x = np.asarray(x, np.float32).reshape(-1, 1, 28, 28)
    x = x / 255.0 if x.max() > 1 else x
    pool = x[:min(n_pool, 8000)]
    idx = np.concatenate([np.arange(n_train), 8000 + np.arange(min(n_test, 2000))])
    return x[idx], {'digit': np.asarray(y)[idx]}, {'digit': [str(i) for i in range(10)]}, pool


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


def side_by_side(paths, out):
    ims = [Image.open(p).convert('RGB') for p in paths]
    both = Image.new('RGB', (sum(i.width for i in ims), max(i.height for i in ims)), 'white')
    left = 0
    for im in ims:
        both.paste(im, (left, 0))
        left += im.width
    both.save(out)


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


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--preset', choices=PRESETS, default='quick')
    ap.add_argument('--dataset', choices=('shapes', 'mnist'), default='shapes')
    ap.add_argument('--steps', type=int, help='training steps in this run (preset default)')
    ap.add_argument('--batch-size', type=int, help='images per step (2x as many views)')
    ap.add_argument('--n-train', type=int, help='labelled images for the probes')
    ap.add_argument('--n-test', type=int, help='held-out images for the probes')
    ap.add_argument('--n-pool', type=int, default=10000, help='unlabelled training images')
    ap.add_argument('--probe-steps', type=int, default=300, help='linear-probe Adam steps')
    ap.add_argument('--widths', type=int, nargs='+', help='ResNet stage widths')
    add_run_arguments(ap, 'simclr')
    args = ap.parse_args(argv)
    p = PRESETS[args.preset]
    steps = p['steps'] if args.steps is None else args.steps   # 0: evaluate only
    batch_size = args.batch_size or p['batch_size']
    n_train, n_test = args.n_train or p['n_train'], args.n_test or p['n_test']
    widths = tuple(args.widths or p['widths'])
    os.makedirs(args.out, exist_ok=True)
    ckpt_path = os.path.join(args.out, 'checkpoint.npz')

    x_eval, labels, names, pool = load_data(args.dataset, n_train, n_test, args.seed,
                                            args.n_pool)
    augment = pipeline(args.dataset)
    gallery(x_eval[:8], args.dataset, os.path.join(args.out, 'augmentations.png'),
            np.random.default_rng(args.seed))

    def build():  # the same initial weights every time: the random baseline is the start
        autograd.manual_seed(args.seed)
        return SimCLR(ResNetEncoder(pool.shape[1], widths=widths, stem_stride=p['stem_stride']),
                      proj_dim=64,
                      temperature=TEMPERATURE).to(args.device)
    model = build()
    opt = Adam(model.parameters(), lr=LR, weight_decay=WEIGHT_DECAY)
    start_step, losses, seconds_before = 0, [], 0.0
    if args.resume:
        if not os.path.exists(ckpt_path):
            raise FileNotFoundError(f"simclr --resume: no checkpoint at {ckpt_path}; run once "
                                    f"without --resume first")
        ckpt = minigen.load(ckpt_path)
        if ckpt['dataset'] != args.dataset or tuple(ckpt['widths']) != widths:
            raise ValueError(f"simclr --resume: {ckpt_path} holds a {ckpt['dataset']} run with "
                             f"widths {ckpt['widths']}; this run asks for {args.dataset}, {widths}")
        model.load_state_dict(ckpt['model'])
        opt.load_state_dict(ckpt['optimizer'])
        start_step, losses = int(ckpt['step']), list(ckpt['losses'])
        seconds_before = float(ckpt['train_seconds'])

    start = time.time()
    bar = viz.progress(range(start_step, start_step + steps), 'train')
    for step in bar:
        rng = np.random.default_rng([args.seed, step])   # per-step stream: exact resume
        x = pool[rng.choice(len(pool), batch_size, replace=False)]
        x1, x2 = (autograd.tensor(augment(x, rng), device=args.device) for _ in range(2))
        loss = model.loss(x1, x2)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
        if step % 10 == 0:
            bar.set_postfix(loss=f'{np.mean(losses[-10:]):.3f}')
    train_seconds = time.time() - start + seconds_before   # over all resumed runs
    step = start_step + steps
    minigen.save({'model': model.state_dict(), 'optimizer': opt.state_dict(), 'step': step,
                  'train_seconds': train_seconds, 'losses': np.array(losses), 'dataset': args.dataset, 'widths': list(widths)},
                 ckpt_path)

    # pairs of training views, then the loss curve
    rng = np.random.default_rng(args.seed + 7)
    x = pool[:8]
    viz.save_image(np.concatenate([x, augment(x, rng), augment(x, rng)]),
                   os.path.join(args.out, 'views.png'), nrow=8, scale=3,
                   row_labels=['image', 'view 1', 'view 2'])
    smooth = np.convolve(losses, np.ones(20) / 20, mode='valid') if len(losses) >= 20 else None
    viz.save_curves({'NT-Xent': losses} | ({'mean of 20': (np.arange(19, len(losses)), smooth)}
                                           if smooth is not None else {}),
                    os.path.join(args.out, 'loss.png'),
                    title=f'SimCLR on {args.dataset} (tau = {TEMPERATURE}, batch {batch_size})')

    # frozen features: trained encoder against the same encoder at initialisation
    start = time.time()
    h, trained = evaluate(model, x_eval, labels, n_train, args.probe_steps)
    h0, random_init = evaluate(build(), x_eval, labels, n_train, args.probe_steps)
    eval_seconds = time.time() - start
    projections = [(pca_2d(feats[n_train:].astype(np.float64)), title)
                   for feats, title in ((h, f'trained, step {step}'), (h0, 'random init'))]
    with tempfile.TemporaryDirectory() as tmp:
        for name, y in labels.items():           # one picture per label: what the axes encode
            paths = []
            for (proj, var), title in projections:
                paths.append(os.path.join(tmp, f'{len(paths)}.png'))
                viz.save_scatter(proj, paths[-1], labels=y[n_train:], class_names=names[name],
                                 title=f'{title}: PCA of h ({100 * var.sum():.0f}% var), by {name}')
            side_by_side(paths, os.path.join(args.out, f'pca_{name}.png'))

    margin = {k: round(trained[k]['linear_probe'] - random_init[k]['linear_probe'], 4)
              for k in trained}
    metrics = {'settings': vars(args) | {'steps': steps, 'batch_size': batch_size,
                                         'n_train': n_train, 'n_test': n_test,
                                         'widths': list(widths),
                                         'stem_stride': p['stem_stride'], 'temperature': TEMPERATURE,
                                         'lr': LR, 'weight_decay': WEIGHT_DECAY},
               'step': step, 'train_seconds': round(train_seconds, 2),
               'eval_seconds': round(eval_seconds, 2),
               'first_loss': float(np.mean(losses[:10])), 'final_loss': float(np.mean(losses[-20:])),
               'loss_floor': float(-np.log(np.exp(1 / TEMPERATURE) /
                                           (np.exp(1 / TEMPERATURE) + 2 * batch_size - 2))),
               'chance_loss': float(np.log(2 * batch_size - 1)),
               'trained': trained, 'random_init': random_init,
               'linear_probe_margin': margin}
    return write_metrics(args.out, metrics)


if __name__ == '__main__':
    main()
