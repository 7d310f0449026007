"""DCGAN on MNIST (or the procedural shapes): samples over training, latent interpolations
and the FID / KID / precision / recall trajectory.

Radford, Metz & Chintala 2015, "Unsupervised Representation Learning with Deep
Convolutional Generative Adversarial Networks" (arXiv:1511.06434): a generator of
transposed convolutions with batch norm and ReLU (Tanh out) against a discriminator of
strided convolutions with leaky ReLU(0.2), weights ~ N(0, 0.02), Adam lr 2e-4, beta1 0.5,
batch 64, images scaled to [-1, 1] (minigen/gans/dcgan.py). They play the GAN game of
Goodfellow et al. 2014 (arXiv:1406.2661) with the non-saturating generator loss:

    L_D = -E_x log D(x) - E_z log(1 - D(G(z))),     L_G = -E_z log D(G(z)),

one D step on real and detached fake images, then one G step, alternately.
MNIST here is the 10,000-digit test set (all there is in shared/data/mnist): the first
8,000 train, the last 2,000 are the real set the metrics compare samples with. Without
it the demo falls back to --dataset shapes (3 x 32 x 32) and says so.

    python -m demos.dcgan [--preset quick|full] [--dataset mnist|shapes] [--steps N]
        [--batch-size B] [--device cpu|cuda] [--seed S] [--out out/dcgan] [--resume]

Writes to --out: samples_<step>.png (64 fixed-noise samples at each evaluation),
samples.png (the last), progress.gif, interpolation.png (G along straight lines between
latent pairs), loss.png, metrics.png (FID and KID against step), precision_recall.png,
metrics.json and checkpoint.npz (which --resume continues).
"""
import argparse
import os
import time

import numpy as np

import autograd
import minigen
from minigen import viz
from minigen.data.idx import load_mnist
from minigen.data.shapes import make_shapes
from minigen.gans import DCGANDiscriminator, DCGANGenerator
from minigen.gans.losses import discriminator_loss, generator_loss
from minigen.optim import Adam

from demos.conventions import MNIST_ROOT, add_run_arguments, write_metrics

HERE = os.path.dirname(os.path.abspath(__file__))
MNIST_ROOTS = (os.path.join(HERE, '..', 'shared', 'data', 'mnist'),  # a checkout's shared/
               MNIST_ROOT)  # beside the checkout, or $MINIGEN_MNIST (demos/conventions.py)
PRESETS = {'quick': dict(steps=800, batch_size=64, ngf=32, ndf=32, evals=4, eval_samples=1000),
           'full': dict(steps=4000, batch_size=64, ngf=64, ndf=32, evals=8, eval_samples=2000)}
Z_DIM = 100


def load_images(dataset, seed=0):
    """(train images in [-1, 1], real held-out images in [0, 1], labels of train, name),
    falling back from MNIST to shapes with a message when the MNIST files are absent."""
    if dataset == 'mnist':
        root = next((r for r in MNIST_ROOTS if os.path.isdir(r)), MNIST_ROOTS[-1])
        try:
            images, labels = load_mnist('test', root=root, download=False)
        except FileNotFoundError as err:
            print(f"dcgan: MNIST not found ({err}); falling back to --dataset shapes")
        else:
            return images[:8000] * 2 - 1, images[8000:], labels[:8000], 'mnist'
    data = make_shapes(10000, size=32, seed=seed)
    return (data.images[:8000] * 2 - 1, data.images[8000:], data.attrs['shape'][:8000],
            'shapes')


def sample(G, z, y=None, batch=500):
    """G's images for noise z (and labels y) in [0, 1], as NumPy, in eval mode."""
    G.eval()
    with autograd.no_grad():
        out = [G(z[i:i + batch], None if y is None else y[i:i + batch]).numpy()
               for i in range(0, len(z), batch)]
    G.train()
    return (np.concatenate(out) + 1) / 2


