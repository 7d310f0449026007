"""The generative learning trilemma, measured: every family's MNIST quick preset on one
table, with the same held-out digits, the same metrics and the same machine.

Xiao, Kreis & Vahdat 2022 ("Tackling the Generative Learning Trilemma with Denoising
Diffusion GANs", arXiv:2112.07804) draw three wishes no family grants at once: high-quality
samples (GANs, diffusion), mode coverage and diversity (VAEs, flows, diffusion) and fast
sampling (GANs, VAEs, flows). This lab puts numbers on the picture:

    quality   precision (Kynkaanniemi et al. 2019, arXiv:1904.06991): the share of samples
              inside the k-NN balls of real features (k = 3); and the Inception Score
              exp E_x KL(p(y|x) || p(y)) (Salimans et al. 2016) with minigen's MNIST net
    coverage  recall: the share of real digits inside the samples' k-NN balls
    both      FID |mu_r - mu_g|^2 + tr(S_r + S_g - 2 (S_r S_g)^(1/2)) (biased in n: compare
              rows of equal n) and KID, the unbiased MMD^2 with k(x, y) = (x.y / d + 1)^3
    speed     seconds per sample on this machine, as each demo measured its own sampling
              (metrics.json "sample_seconds_per_image")

Features come from minigen's own MNIST classifier (minigen.metrics), against the last
2,000 test digits that every MNIST demo holds out; the floor row scores n training digits
the same way, which is what a perfect generator would reach.

    python -m demos.trilemma                       # trains what is missing, then scores
    python -m demos.trilemma --no-train            # scores only the runs already there
    python -m demos.trilemma --only vae dcgan --runs out/trilemma --n 500

Each model's quick preset runs with --out RUNS/<key> (a folder already holding samples.npy
is read, not retrained), so a model trained earlier by its own demo is picked up by
pointing --runs at the folder above it. DDPM appears twice: DDIM with 50 steps, and
ancestral sampling with all 1,000 steps (DDIM with eta = 1 at every step is DDPM's sampler)
from the same trained network, on --n-ddpm1000 samples since it costs 20 times as much.
Writes to --out: metrics.json (every row), table.md, trilemma.png (precision against recall,
marker area growing with sampling speed) and samples.png (the first samples of every row).
"""
import argparse
import importlib
import json
import math
import os
import shutil
import time

import numpy as np

from minigen import viz
from minigen.metrics import evaluate_features, load_feature_net

from demos.conventions import MNIST_ROOT, add_run_arguments, parse_run_args, positive_int
from demos.evaluate import load_samples, real_sets

# key: (row label, demo, its quick-preset arguments on MNIST given n samples)
MODELS = {
    'vae': ('VAE', 'vae', lambda n: ['--dataset', 'mnist', '--samples', str(n)]),
    'vqvae': ('VQ-VAE, codes without a prior', 'vqvae',
              lambda n: ['--dataset', 'mnist', '--samples', str(n)]),
    'dcgan': ('DCGAN', 'dcgan', lambda n: ['--dataset', 'mnist', '--eval-samples', str(n)]),
    'ddpm': ('DDPM, DDIM 50 steps', 'ddpm', lambda n: ['--dataset', 'mnist', '--samples', str(n)]),
    'ddpm1000': ('DDPM, 1000 steps', 'ddpm',
                 lambda n: ['--dataset', 'mnist', '--samples', str(n), '--resume', '--steps', '0',
                            '--sample-steps', '1000', '--eta', '1']),
    'pixelcnn': ('PixelCNN', 'pixelcnn',
                 lambda n: ['--dataset', 'mnist', '--samples-per-class', str(math.ceil(n / 10))]),
    'flow': ('RealNVP/Glow flow', 'flow', lambda n: ['--dataset', 'mnist', '--samples', str(n)]),
    'ebm': ('score model (NCSN)', 'ebm', lambda n: ['--dataset', 'mnist', '--samples', str(n)]),
    'stylegan': ('StyleGAN', 'stylegan', lambda n: ['--dataset', 'mnist', '--samples', str(n)]),
}
REUSES = {'ddpm1000': 'ddpm'}  # trained by another row: its checkpoint is copied, then resumed


def train_missing(key, folder, n, runs):
    """Runs the quick preset of MODELS[key] into `folder` unless it holds samples.npy."""
    if os.path.exists(os.path.join(folder, 'samples.npy')):
        return
    label, demo, argv = MODELS[key]
    if key in REUSES:  # sample again from the other row's trained network
        source = os.path.join(runs, REUSES[key])
        train_missing(REUSES[key], source, n, runs)
        os.makedirs(folder, exist_ok=True)
        shutil.copy(os.path.join(source, 'checkpoint.npz'), folder)
    print(f"demos.trilemma: {label}: python -m demos.{demo} {' '.join(argv(n))} --out {folder}")
    importlib.import_module(f'demos.{demo}').main(argv(n) + ['--out', folder])


def recorded_by(folder):
    """The metrics.json its demo wrote in `folder`."""
    with open(os.path.join(folder, 'metrics.json')) as f:
        return json.load(f)


