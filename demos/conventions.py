"""What every training demo shares: flags, presets, data, resuming, checkpoints during
training, and its outputs (demos/README.md, "conventions").

A demo reads top to bottom as a short lab:

    PRESETS = {'quick': dict(steps=600, batch_size=64, lr=1e-3, samples=256,   # ~minutes, 2 cores
                             checkpoint_every=200),
               'full':  dict(steps=20000, batch_size=128, lr=2e-4, samples=2000,
                             checkpoint_every=1000, mnist=dict(lr=1e-3))}  # per-dataset overrides

    def main(argv=None):
        ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
        ap.add_argument('--steps', type=count)         # a flag named like a preset key overrides it
        ap.add_argument('--batch-size', type=positive_int)   # refused at parse time if 0
        add_run_arguments(ap, 'NAME', PRESETS, datasets=('mnist', 'shapes'))
        args = parse_run_args(ap, argv)                # also makes --device the default device
        hp = resolve_preset(args, PRESETS)             # preset, then dataset overrides, then flags
        data = load_image_dataset(args.dataset, size=28, seed=args.seed, demo='NAME')
        run = TrainingCheckpoints(args, 'NAME', config, {'model': model, 'opt': opt},
                                  hp['checkpoint_every'], extra=lambda: {'losses': losses})
        step, saved = run.resume()
        with run:                                      # SIGINT/SIGTERM: save, then stop
            for step in range(step, run.end(step, hp['steps'], saved)):
                ...                                    # one training step
                run.step_done(step + 1)                # saves every checkpoint_every steps
        run.save(step + 1)
        write_samples(args.out, samples, 'NAME')      # samples.npy: (N, C, H, W) in [0, 1]
        return write_metrics(args.out, metrics)        # metrics.json, and a summary on stdout

MNIST_ROOT is where the MNIST demos look for the IDX files: ../shared/data/mnist beside the
checkout, or the folder named by the environment variable MINIGEN_MNIST. Only the 10,000
test digits are assumed: the first 8,000 train, the last 2,000 are held out.
"""
import argparse
import json
import os
import signal
import sys
from collections import namedtuple

import numpy as np

import autograd
import minigen

MNIST_ROOT = os.environ.get('MINIGEN_MNIST', os.path.normpath(os.path.join(
    os.path.dirname(os.path.abspath(__file__)), '..', '..', 'shared', 'data', 'mnist')))


# ----------------------------------------------------------------------------- flags, presets

def _number(kind, test, what):
    """An argparse type: `kind` of the text, refused (exit status 2) unless test(value)."""
    def parse(text):
        value = kind(text)
        if not test(value):
            raise argparse.ArgumentTypeError(f"must be {what}, got {text}")
        return value
    parse.__name__ = kind.__name__  # argparse names it in "invalid int value"
    return parse


positive_int = _number(int, lambda v: v > 0, 'a positive integer')
count = _number(int, lambda v: v >= 0, 'a non-negative integer')
positive_float = _number(float, lambda v: v > 0, 'positive')
non_negative_float = _number(float, lambda v: v >= 0, 'non-negative')
unit_float = _number(float, lambda v: 0 <= v <= 1, 'between 0 and 1')


def existing_path(text):
    """An argparse type: a path that exists (another run's folder or checkpoint), refused
    at parse time (exit status 2) otherwise."""
    if not os.path.exists(text):
        raise argparse.ArgumentTypeError(f"{text}: no such file or folder")
    return text


def add_run_arguments(ap, name, presets=None, datasets=None, default_dataset=None,
                      checkpoints=False):
    """--preset (the keys of `presets`, default 'quick'), --dataset (its choices listed, even
    when there is one), --device cpu|cuda, --seed, --out (default out/NAME), --resume and,
    with `checkpoints` (the presets then hold checkpoint_every), --checkpoint-every N."""
    if presets is not None:
        ap.add_argument('--preset', choices=tuple(presets), default='quick',
                        help='quick: minutes on 2 CPU cores; full: for a GPU')
    if datasets is not None:
        ap.add_argument('--dataset', choices=tuple(datasets),
                        default=default_dataset or datasets[0])
    ap.add_argument('--device', choices=('cpu', 'cuda'), default='cpu')
    ap.add_argument('--seed', type=int, default=0)
    ap.add_argument('--out', default=f'out/{name}')
    ap.add_argument('--resume', action='store_true', help='continue from --out/checkpoint.npz')
    if checkpoints:
        ap.add_argument('--checkpoint-every', type=positive_int, metavar='N',
                        help='steps between checkpoints during training (preset default); '
                             'SIGINT/SIGTERM also save before stopping')


