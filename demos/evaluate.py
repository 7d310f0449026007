"""Put numbers on a sample set: FID, KID, IS, precision and recall against held-out real
images, beside the real-vs-real floor and, if asked, deliberately bad sets.

The metrics and their papers (minigen/metrics/):
    FID   Heusel et al. 2017 (arXiv:1706.08500)  |mu_r - mu_g|^2 + tr(S_r + S_g - 2 sqrt(S_r S_g))
    KID   Binkowski et al. 2018 (arXiv:1801.01401)  unbiased MMD^2, k(x, y) = (x.y / d + 1)^3
    IS    Salimans et al. 2016 (arXiv:1606.03498)  exp E_x KL(p(y|x) || p(y))
    P/R   Kynkaanniemi et al. 2019 (arXiv:1904.06991)  samples inside the real k-NN balls
          (precision), real images inside the samples' k-NN balls (recall), k = 3
Features and class probabilities come from minigen's own classifiers
(minigen.metrics.features, 128-d penultimate layer), not Inception: "classifier" FID/KID/IS.

Real data. MNIST: the reference is the last 2,000 digits of the MNIST test set (held out
from the feature net and, by convention, from every minigen MNIST demo, which train on the
first 8,000); the floor compares it with n digits of the first 8,000, where n is the
number of samples, as a perfect generator would. Shapes: make_shapes seeds 3 (reference,
2,000 images) and 4 (floor). FID falls as n grows: compare rows of equal n only.

    python -m demos.evaluate --samples out/ddpm/samples.npy --dataset shapes
    python -m demos.evaluate --dataset mnist --bad noise blur collapse [--n 2000]

--samples: a .npy of images (N, C, H, W) or (N, H, W) in [0, 1], or a folder of PNGs.
--bad: noise (uniform pixels), blur (real images blurred with sigma 1.5 px), collapse
(n copies of 10 real images, slightly jittered: good images, no diversity).
Writes to --out, and prints the table: metrics.json (the table, the floor against n, the
settings and run time), sets.png (the first images of each set, labelled with its FID),
fid_vs_n.png and kid_vs_n.png (the real-vs-real floor for n = 25 ... n: FID's estimate
falls as n grows because it is biased; KID's shows no trend in n because it is not).
"""
import argparse
import json
import os
import time

import numpy as np

from minigen import viz
from minigen.data.augment import gaussian_blur
from minigen.data.folder import EXTENSIONS, load_image
from minigen.data.idx import load_mnist
from minigen.data.shapes import make_shapes
from minigen.metrics import evaluate_features, fid, kid, load_feature_net
from minigen.metrics.train_features import MNIST_ROOT

SIZES = {'mnist': (1, 28), 'shapes': (3, 32)}


def real_sets(dataset, n, n_reference, mnist_root):
    """(reference, floor pool): n_reference held-out real images, and training-side images."""
    if dataset == 'mnist':
        x, _ = load_mnist('test', root=mnist_root, download=False)
        return x[8000:8000 + n_reference], x[:8000]
    return make_shapes(n_reference, seed=3).images, make_shapes(n, seed=4).images


def load_samples(path, dataset):
    """Images (N, C, H, W) float32 in [0, 1] from a .npy file or a folder of images."""
    c, s = SIZES[dataset]
    if os.path.isdir(path):
        names = sorted(f for f in os.listdir(path) if f.lower().endswith(EXTENSIONS))
        if not names:
            raise ValueError(f"demos.evaluate: no images in the folder {path}")
        x = np.stack([load_image(os.path.join(path, f), (s, s)) for f in names])
        x = x.mean(axis=1, keepdims=True) if c == 1 else x
    else:
        x = np.load(path).astype(np.float32)
        x = x[:, None] if x.ndim == 3 else x
    if x.ndim != 4 or x.shape[1:] != (c, s, s):
        raise ValueError(f"demos.evaluate: {dataset} samples must be ({c}, {s}, {s}) images, "
                         f"got an array of shape {x.shape} from {path}")
    if x.min() < -1e-3 or x.max() > 1 + 1e-3:
        raise ValueError(f"demos.evaluate: samples must lie in [0, 1], found "
                         f"{x.min():.3g}..{x.max():.3g} in {path} (map [-1, 1] with (x + 1) / 2)")
    return np.clip(x, 0, 1)


def bad_set(kind, pool, n, rng):
    """A deliberately bad sample set of n images built from real images `pool`."""
    pick = pool[rng.choice(len(pool), n, replace=False)]
    if kind == 'noise':
        return rng.random(pick.shape, dtype=np.float32)
    if kind == 'blur':
        return gaussian_blur(pick, np.full(n, 1.5, np.float32), kernel_size=7)
    few = pool[rng.choice(len(pool), 10, replace=False)]           # collapse onto 10 images
    jittered = few[np.arange(n) % 10] + 0.02 * rng.normal(size=pick.shape)
    return np.clip(jittered, 0, 1).astype(np.float32)