def row_of(folder, n, net, feats_reference, trained_in=None):
    """The metrics of the first n samples in `folder`, and what its demo recorded; the
    training time from `trained_in` when another row's run trained the network."""
    samples, _ = load_samples(os.path.join(folder, 'samples.npy'), 'mnist')
    samples = samples[:n]
    recorded = recorded_by(folder)
    row = evaluate_features(net.features(samples), net.probs(samples), feats_reference,
                            kid_subsets=50)
    row['confident_fraction'] = float((np.asarray(net.probs(samples)).max(1) > 0.9).mean())
    row['sample_seconds_per_image'] = recorded.get('sample_seconds_per_image')
    row['train_minutes'] = recorded_by(trained_in or folder).get('train_seconds', 0) / 60 or None
    return {k: (float(v) if v is not None else None) for k, v in row.items()}, samples


def table(rows):
    """The rows as Markdown, the floor first, then the models in MODELS' order."""
    lines = ['| model | n | FID | KID | precision | recall | IS | confident | s / sample | '
             'train min |', '| --- |' + ' ---: |' * 9]
    fmt = lambda v, f: '-' if v is None else format(v, f)
    for label, r in rows.items():
        lines.append(f"| {label} | {int(r['n_samples'])} | {r['fid']:.3g} | {r['kid']:.3g} | "
                     f"{r['precision']:.2f} | {r['recall']:.2f} | {r['is']:.2f} | "
                     f"{r['confident_fraction']:.2f} | "
                     f"{fmt(r['sample_seconds_per_image'], '.2g')} | "
                     f"{fmt(r['train_minutes'], '.1f')} |")
    return '\n'.join(lines)


def draw(rows, shown, out):
    """trilemma.png: quality (precision) against coverage (recall), the marker's area
    growing with log speed; samples.png: ten samples per row."""
    timed = {k: r for k, r in rows.items() if r['sample_seconds_per_image']}
    speeds = {k: -math.log10(r['sample_seconds_per_image']) for k, r in timed.items()}
    lo = min(speeds.values(), default=0.0)
    points = np.array([[r['recall'], r['precision']] for r in rows.values()])
    radii = [4 + 3 * (speeds[k] - lo) if k in speeds else 3 for k in rows]
    viz.save_bubbles(points, radii, list(rows), os.path.join(out, 'trilemma.png'),
                     title='quality against coverage; larger = faster sampling',
                     xlabel='recall (coverage of the real digits)',
                     ylabel='precision (quality)')
    viz.save_image(np.concatenate([x[:10] for x in shown.values()]),
                   os.path.join(out, 'samples.png'), nrow=10, row_labels=list(shown))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_run_arguments(ap, 'trilemma', datasets=('mnist',), default_dataset='mnist')
    ap.add_argument('--runs', default=os.path.join('out', 'trilemma', 'runs'),
                    help="the models' own --out folders live in RUNS/<key>")
    ap.add_argument('--only', nargs='+', choices=tuple(MODELS), help='these rows (default all)')
    ap.add_argument('--n', type=positive_int, default=500, help='samples scored per model')
    ap.add_argument('--n-ddpm1000', type=positive_int, default=100,
                    help='samples of 1000-step ancestral DDPM (slow on a CPU)')
    ap.add_argument('--no-train', action='store_true',
                    help='score only rows whose folder already holds samples.npy')
    ap.add_argument('--mnist-root', default=os.path.normpath(MNIST_ROOT))
    args = parse_run_args(ap, argv)
    if args.resume:
        ap.error('--resume: demos.trilemma resumes each model by its folder under --runs')
    start = time.time()
    keys = args.only or list(MODELS)
    reference, pool = real_sets('mnist', args.n, 2000, args.mnist_root)
    net = load_feature_net('mnist')
    feats_reference = net.features(reference)
    floor = pool[np.random.default_rng(args.seed).choice(len(pool), args.n, replace=False)]
    rows = {'real digits (floor)': evaluate_features(net.features(floor), net.probs(floor),
                                                     feats_reference, kid_subsets=50)}
    rows['real digits (floor)'] |= {'confident_fraction': float(
        (np.asarray(net.probs(floor)).max(1) > 0.9).mean()), 'sample_seconds_per_image': None,
        'train_minutes': None}
    shown, skipped = {'real digits (floor)': floor}, {}
    for key in keys:
        folder, n = os.path.join(args.runs, key), args.n_ddpm1000 if key == 'ddpm1000' else args.n
        if not args.no_train:
            train_missing(key, folder, n, args.runs)
        if not os.path.exists(os.path.join(folder, 'samples.npy')):
            skipped[key] = f'no samples.npy in {folder}'
            continue
        label = MODELS[key][0]
        source = os.path.join(args.runs, REUSES[key]) if key in REUSES else None
        rows[label], shown[label] = row_of(folder, n, net, feats_reference, source)
    text = table(rows)
    print(text)
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, 'table.md'), 'w') as f:
        f.write(text + '\n')
    draw(rows, shown, args.out)
    metrics = {'settings': vars(args), 'rows': rows, 'skipped': skipped,
               'table': text.splitlines(), 'seconds': round(time.time() - start, 1)}
    with open(os.path.join(args.out, 'metrics.json'), 'w') as f:
        json.dump(metrics, f, indent=2)
    return metrics


if __name__ == '__main__':
    main()