def parse_run_args(ap, argv=None, steps_zero_means=None):
    """ap.parse_args(argv), then --device made the engine's default device, before anything
    is built: with MINIGEN_DEVICE=cuda, `--device cpu` still builds every module on the CPU.
    steps_zero_means: what `--steps 0` does for a saved run (e.g. 'evaluate a saved run');
    given, `--steps 0` without --resume is refused at parse time (there is nothing to use)."""
    args = ap.parse_args(argv)
    if steps_zero_means and args.steps == 0 and not args.resume:
        ap.error(f'--steps must be positive (0 only with --resume, to {steps_zero_means})')
    autograd.backend.set_default_device(args.device)
    return args


def resolve_preset(args, presets):
    """The run's settings: the preset's values, then its overrides for args.dataset (a dict
    under the dataset's name), then every flag named like a key that was given (not None)."""
    preset = dict(presets[args.preset])
    overrides = {}
    for key in list(preset):
        if isinstance(preset[key], dict):
            sub = preset.pop(key)
            if key == getattr(args, 'dataset', None):
                overrides = sub
    hp = preset | overrides
    for key in hp:
        given = getattr(args, key, None)
        if given is not None:
            hp[key] = tuple(given) if isinstance(given, list) else given
    return hp


# ----------------------------------------------------------------------------- data

ImageData = namedtuple('ImageData', 'train labels class_names held held_labels name')
ImageData.__doc__ = """Images (N, C, H, W) in [0, 1] to train on, their int labels, the class
names, held-out images and labels (for the quality figures), and the dataset's name."""


