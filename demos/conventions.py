"""The command-line flags every training demo shares (demos/README.md, "conventions").

    ap = argparse.ArgumentParser(...)
    ...                                # the demo's own flags: --preset, --steps, ...
    add_run_arguments(ap, 'ddpm')      # --device, --seed, --out out/ddpm, --resume
    ...                                # train, sample, draw
    return write_metrics(args.out, metrics)   # metrics.json, and a summary on stdout

MNIST_ROOT is where the MNIST demos look for the IDX files: ../shared/data/mnist beside the
checkout, or the folder named by the environment variable MINIGEN_MNIST.
"""
import json
import os

MNIST_ROOT = os.environ.get('MINIGEN_MNIST', os.path.normpath(os.path.join(
    os.path.dirname(os.path.abspath(__file__)), '..', '..', 'shared', 'data', 'mnist')))


def add_run_arguments(ap, name):
    """--device cpu|cuda, --seed, --out (default out/NAME) and --resume, alike in every demo."""
    ap.add_argument('--device', choices=('cpu', 'cuda'), default='cpu')
    ap.add_argument('--seed', type=int, default=0)
    ap.add_argument('--out', default=f'out/{name}')
    ap.add_argument('--resume', action='store_true', help='continue from --out/checkpoint.npz')


def write_metrics(out, metrics, hide=('settings',)):
    """Write `metrics` to OUT/metrics.json, print it without the keys in `hide` (long
    settings or histories), and return it. NumPy scalars are written as floats."""
    with open(os.path.join(out, 'metrics.json'), 'w') as f:
        json.dump(metrics, f, indent=2, default=float)
    print(json.dumps({k: v for k, v in metrics.items() if k not in hide}, indent=1,
                     default=float))
    return metrics