def format_table(rows):
    """The rows as a Markdown table (it prints readably and pastes into a README)."""
    lines = ['| set | n | FID | KID | IS | precision | recall |',
             '| --- | ---: | ---: | ---: | ---: | ---: | ---: |']
    lines += [f"| {name} | {r['n_samples']} | {r['fid']:.3g} | "
              f"{r['kid']:.4g} ± {r['kid_std']:.3g} | "
              f"{r['is']:.2f} ± {r['is_std']:.2f} | {r['precision']:.3f} | {r['recall']:.3f} |"
              for name, r in rows.items()]
    return '\n'.join(lines)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--samples', help='.npy of images in [0, 1] or a folder of PNGs')
    ap.add_argument('--dataset', choices=SIZES, default='mnist')
    ap.add_argument('--bad', nargs='*', choices=('noise', 'blur', 'collapse'), default=[])
    ap.add_argument('--n', type=int, default=2000, help='size of the floor and bad sets '
                    '(default 2000; with --samples, the number of samples)')
    ap.add_argument('--n-reference', type=int, default=2000,
                    help='held-out real images (at most 2000 for mnist)')
    ap.add_argument('--kid-subsets', type=int, default=100)
    ap.add_argument('--seed', type=int, default=0)
    ap.add_argument('--mnist-root', default=os.path.normpath(MNIST_ROOT))
    ap.add_argument('--out', default='out/evaluate')
    args = ap.parse_args(argv)
    start, rng = time.time(), np.random.default_rng(args.seed)
    samples = load_samples(args.samples, args.dataset) if args.samples else None
    n = len(samples) if samples is not None else args.n
    reference, pool = real_sets(args.dataset, n, args.n_reference, args.mnist_root)
    if n > len(pool):
        raise ValueError(f"demos.evaluate: at most {len(pool)} images for the real-vs-real "
                         f"floor, got n = {n}")
    net = load_feature_net(args.dataset)
    feats_reference = net.features(reference)                     # computed once for every row

    sets = {'real vs real (floor)': pool[rng.choice(len(pool), n, replace=False)]}
    if samples is not None:
        sets[os.path.basename(os.path.normpath(args.samples))] = samples
    for kind in args.bad:
        sets[f'bad: {kind}'] = bad_set(kind, pool, n, rng)
    rows, floor_feats = {}, None
    for name, x in viz.progress(sets.items(), desc='scoring'):
        feats = net.features(x)
        floor_feats = feats if floor_feats is None else floor_feats
        rows[name] = evaluate_features(feats, net.probs(x), feats_reference,
                                       kid_subsets=args.kid_subsets)
    # The floor against n: FID's estimate shrinks as n grows (it is biased), KID's does not.
    sizes = [m for m in (25, 50, 100, 200, 500, 1000, 2000, 4000) if m < n] + [n]
    floor_vs_n = {'n': sizes, 'fid': [fid(feats_reference, floor_feats[:m]) for m in sizes],
                  'kid': [kid(feats_reference, floor_feats[:m], subsets=20)[0] for m in sizes]}
    table = format_table(rows)
    print(f"{args.dataset}: against {len(reference)} held-out real images\n{table}")
    os.makedirs(args.out, exist_ok=True)
    shown = min(12, n)
    viz.save_image(np.concatenate([x[:shown] for x in sets.values()]),
                   os.path.join(args.out, 'sets.png'), nrow=shown, scale=2,
                   row_labels=[f"{name}: FID {r['fid']:.3g}" for name, r in rows.items()])
    log_n = np.log10(sizes)
    viz.save_curves({'FID, real vs real': (log_n, floor_vs_n['fid'])},
                    os.path.join(args.out, 'fid_vs_n.png'),
                    title=f'FID floor falls with n (biased); {len(reference)} reference images',
                    xlabel='log10 n', ylabel='FID')
    viz.save_curves({'KID, real vs real': (log_n, floor_vs_n['kid']), 'zero': (log_n, 0 * log_n)},
                    os.path.join(args.out, 'kid_vs_n.png'),
                    title='KID floor against n (unbiased: no trend in n)',
                    xlabel='log10 n', ylabel='KID')
    metrics = {'settings': vars(args), 'n_reference': len(reference), 'rows': rows,
               'floor_vs_n': floor_vs_n,
               'table': table.splitlines(), 'seconds': round(time.time() - start, 1)}
    with open(os.path.join(args.out, 'metrics.json'), 'w') as f:
        json.dump(metrics, f, indent=2)
    return metrics


if __name__ == '__main__':
    main()