def load_image_dataset(name, size=None, n_train=8000, n_held=2000, seed=0, data_dir=None,
                       demo='demo', fallback=False, shapes_sizes=None):
    """'mnist' (28 px; the test split: 8,000 train, 2,000 held out), 'shapes' (size px, 32
    by default; the class is the shape; `shapes_sizes` keeps only objects of those sizes) or
    'folder' (one sub-folder of images per class under data_dir). Without the MNIST files,
    fall back to shapes with a message when `fallback`, else refuse in one clear line."""
    from minigen.data.shapes import SHAPES, SIZES, make_shapes_of_sizes
    if name == 'mnist':
        from minigen.data.idx import load_mnist
        root = data_dir or MNIST_ROOT
        try:
            x, y = load_mnist('test', root=root, download=False)
        except FileNotFoundError as err:
            if not fallback:
                raise SystemExit(f"demos.{demo}: no MNIST IDX files (t10k-images-idx3-ubyte, "
                                 f"t10k-labels-idx1-ubyte, optionally .gz) in {root}; set "
                                 f"MINIGEN_MNIST or --data-dir to their folder") from err
            print(f"demos.{demo}: MNIST not found in {root}; falling back to --dataset shapes")
            return load_image_dataset('shapes', None, n_train, n_held, seed, demo=demo)
        n_train = min(n_train, len(x) - n_held)
        return ImageData(x[:n_train], y[:n_train], tuple(map(str, range(10))),
                         x[-n_held:], y[-n_held:], 'mnist')
    if name == 'shapes':
        sizes, size = shapes_sizes or SIZES, size or 32
        train = make_shapes_of_sizes(n_train, sizes, size, seed)
        held = make_shapes_of_sizes(n_held, sizes, size, seed + 12345)
        return ImageData(train.images, train.attrs['shape'], tuple(SHAPES),
                         held.images, held.attrs['shape'], 'shapes')
    if name == 'folder':
        from minigen.data.folder import load_image_folder
        if not data_dir:
            raise SystemExit(f"demos.{demo}: --dataset folder needs --data-dir ROOT with one "
                             f"sub-folder of images per class")
        x, y, classes = load_image_folder(data_dir, size=size or 32)
        order = np.random.default_rng(seed).permutation(len(x))
        held = order[:min(n_held, len(x) // 5)]
        train = order[len(held):]
        return ImageData(x[train], y[train], tuple(classes), x[held], y[held], 'folder')
    raise SystemExit(f"demos.{demo}: unknown dataset {name!r}")


# ----------------------------------------------------------------------------- checkpoints

def _plain(value):
    """A config as it comes back from a checkpoint: tuples as lists, NumPy scalars as numbers."""
    return json.loads(json.dumps(value, default=lambda v: v.tolist()))


def checkpoint_path(out):
    return os.path.join(out, 'checkpoint.npz')


def resume(args, demo, config, state):
    """Continue a run: with --resume, load OUT/checkpoint.npz, refuse it if another demo wrote
    it or its config (what shapes the run: dataset, sizes, ...) differs from `config`, load
    every object of `state` (anything with load_state_dict: models, optimizers, EMA,
    schedules) and the RNG, and return (step, the extra arrays saved beside them). Without
    --resume: (0, {})."""
    if not args.resume:
        return 0, {}
    path = checkpoint_path(args.out)
    if not os.path.exists(path):
        raise SystemExit(f"demos.{demo} --resume: no checkpoint at {path}; run once without "
                         f"--resume first")
    ckpt = minigen.load(path)
    written_by = ckpt.get('demo')
    if written_by not in (None, demo):
        raise SystemExit(f"demos.{demo} --resume: {path}: this checkpoint was written by "
                         f"demos.{written_by}, not demos.{demo}")
    missing = {'step', 'config', 'state', 'rng'} - set(ckpt)
    if missing:
        raise SystemExit(f"demos.{demo} --resume: {path} is not a demo's checkpoint (no "
                         f"{', '.join(sorted(missing))})")
    if _plain(ckpt['config']) != _plain(config):
        raise SystemExit(f"demos.{demo} --resume: {path} holds a run with {ckpt['config']}; "
                         f"this run asks for {_plain(config)}")
    if set(ckpt['state']) != set(state):
        raise SystemExit(f"demos.{demo} --resume: {path} holds {sorted(ckpt['state'])}; this "
                         f"run needs {sorted(state)}")
    for key, obj in state.items():
        obj.load_state_dict(ckpt['state'][key])
    autograd.backend.set_rng_state(ckpt['rng'])
    return int(ckpt['step']), ckpt['extra']


def save_checkpoint(out, step, config, state, demo=None, **extra):
    """Write OUT/checkpoint.npz (atomically): the demo's name (what --resume checks), the
    step, the config, every object's state_dict, the RNG state and any extra arrays or dicts
    (losses, histories)."""
    minigen.save({'demo': demo, 'step': step, 'config': _plain(config),
                  'state': {key: obj.state_dict() for key, obj in state.items()},
                  'rng': autograd.backend.get_rng_state(), 'extra': extra},
                 checkpoint_path(out))


class TrainingCheckpoints:
    """Checkpoints while a demo trains, so that a kill loses at most `every` steps:

    - run.step_done(step) after each step saves OUT/checkpoint.npz every `every` steps;
    - inside `with run:` SIGINT (Ctrl-C) and SIGTERM (a scheduler's preemption) are held
      until the step ends, then the run saves and stops (exit status 128 + the signal); a
      second signal stops at once;
    - the saves written during training record `until`, the step the run was heading for,
      and run.end() of a --resume finishes that run: on the CPU the result is bit for bit the
      uninterrupted run's (the RNG state is in every checkpoint). After a finished run,
      `--steps N --resume` trains N more steps.

    `extra()` gives the arrays and histories saved beside the state (read at each save)."""

    def __init__(self, args, demo, config, state, every, extra=dict):
        self.args, self.demo, self.config, self.state = args, demo, config, state
        self.every, self.extra, self.until, self.caught = every, extra, None, None
        self.previous = {}

    def resume(self):
        """resume(): (step, saved extras); (0, {}) without --resume."""
        return resume(self.args, self.demo, self.config, self.state)

    def end(self, step, steps, saved):
        """The step this run trains to: where an interrupted run was heading, else step +
        steps (`steps` 0: none, to evaluate a saved run again)."""
        if steps == 0:
            self.until = step
        elif saved.get('until') is not None:
            self.until = int(saved['until'])
            print(f"demos.{self.demo}: continuing the interrupted run from step {step} to "
                  f"{self.until}")
        else:
            self.until = step + steps
        return self.until

    def save(self, step, **until):
        save_checkpoint(self.args.out, step, self.config, self.state, demo=self.demo,
                        **self.extra(), **until)

    def step_done(self, step):
        """After each step: save every `every` steps (the final save comes after the loop),
        or save and stop if a signal came during the step."""
        if self.caught is not None:
            self.save(step, until=self.until)
            name = signal.Signals(self.caught).name
            print(f"demos.{self.demo}: {name} at step {step}: saved "
                  f"{checkpoint_path(self.args.out)}; --resume continues", file=sys.stderr)
            raise SystemExit(128 + self.caught)
        if step % self.every == 0 and step != self.until:
            self.save(step, until=self.until)

    def _catch(self, signum, frame):
        self.caught = signum
        signal.signal(signum, self.previous[signum])  # a second one acts at once

    def __enter__(self):
        try:
            self.previous = {s: signal.signal(s, self._catch)
                             for s in (signal.SIGINT, signal.SIGTERM)}
        except ValueError:  # not the main thread: signals cannot be caught here
            self.previous = {}
        return self

    def __exit__(self, *exc):
        for s, handler in self.previous.items():
            signal.signal(s, handler)


def fresh_streams(names, seed):
    """For a demo that trains several models in turn, one random stream per run, seeded
    seed, seed + 100, ...: each run's RNG state, kept in its checkpoint so that --resume
    continues every run exactly."""
    streams = {}
    for i, name in enumerate(names):
        autograd.manual_seed(seed + 100 * i)
        streams[name] = autograd.backend.get_rng_state()
    return streams


def run_ends(history, steps, saved):
    """The step each of several runs trains to: where an interrupted run was heading
    (saved 'until'), else `steps[name]` more; a run's step count is the length of its loss
    history."""
    if saved.get('until') is not None:
        return dict(saved['until'])
    return {name: len(history[name]) + steps[name] for name in history}


def gan_log(saved, keys=('trajectory', 'grids')):
    """A GAN demo's run log (dcgan, cgan, stylegan), continued from its checkpoint's extras
    `saved`: the (L_D, L_G) losses of every step, 'trajectory' (the metrics at each
    evaluation) and, for the demos with progress.gif, 'grids' (the fixed-noise grids);
    eval_seconds counts this run's evaluations only."""
    return ({'losses': [list(r) for r in saved.get('losses', [])], 'eval_seconds': 0.0}
            | {k: list(saved.get(k, [])) for k in keys})


def gan_log_extra(log):
    """What of a gan_log each checkpoint keeps (TrainingCheckpoints' `extra`)."""
    return {'losses': np.array(log['losses'])} | {k: log[k] for k in ('trajectory', 'grids')
                                                   if k in log}


# ----------------------------------------------------------------------------- outputs

def write_samples(out, samples, demo='demo'):
    """Save OUT/samples.npy, the demo's generated images as float32 (N, C, H, W) in [0, 1]
    (what `python -m demos.evaluate --samples` reads); refuse anything else."""
    samples = np.asarray(samples, dtype=np.float32)
    if samples.ndim != 4 or samples.shape[1] not in (1, 3) or not np.isfinite(samples).all() \
            or samples.min() < 0 or samples.max() > 1:
        raise ValueError(f"demos.{demo}: samples must be finite (N, C, H, W) in [0, 1] with C = "
                         f"1 or 3, got {samples.shape} in [{samples.min():.3g}, "
                         f"{samples.max():.3g}]")
    np.save(os.path.join(out, 'samples.npy'), samples)
    return samples


def write_captions(out, captions):
    """Write OUT/captions.txt, one caption a line: the captions of samples.npy, in order."""
    with open(os.path.join(out, 'captions.txt'), 'w') as f:
        f.write(''.join(c + '\n' for c in captions))


def write_metrics(out, metrics, hide=('settings',)):
    """Write `metrics` to OUT/metrics.json, print it without the keys in `hide` (long
    settings or histories), and return it. NumPy scalars are written as floats."""
    with open(os.path.join(out, 'metrics.json'), 'w') as f:
        json.dump(metrics, f, indent=2, default=float)
    print(json.dumps({k: v for k, v in metrics.items() if k not in hide}, indent=1,
                     default=float))
    return metrics


# ----------------------------------------------------------------------------- quality figures

def fixed_noise(seed, shape, device='cpu'):
    """N(0, I) noise of `shape` (float32) from a generator of its own seeded `seed`: the
    same x_T whatever ran before, e.g. one x_T shared by the panels of a guidance sweep."""
    return autograd.tensor(np.random.default_rng(seed).standard_normal(shape).astype(
        np.float32), device=device)


def to_unit(x):
    """Images in [-1, 1] (a Tensor or an array), the range the diffusion demos' models
    work in, as a NumPy array in [0, 1]."""
    x = x.numpy() if hasattr(x, 'numpy') else np.asarray(x)
    return np.clip((x + 1) / 2, 0, 1)


FEATURE_NET_INPUT = {'mnist': (1, 28), 'shapes': (3, 32)}  # (C, side) of minigen.metrics' nets


def halve(images):
    """Images (N, C, H, W) -> (N, C, H/2, W/2), each pixel the mean of a 2x2 block (how the
    16x16 demos bring 32x32 images, and masks, down)."""
    n, c, h, w = images.shape
    return images.reshape(n, c, h // 2, 2, w // 2, 2).mean(axis=(3, 5))


def fit_to_feature_net(images, dataset):
    """Images (N, C, H, W) in [0, 1] brought to the input of `dataset`'s feature net
    (minigen.metrics.load_feature_net): an integer enlargement by pixel repetition (each
    pixel a square, as the 16x16 shapes demos are shown), any other size bilinearly
    (minigen.nn.functional.interpolate), grey repeated to RGB or RGB averaged to grey. Returns the
    images and what was done, for metrics.json: {'resized_from': [H, W]} and/or
    {'channels_from': C}, or {} when they already fit."""
    c, side = FEATURE_NET_INPUT[dataset]
    x = np.asarray(images, dtype=np.float32)
    done = {}
    if x.shape[2:] != (side, side):
        done['resized_from'] = list(x.shape[2:])
        h, w = x.shape[2:]
        if side % h == 0 and side % w == 0:
            x = x.repeat(side // h, axis=2).repeat(side // w, axis=3)
        else:
            from minigen.nn.functional import interpolate
            x = interpolate(autograd.tensor(x), size=(side, side), mode='bilinear')
            x = np.clip(x.numpy(), 0, 1)
    if x.shape[1] != c:
        done['channels_from'] = int(x.shape[1])
        x = x.mean(axis=1, keepdims=True) if c == 1 else x.repeat(c, axis=1)
    return x, done


def sample_quality(samples, real, dataset, reference=None):
    """FID/KID/IS/precision/recall (minigen.metrics) of `samples` against `real`, both
    brought to the feature net's input by fit_to_feature_net (what was done is recorded),
    and the confident fraction: the share of samples whose top class probability exceeds
    0.9. With `reference` (other real images, e.g. training ones), also the floor the
    samples are read against: `fid_real` (reference against real) and
    `confident_fraction_real`. {'unavailable': reason} when `dataset` has no feature net
    or it cannot be loaded."""
    if dataset not in FEATURE_NET_INPUT:
        return {'unavailable': f'no feature net for dataset {dataset!r}'}
    from minigen import metrics
    try:
        net = metrics.load_feature_net(dataset)
    except (ImportError, OSError, ValueError) as err:
        return {'unavailable': f'{type(err).__name__}: {err}'}
    samples, done = fit_to_feature_net(samples, dataset)
    real, _ = fit_to_feature_net(real, dataset)
    probs, real_features = np.asarray(net.probs(samples)), net.features(real)
    q = metrics.evaluate_features(net.features(samples), probs, real_features)
    q['confident_fraction'] = float((probs.max(1) > 0.9).mean())
    if reference is not None:
        reference, _ = fit_to_feature_net(reference, dataset)
        q['fid_real'] = metrics.fid(net.features(reference), real_features)
        q['confident_fraction_real'] = float((np.asarray(net.probs(reference)).max(1) > 0.9)
                                             .mean())
    return {k: float(v) for k, v in q.items()} | done


def held_out_quality(samples, data, demo='demo'):
    """sample_quality of `samples` against as many held-out images of `data` (ImageData),
    with as many training images as the reference whose `fid_real` is the floor the
    samples' FID is read against, and the number of images used. {} for a dataset without
    a feature net; {'quality_skipped': why} (and a line on stdout) when the figures fail."""
    if data.name not in FEATURE_NET_INPUT:
        return {}
    try:
        n = min(len(samples), len(data.held))
        q = sample_quality(samples, data.held[:n], data.name, reference=data.train[:n])
    except Exception as e:  # the metrics package is optional for the demos
        q = {'unavailable': f"{type(e).__name__}: {e}"}
    if 'unavailable' in q:
        print(f"demos.{demo}: quality figures skipped ({q['unavailable']})")
        return {'quality_skipped': q['unavailable']}
    return q | {'quality_images': n}


# ----------------------------------------------------------------------------- held-out passes

def in_batches(fn, x, device='cpu', batch=500):
    """fn applied to x (a NumPy array) in chunks of `batch` without gradient, concatenated
    as NumPy: a model over a whole held-out set."""
    with autograd.no_grad():
        return np.concatenate([fn(autograd.tensor(x[i:i + batch], device=device)).numpy()
                               for i in range(0, len(x), batch)])


def reconstruction_quality(target, output):
    """Reconstruction MSE, PSNR = 10 log10(1 / MSE) (dB) and SSIM (Wang, Bovik, Sheikh &
    Simoncelli 2004, "Image Quality Assessment: From Error Visibility to Structural
    Similarity") of images in [0, 1]."""
    from minigen import metrics
    return {'mse': float(np.mean((target - output) ** 2)),
            'psnr': metrics.psnr(target, output), 'ssim': metrics.ssim(target, output)}
