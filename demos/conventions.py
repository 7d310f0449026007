"""The command-line flags every training demo shares (demos/README.md, "conventions").

    ap = argparse.ArgumentParser(...)
    ...                                # the demo's own flags: --preset, --steps, ...
    add_run_arguments(ap, 'ddpm')      # --device, --seed, --out out/ddpm, --resume

MNIST_ROOT is where the MNIST demos look for the IDX files: ../shared/data/mnist beside the
checkout, or the folder named by the environment variable MINIGEN_MNIST.
"""
import os

MNIST_ROOT = os.environ.get('MINIGEN_MNIST', os.path.normpath(os.path.join(
    os.path.dirname(os.path.abspath(__file__)), '..', '..', 'shared', 'data', 'mnist')))


def add_run_arguments(ap, name):
    """--device cpu|cuda, --seed, --out (default out/NAME) and --resume, alike in every demo."""
    ap.add_argument('--device', choices=('cpu', 'cuda'), default='cpu')
    ap.add_argument('--seed', type=int, default=0)
    ap.add_argument('--out', default=f'out/{name}')
    ap.add_argument('--resume', action='store_true', help='continue from --out/checkpoint.npz')
