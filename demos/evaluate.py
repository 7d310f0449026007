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

--samples: a .npy of images (N, C, H, W) or (N, H, W) in [0, 1], or a folder of images, at
any size with 1 or 3 channels: they are brought to the feature net's input (MNIST 1x28x28,
shapes 3x32x32) as demos.conventions.fit_to_feature_net does, an integer enlargement by
pixel repetition (16x16 -> 32x32), other sizes bilinearly, grey repeated to RGB or RGB
averaged to grey; metrics.json records it ("resized_from": [16, 16], "channels_from": 1).
An input it cannot score (a missing file, another shape, values outside [0, 1]) is refused
in one line naming demos.evaluate. --device is the common flag of every demo: the feature
nets run on the CPU whatever it says (samples on a GPU come back to the CPU).
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
from PIL import Image

from minigen import viz
from minigen.data.augment import gaussian_blur
from minigen.data.folder import EXTENSIONS, load_image
from minigen.data.idx import load_mnist
from minigen.data.shapes import make_shapes
from minigen.metrics import evaluate_features, fid, kid, load_feature_net

from demos.conventions import (FEATURE_NET_INPUT, MNIST_ROOT, add_run_arguments,
                               fit_to_feature_net, parse_run_args, positive_int)


def real_sets(dataset, n, n_reference, mnist_root):
    """(reference, floor pool): n_reference held-out real images, and training-side images."""
    if dataset == 'mnist':
        try:
            x, _ = load_mnist('test', root=mnist_root, download=False)
        except FileNotFoundError:
            raise SystemExit(f"demos.evaluate: no MNIST IDX files (t10k-images-idx3-ubyte, "
                             f"t10k-labels-idx1-ubyte, optionally .gz) in {mnist_root}; give "
                             f"their folder with --mnist-root") from None
        return x[8000:8000 + n_reference], x[:8000]
    return make_shapes(n_reference, seed=3).images, make_shapes(n, seed=4).images


def refuse(message):
    """One line on stderr and exit status 1: an input this tool cannot score."""
    raise SystemExit(f"demos.evaluate: {message}")


def read_samples(path):
    """The images of a .npy file or a folder of images, as float32 (N, C, H, W)."""
    if os.path.isdir(path):
        names = sorted(f for f in os.listdir(path) if f.lower().endswith(EXTENSIONS))
        if not names:
            refuse(f"no images ({', '.join(EXTENSIONS)}) in the folder {path}")
        try:
            with Image.open(os.path.join(path, names[0])) as first:  # every image at its size
                size = first.height, first.width
            x = np.stack([load_image(os.path.join(path, f), size) for f in names])
        except (ValueError, OSError) as e:
            refuse(f"cannot read the images in {path} ({e})")
        grey = all(np.allclose(x[:, 0], x[:, c]) for c in (1, 2))
        return x[:, :1] if grey else x
    if not os.path.isfile(path):
        refuse(f"no file or folder {path}")
    try:
        x = np.load(path, allow_pickle=False)
    except (ValueError, OSError) as e:
        refuse(f"cannot read {path} as a .npy array ({e})")
    if x.dtype.kind not in 'fiub':
        refuse(f"{path} holds {x.dtype} values, not image numbers")
    x = x.astype(np.float32)
    return x[:, None] if x.ndim == 3 else x


def load_samples(path, dataset):
    """Images float32 (N, C, H, W) in [0, 1] at the feature net's input, from a .npy file or
    a folder of images, and what was done to fit them ({} or resized_from / channels_from)."""
    x = read_samples(path)
    if x.ndim != 4 or x.shape[1] not in (1, 3) or len(x) < 4 or min(x.shape[2:]) < 4:
        refuse(f"samples must be at least 4 images (N, C, H, W) or (N, H, W) with C = 1 or 3, "
               f"got an array of shape {x.shape} from {path}")
    if not np.isfinite(x).all():
        refuse(f"samples must lie in [0, 1], found non-finite values (NaN or inf) in {path}")
    if x.min() < -1e-3 or x.max() > 1 + 1e-3:
        refuse(f"samples must lie in [0, 1], found {x.min():.3g}..{x.max():.3g} in {path} "
               f"(map [-1, 1] with (x + 1) / 2)")
    return fit_to_feature_net(np.clip(x, 0, 1), dataset)


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
    add_run_arguments(ap, 'evaluate', datasets=tuple(FEATURE_NET_INPUT), default_dataset='mnist')
    ap.add_argument('--samples', help='.npy of images in [0, 1] or a folder of images')
    ap.add_argument('--bad', nargs='*', choices=('noise', 'blur', 'collapse'), default=[])
    ap.add_argument('--n', type=positive_int, default=2000, help='size of the floor and bad sets '
                    '(default 2000; with --samples, the number of samples)')
    ap.add_argument('--n-reference', type=positive_int, default=2000,
                    help='held-out real images (at most 2000 for mnist)')
    ap.add_argument('--kid-subsets', type=positive_int, default=100)
    ap.add_argument('--mnist-root', default=os.path.normpath(MNIST_ROOT))
    args = parse_run_args(ap, argv)
    if args.resume:
        ap.error('--resume: demos.evaluate trains nothing, so there is nothing to continue')
    if args.n < 4 or args.n_reference < 4:
        ap.error(f"--n and --n-reference must be at least 4, got {args.n} and {args.n_reference}")
    start, rng = time.time(), np.random.default_rng(args.seed)
    samples, fitted = load_samples(args.samples, args.dataset) if args.samples else (None, {})
    n = len(samples) if samples is not None else args.n
    reference, pool = real_sets(args.dataset, n, args.n_reference, args.mnist_root)
    if n > len(pool):
        refuse(f"at most {len(pool)} images for the real-vs-real floor, got n = {n}")
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
    metrics = {'settings': vars(args), 'n_reference': len(reference), 'rows': rows, **fitted,
               'floor_vs_n': floor_vs_n,
               'table': table.splitlines(), 'seconds': round(time.time() - start, 1)}
    with open(os.path.join(args.out, 'metrics.json'), 'w') as f:
        json.dump(metrics, f, indent=2)
    return metrics


if __name__ == '__main__':
    main()
