"""An autoencoder and a denoising autoencoder on MNIST, trained side by side.

Vincent, Larochelle, Bengio & Manzagol 2008, "Extracting and Composing Robust Features
with Denoising Autoencoders" (ICML). Both models squeeze a digit x through a code
z = f(x) of `--latent-dim` numbers and rebuild x_hat = sigmoid(g(z)), minimising the
cross-entropy summed over pixels

    L = sum_pixels -x log x_hat - (1 - x) log(1 - x_hat).

The plain autoencoder reads the clean digit; the denoising one reads a corrupted
x_tilde = clip(x + sigma eps, 0, 1) (or masking noise) and must still rebuild the clean x,
so it learns what digits look like instead of copying pixels. The picture shows, for
held-out digits: clean input, AE(clean), noisy input, AE(noisy), DAE(noisy).

Data: the MNIST test set in ../shared/data/mnist (or $MINIGEN_MNIST) (first 8,000 digits to train, last
2,000 held out), or the built-in shapes set when MNIST is not there.

    python -m demos.autoencoder [--preset quick|full] [--steps N] [--batch-size B]
        [--noise gaussian|masking] [--noise-level S] [--latent-dim D]
        [--device cpu|cuda] [--seed S] [--out out/autoencoder] [--resume]

Writes to --out: reconstructions.png, loss.png, metrics.json (held-out MSE, PSNR, SSIM of
both models on clean and noisy inputs) and checkpoint.npz (which --resume continues).
"""
import argparse
import os
import time

import numpy as np

import autograd
import minigen
from minigen import metrics, viz
from minigen.data.idx import load_mnist
from minigen.data.shapes import make_shapes
from minigen.autoencoders.autoencoder import Autoencoder, corrupt
from minigen.optim import Adam

from demos.conventions import MNIST_ROOT, add_run_arguments, write_metrics

PRESETS = {'quick': dict(steps=600, batch_size=64, hidden=(32, 64)),
           'full': dict(steps=4000, batch_size=128, hidden=(32, 64))}


def load_images(n_train=8000, n_test=2000):
    """(train_x, train_y, test_x, test_y, name): MNIST test digits split 8,000 / 2,000 in
    [0, 1], (N, 1, 28, 28); shapes (N, 3, 32, 32) with shape labels when MNIST is absent."""
    if n_train < 1 or n_test < 20 or n_train + n_test > 10000:
        raise ValueError(f"load_images: need 1 <= train images, 20 <= held-out images and "
                         f"their sum <= 10,000 (the MNIST test set), got {n_train} and {n_test}")
    try:
        x, y = load_mnist('test', root=MNIST_ROOT, download=False)
        name = 'mnist'
    except (FileNotFoundError, OSError, ValueError) as err:
        print(f"MNIST not found under {MNIST_ROOT} ({err}); using the built-in shapes set")
        data = make_shapes(n_train + n_test, size=32, seed=0)
        x, y, name = data.images, data.attrs['shape'], 'shapes'
    return x[:n_train], y[:n_train], x[-n_test:], y[-n_test:], name


def in_batches(fn, x, device, batch=500):
    """fn applied to x (numpy) in chunks without gradient, concatenated as numpy."""
    with autograd.no_grad():
        return np.concatenate([fn(autograd.tensor(x[i:i + batch], device=device)).numpy()
                               for i in range(0, len(x), batch)])


def quality(target, output):
    """Held-out reconstruction MSE, PSNR (dB) and SSIM (Wang et al. 2004) of images in [0, 1]."""
    return {'mse': float(np.mean((target - output) ** 2)),
            'psnr': metrics.psnr(target, output), 'ssim': metrics.ssim(target, output)}


def resume_or_start(ckpt_path, resume, config, models, opts, what):
    """Load models and optimisers from ckpt_path when resuming (the config must match);
    return (start_step, history dict, saved RNG state or None)."""
    if not resume:
        return 0, {}, None
    if not os.path.exists(ckpt_path):
        raise FileNotFoundError(f"{what} --resume: no checkpoint at {ckpt_path}; run once "
                                f"without --resume first")
    ckpt = minigen.load(ckpt_path)
    if ckpt['config'] != config:
        raise ValueError(f"{what} --resume: {ckpt_path} holds a run with {ckpt['config']}; "
                         f"this run asks for {config}")
    for k, m in models.items():
        m.load_state_dict(ckpt['models'][k])
    for k, o in opts.items():
        o.load_state_dict(ckpt['optimizers'][k])
    return ckpt['step'], {k: list(v) for k, v in ckpt['history'].items()}, ckpt['rng']