def evaluate(images, real, dataset):
    """minigen.metrics.evaluate_samples, or {} when the metrics or their feature nets are
    missing (the demo still trains and draws)."""
    try:
        from minigen.metrics import evaluate_samples
        subset = min(1000, len(images) // 2, len(real) // 2)  # KID's std needs subsets < n
        return {k: float(v) for k, v in evaluate_samples(images, real, dataset,
                                                         kid_subset_size=subset).items()}
    except (ImportError, FileNotFoundError) as err:
        print(f"dcgan: no metrics ({err})")
        return {}


def add_gan_arguments(ap, name):
    """The flags of this demo, which cgan shares: preset, dataset, steps, batch size, the
    two widths, the evaluation sample count, and the run flags of demos/conventions.py."""
    ap.add_argument('--preset', choices=PRESETS, default='quick')
    ap.add_argument('--dataset', choices=('mnist', 'shapes'), default='mnist')
    ap.add_argument('--steps', type=int, help='training steps in this run (preset default)')
    ap.add_argument('--batch-size', type=int)
    ap.add_argument('--ngf', type=int, help="G's width (preset default)")
    ap.add_argument('--ndf', type=int, help="D's width (preset default)")
    ap.add_argument('--eval-samples', type=int, help='samples per evaluation (preset default)')
    add_run_arguments(ap, name)


def gan_settings(args):
    """(preset, steps, batch size, ngf, ndf, evaluation samples): each flag, or the preset's."""
    p = PRESETS[args.preset]
    return (p, p['steps'] if args.steps is None else args.steps,
            args.batch_size or p['batch_size'], args.ngf or p['ngf'], args.ndf or p['ndf'],
            args.eval_samples or p['eval_samples'])


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_gan_arguments(ap, 'dcgan')
    args = ap.parse_args(argv)
    p, steps, batch_size, ngf, ndf, n_eval = gan_settings(args)
    os.makedirs(args.out, exist_ok=True)
    ckpt_path = os.path.join(args.out, 'checkpoint.npz')

    autograd.manual_seed(args.seed)
    train, real, _, dataset = load_images(args.dataset, args.seed)
    real = real[:n_eval]
    x_data = autograd.tensor(train, device=args.device)
    size, channels = train.shape[2], train.shape[1]
    G = DCGANGenerator(Z_DIM, size, channels, ngf=ngf).to(args.device)
    D = DCGANDiscriminator(size, channels, ndf=ndf, norm='batch').to(args.device)
    opt_g = Adam(G.parameters(), lr=2e-4, betas=(0.5, 0.999))
    opt_d = Adam(D.parameters(), lr=2e-4, betas=(0.5, 0.999))
    z_fixed = autograd.randn(64, Z_DIM, device=args.device)       # the grids' noise
    z_eval = autograd.randn(n_eval, Z_DIM, device=args.device)
    start_step, losses, trajectory, grids = 0, [], [], []  # grids: uint8 sample grids
    if args.resume:
        if not os.path.exists(ckpt_path):
            raise FileNotFoundError(f"dcgan --resume: no checkpoint at {ckpt_path}; run once "
                                    f"without --resume first")
        ckpt = minigen.load(ckpt_path)
        if ckpt['dataset'] != dataset or ckpt['widths'] != [ngf, ndf]:
            raise ValueError(f"dcgan --resume: {ckpt_path} holds a run on {ckpt['dataset']} "
                             f"with ngf, ndf = {ckpt['widths']}; this run asks for {dataset} "
                             f"with {[ngf, ndf]}")
        for module, key in ((G, 'G'), (D, 'D'), (opt_g, 'opt_g'), (opt_d, 'opt_d')):
            module.load_state_dict(ckpt[key])
        autograd.backend.set_rng_state(ckpt['rng'])
        start_step, losses = ckpt['step'], [list(r) for r in ckpt['losses']]
        trajectory, grids = list(ckpt['trajectory']), list(ckpt['grids'])

    end = start_step + steps
    eval_at = {round(end * (i + 1) / p['evals']) for i in range(p['evals'])} | {end}
    start, eval_seconds = time.time(), 0.0
    bar = viz.progress(range(start_step, end), 'train')
    for step in bar:
        real_batch = x_data[autograd.randint(0, len(train), (batch_size,), device=args.device)]
        fake = G(autograd.randn(batch_size, Z_DIM, device=args.device))
        d_loss = discriminator_loss(D(real_batch), D(fake.detach()), 'nonsaturating')
        opt_d.zero_grad()
        d_loss.backward()
        opt_d.step()
        g_loss = generator_loss(D(fake), 'nonsaturating')
        opt_g.zero_grad()
        g_loss.backward()
        opt_g.step()
        losses.append([d_loss.item(), g_loss.item()])
        if step % 20 == 0:
            bar.set_postfix(d=f'{d_loss.item():.3f}', g=f'{g_loss.item():.3f}')
        if step + 1 in eval_at and step + 1 > start_step:
            tick = time.time()
            grids.append(np.round(sample(G, z_fixed) * 255).astype(np.uint8))
            viz.save_image(grids[-1] / 255, os.path.join(args.out, f'samples_{step + 1:06d}.png'))
            trajectory.append({'step': step + 1} | evaluate(sample(G, z_eval), real, dataset))
            eval_seconds += time.time() - tick
    train_seconds = time.time() - start - eval_seconds
    minigen.save({'G': G.state_dict(), 'D': D.state_dict(), 'opt_g': opt_g.state_dict(),
                  'opt_d': opt_d.state_dict(), 'step': end, 'losses': np.array(losses),
                  'rng': autograd.backend.get_rng_state(), 'dataset': dataset,
                  'widths': [ngf, ndf], 'trajectory': trajectory, 'grids': np.stack(grids)},
                 ckpt_path)

    final = sample(G, z_fixed)
    viz.save_image(final, os.path.join(args.out, 'samples.png'))
    viz.save_gif([g / 255 for g in grids], os.path.join(args.out, 'progress.gif'),
                 duration=500, frame_labels=[f"step {r['step']}" for r in trajectory])
    # interpolation: G((1 - t) z_a + t z_b) for 8 pairs, t in 10 steps of [0, 1]
    t = autograd.tensor(np.linspace(0, 1, 10, dtype=np.float32), device=args.device)
    z_a, z_b = z_fixed[:8].unsqueeze(1), z_fixed[8:16].unsqueeze(1)
    path = (z_a * (1 - t.reshape(1, 10, 1)) + z_b * t.reshape(1, 10, 1)).reshape(80, Z_DIM)
    strips = sample(G, path).reshape(8, 10, channels, size, size)
    viz.save_interpolation(strips, os.path.join(args.out, 'interpolation.png'))
    loss_arr = np.array(losses)
    viz.save_curves({'L_D': loss_arr[:, 0], 'L_G': loss_arr[:, 1]},
                    os.path.join(args.out, 'loss.png'), title=f'DCGAN on {dataset}')
    if trajectory and 'fid' in trajectory[-1]:
        steps_at = [r['step'] for r in trajectory]
        viz.save_curves({k: (steps_at, [r[k] for r in trajectory]) for k in ('fid', 'kid')},
                        os.path.join(args.out, 'metrics.png'), log_y=True, ylabel='distance',
                        title=f'classifier FID / KID ({n_eval} samples vs {len(real)} real)')
        viz.save_curves({k: (steps_at, [r[k] for r in trajectory])
                         for k in ('precision', 'recall')},
                        os.path.join(args.out, 'precision_recall.png'), ylabel='share',
                        title='precision and recall (k = 3)')
    metrics = {'settings': vars(args) | {'steps': steps, 'batch_size': batch_size, 'ngf': ngf,
                                         'ndf': ndf, 'eval_samples': n_eval, 'lr': 2e-4,
                                         'betas': [0.5, 0.999]},
               'dataset': dataset, 'step': end, 'train_seconds': round(train_seconds, 2),
               'eval_seconds': round(eval_seconds, 2),
               'parameters': {'G': sum(q.data.size for q in G.parameters()),
                              'D': sum(q.data.size for q in D.parameters())},
               'final_d_loss': float(loss_arr[-50:, 0].mean()),
               'final_g_loss': float(loss_arr[-50:, 1].mean()),
               'final': trajectory[-1] if trajectory else {}, 'trajectory': trajectory}
    return write_metrics(args.out, metrics, hide=('settings', 'trajectory'))


if __name__ == '__main__':
    main()