def save_checkpoint(ckpt_path, step, config, models, opts, history, rng_state):
    minigen.save({'models': {k: m.state_dict() for k, m in models.items()},
                  'optimizers': {k: o.state_dict() for k, o in opts.items()},
                  'step': step, 'config': config, 'rng': rng_state,
                  'history': {k: np.array(v) for k, v in history.items()}}, ckpt_path)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--preset', choices=PRESETS, default='quick')
    ap.add_argument('--steps', type=int, help='training steps in this run (preset default)')
    ap.add_argument('--batch-size', type=int)
    ap.add_argument('--noise', choices=('gaussian', 'masking'), default='gaussian')
    ap.add_argument('--noise-level', type=float, default=0.4)
    ap.add_argument('--latent-dim', type=int, default=32)
    ap.add_argument('--train-images', type=int, default=8000, help='first N digits to train on')
    ap.add_argument('--eval-images', type=int, default=2000, help='last N digits held out')
    add_run_arguments(ap, 'autoencoder')
    args = ap.parse_args(argv)
    preset = PRESETS[args.preset]
    steps = preset['steps'] if args.steps is None else args.steps
    batch_size = args.batch_size or preset['batch_size']
    os.makedirs(args.out, exist_ok=True)
    ckpt_path = os.path.join(args.out, 'checkpoint.npz')

    autograd.manual_seed(args.seed)
    train_x, _, test_x, _, dataset = load_images(args.train_images, args.eval_images)
    shape = train_x.shape[1:]
    x_train = autograd.tensor(train_x, device=args.device)
    config = {'dataset': dataset, 'latent_dim': args.latent_dim, 'hidden': list(preset['hidden']),
              'noise': args.noise, 'noise_level': args.noise_level}
    models = {'ae': Autoencoder(shape, args.latent_dim, 'conv', preset['hidden']),
              'dae': Autoencoder(shape, args.latent_dim, 'conv', preset['hidden'], args.noise,
                                 args.noise_level)}
    for m in models.values():
        m.to(args.device)
    opts = {k: Adam(m.parameters(), lr=1e-3) for k, m in models.items()}
    start_step, history, rng_state = resume_or_start(ckpt_path, args.resume, config, models,
                                                     opts, 'autoencoder')
    if rng_state is not None:
        autograd.backend.set_rng_state(rng_state)
    history = history or {'ae': [], 'dae': []}

    start = time.time()
    bar = viz.progress(range(start_step, start_step + steps), 'train')
    for step in bar:
        x = x_train[autograd.randint(0, len(train_x), (batch_size,), device=args.device)]
        for k, m in models.items():  # the DAE corrupts x itself (training mode)
            loss = m.loss(x)
            opts[k].zero_grad()
            loss.backward()
            opts[k].step()
            history[k].append(loss.item())
        if step % 20 == 0:
            bar.set_postfix(ae=f"{np.mean(history['ae'][-20:]):.1f}",
                            dae=f"{np.mean(history['dae'][-20:]):.1f}")
    train_seconds = time.time() - start
    step = start_step + steps
    save_checkpoint(ckpt_path, step, config, models, opts, history,
                    autograd.backend.get_rng_state())

    for m in models.values():
        m.eval()
    autograd.manual_seed(args.seed + 1)  # the same noisy held-out digits in every run
    noisy = in_batches(lambda x: corrupt(x, args.noise, args.noise_level), test_x, args.device)
    rec = {f'{k}_{inp}': in_batches(m.reconstruct, src, args.device)
           for k, m in models.items() for inp, src in (('clean', test_x), ('noisy', noisy))}
    figures = {name: quality(test_x, r) for name, r in rec.items()}
    figures['noisy_input'] = quality(test_x, noisy)

    n = 10
    rows = [test_x[:n], rec['ae_clean'][:n], noisy[:n], rec['ae_noisy'][:n], rec['dae_noisy'][:n]]
    viz.save_image(np.concatenate(rows), os.path.join(args.out, 'reconstructions.png'), nrow=n,
                   row_labels=['clean input', 'AE(clean)', f'{args.noise} noise',
                               'AE(noisy)', 'DAE(noisy)'])
    viz.save_curves({'AE': history['ae'], 'DAE': history['dae']},
                    os.path.join(args.out, 'loss.png'), log_y=True,
                    title='reconstruction cross-entropy (nats per image)')

    result = {'settings': vars(args) | {'steps': steps, 'batch_size': batch_size,
                                        'hidden': list(preset['hidden']), 'lr': 1e-3},
              'dataset': dataset, 'step': step, 'train_seconds': round(train_seconds, 2),
              'first_loss': {k: float(np.mean(v[:20])) for k, v in history.items()},
              'final_loss': {k: float(np.mean(v[-50:])) for k, v in history.items()},
              'held_out': figures, 'held_out_images': len(test_x)}
    return write_metrics(args.out, result)


if __name__ == '__main__':
    main()
