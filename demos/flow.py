"""Normalizing flows: exact densities of 2-D points, then a RealNVP/Glow flow on MNIST in bits/dim.

Dinh, Sohl-Dickstein & Bengio 2017, "Density estimation using Real NVP" (arXiv:1605.08803);
Kingma & Dhariwal 2018, "Glow" (arXiv:1807.03039). A flow is an invertible f with a cheap
Jacobian determinant, and the change of variables gives the exact log-likelihood

    log p(x) = log N(f(x); 0, I) + sum_k log |det dh_k / dh_{k-1}|,

which training maximises directly (minigen/flows/flow.py). Two parts, each run on its own
random stream so that --resume continues each exactly:

1. 2-D flows (ActNorm + affine coupling with alternating masks, minigen/flows/flow2d.py) on
   three toy2d distributions, two moons, eight Gaussians and rings: the learned density as
   a heat map, samples, and the lines of a square grid in z carried through the inverse
   layers one by one into the data's shape. The held-out negative log-likelihood is put
   beside that of the best single Gaussian (the data's own mean and covariance).
2. An image flow (minigen/flows/image_flow.py): uniform dequantization, the logit transform,
   then the multi-scale architecture (checkerboard couplings at 28 x 28, squeeze, Glow steps
   of actnorm, invertible 1x1 convolution and channel-wise coupling, half of the channels
   factored out, squeeze, Glow steps). The loss is bits per dimension with the 8-bit
   discretization term, -log p(y) / (D ln 2) + 8 (minigen/flows/dequantization.py).
   Samples at temperatures 1.0 / 0.8 / 0.6 (z ~ N(0, T^2 I), Glow sec. 5.4), straight
   lines in z between held-out digits, and held-out bits/dim (RealNVP reports 1.06 on
   MNIST after long training, Glow 1.05).

Adam with a linear warm-up and a cosine decay to 0 at the run's last step (the learning
rate is a function of the step alone, so a resumed run keeps it). Each actnorm takes its
data-dependent initialisation from the first 512 training images (points for 2-D).

Data: MNIST test digits in ../shared/data/mnist (first 8,000 train, last 2,000 held out),
or the built-in shapes (--dataset shapes, and when MNIST is absent).

    python -m demos.flow [--preset quick|full] [--dataset mnist|shapes] [--steps N]
        [--steps-2d N] [--batch-size B] [--lr LR] [--flow-steps K] [--hidden C1 C2]
        [--checkerboard-steps N] [--layers-2d N] [--hidden-2d H] [--samples N]
        [--train-images N] [--eval-images N] [--checkpoint-every N] [--device cpu|cuda]
        [--seed S] [--out out/flow] [--resume]

Writes to --out: densities_2d.png, layers_2d.png, samples.png (one grid per temperature),
interpolations.png, loss.png, samples.npy (the --samples samples at T = 1.0, (N, C, H, W)
in [0, 1], what `python -m demos.evaluate --samples` reads), metrics.json and
checkpoint.npz (which --resume continues).
"""
import argparse
import os
import time

import numpy as np

import autograd
from minigen import viz
from minigen.data.toy2d import toy2d
from minigen.flows import (ImageFlow, flow_2d, gaussian_nll, grid_lines, layer_by_layer,
                           log_density_grid, log_likelihood)
from minigen.optim import Adam, cosine_with_warmup

from demos.conventions import (TrainingCheckpoints, add_run_arguments, count, in_batches,
                               fresh_streams, load_image_dataset, parse_run_args,
                               positive_float, positive_int, resolve_preset, run_ends,
                               sample_quality, write_metrics, write_samples)

PRESETS = {'quick': dict(steps=3500, steps_2d=500, batch_size=16, lr=1e-2, warmup=100,
                         lr_2d=5e-3, batch_size_2d=256, flow_steps=4, hidden=(32, 64),
                         checkerboard_steps=2, checkerboard_hidden=16, split_prior=False,
                         layers_2d=6, hidden_2d=32, samples=1000, train_images=8000,
                         eval_images=2000, checkpoint_every=700),
           'full': dict(steps=20000, steps_2d=4000, batch_size=64, lr=1e-3, warmup=500,
                        lr_2d=2e-3, batch_size_2d=512, flow_steps=8, hidden=(64, 128),
                        checkerboard_steps=4, checkerboard_hidden=32, split_prior=False,
                        layers_2d=10, hidden_2d=64, samples=2000, train_images=8000,
                        eval_images=2000, checkpoint_every=2000)}
TOYS = ('moons', '8gaussians', 'rings')
TEMPERATURES = (1.0, 0.8, 0.6)
INIT_BATCH = 512  # examples for actnorm's data-dependent initialisation
LIM = 5.0  # the 2-D pictures show [-LIM, LIM]^2


def parse_args(argv):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--steps', type=count, help='steps of the image flow (0 with --resume: '
                                                'evaluate)')
    ap.add_argument('--steps-2d', type=count, help='steps of each 2-D flow')
    ap.add_argument('--batch-size', type=positive_int, help='images per step')
    ap.add_argument('--lr', type=positive_float, help="the image flow's peak learning rate")
    ap.add_argument('--flow-steps', type=positive_int,
                    help='Glow steps (actnorm, 1x1 conv, coupling) per scale')
    ap.add_argument('--hidden', type=positive_int, nargs='+', metavar='C',
                    help="the couplings' hidden channels, one number per scale")
    ap.add_argument('--checkerboard-steps', type=count,
                    help='checkerboard couplings at full resolution before the first squeeze')
    ap.add_argument('--layers-2d', type=positive_int, help='actnorm + coupling layers, 2-D')
    ap.add_argument('--hidden-2d', type=positive_int, help="units of the 2-D couplings' MLPs")
    ap.add_argument('--samples', type=positive_int,
                    help='samples per temperature for samples.npy and the FID')
    ap.add_argument('--train-images', type=positive_int, help='first N digits to train on')
    ap.add_argument('--eval-images', type=positive_int, help='last N digits held out')
    add_run_arguments(ap, 'flow', PRESETS, datasets=('mnist', 'shapes'), checkpoints=True)
    args = parse_run_args(ap, argv, steps_zero_means='evaluate a saved run')
    return args


def build(hp, shape, device):
    """The three 2-D flows and the image flow, each with its Adam."""
    models = {toy: flow_2d(hp['layers_2d'], hp['hidden_2d']).to(device) for toy in TOYS}
    models['image'] = ImageFlow(shape, hp['flow_steps'], hp['hidden'], hp['checkerboard_steps'],
                                hp['checkerboard_hidden'],
                                split_prior=hp['split_prior']).to(device)
    opts = {name: Adam(m.parameters(), lr=hp['lr'] if name == 'image' else hp['lr_2d'])
            for name, m in models.items()}
    return models, opts


def train(models, opts, data_by_run, hp, history, streams, run, device):
    """Each run to its end in run.until (the 2-D ones first), on its own random stream; the
    loss is -log p(x) in nats for 2-D points, bits/dim for images. The learning rate at step
    t of a run that ends at T: base * cosine_with_warmup(warmup, T)(t)."""
    for name, x_train in data_by_run.items():
        autograd.backend.set_rng_state(streams[name])
        model, opt, done, until = models[name], opts[name], len(history[name]), run.until[name]
        image = name == 'image'
        loss_of = model.loss if image else (lambda x: -log_likelihood(model, x).mean())
        x_all = autograd.tensor(x_train, device=device)
        if done == 0 and until > 0:  # actnorm's data-dependent initialisation
            with autograd.no_grad():
                loss_of(x_all[:INIT_BATCH])
        base = hp['lr'] if image else hp['lr_2d']
        warmup = min(hp['warmup'], until // 2)
        lr_factor = cosine_with_warmup(warmup, until) if until > warmup else (lambda t: 1.0)
        bs = hp['batch_size'] if image else hp['batch_size_2d']
        bar = viz.progress(range(done, until), name)
        for step in bar:
            opt.param_groups[0]['lr'] = base * lr_factor(step)
            loss = loss_of(x_all[autograd.randint(0, len(x_train), (bs,), device=device)])
            opt.zero_grad()
            loss.backward()
            opt.step()
            history[name].append(loss.item())
            if step % 20 == 0:
                bar.set_postfix(**{'bits/dim' if image else 'nll': f"{np.mean(history[name][-20:]):.3f}"})
            streams[name] = autograd.backend.get_rng_state()
            run.step_done(step + 1)
    return len(history['image'])


def evaluate_2d(models, toys_data, out, device, seed):
    """Held-out -log p (nats per point) of each 2-D flow against the fitted Gaussian's, and
    the two pictures: densities_2d.png (data, learned density, samples; one row per
    distribution) and layers_2d.png (the z grid through the inverse layers)."""
    figures, density_rows, layer_rows = {}, [], []
    for i, toy in enumerate(TOYS):
        flow, (train, held) = models[toy].eval(), toys_data[toy]
        nll = -in_batches(lambda x: log_likelihood(flow, x), held, device, 2000)
        figures[toy] = {'nll_nats': float(np.mean(nll)),
                        'gaussian_nll_nats': gaussian_nll(train, held)}
        autograd.manual_seed(seed + i)
        with autograd.no_grad():
            z = autograd.randn(2000, 2, device=device)
            samples = flow.inverse(z).numpy()
        density = np.exp(log_density_grid(flow, lim=LIM, n=120))
        density_rows.append(viz.panels_image(
            [viz.figure_pil(viz.points_image(held[:2000], LIM)),
             viz.figure_pil(viz.density_image(density)),
             viz.figure_pil(viz.points_image(samples, LIM))],
            [f'{toy}: held-out data', f'learned density, nll {np.mean(nll):.2f}',
             'samples x = f^-1(z)']))
        path = layer_by_layer(flow, grid_lines(lim=3.0, lines=13, points=120))
        shown = path[::2]  # z, then after inverting each actnorm + coupling pair
        pairs = len(shown) - 1
        titles = ['z ~ N(0, I)'] + [f'{k} of {pairs} inverted' for k in range(1, pairs)] + \
            [f'x ({toy})']
        layer_rows.append(viz.panels_image(
            [viz.figure_pil(viz.curves_image(p, LIM, size=160, groups=2)) for p in shown],
            titles, gap=4))
    viz.stacked_image(density_rows).save(os.path.join(out, 'densities_2d.png'))
    viz.stacked_image(layer_rows).save(os.path.join(out, 'layers_2d.png'))
    return figures


def evaluate_images(model, data, hp, out, device, seed):
    """Held-out and training bits/dim (one dequantization per image), samples at each
    temperature with their quality figures, interpolations in z; the pictures."""
    model.eval()
    autograd.manual_seed(seed)
    held_bpd = in_batches(model.bits_per_dim, data.held, device, 250)
    train_bpd = in_batches(model.bits_per_dim, data.train[:len(data.held)], device, 250)
    figures = {'bits_per_dim': float(np.mean(held_bpd)),
               'train_bits_per_dim': float(np.mean(train_bpd))}
    grids, by_temperature = [], {}
    for t in TEMPERATURES:
        autograd.manual_seed(seed + int(100 * t))
        tick = time.time()
        with autograd.no_grad():
            samples = np.concatenate([model.sample(min(250, hp['samples'] - i), t).numpy()
                                      for i in range(0, hp['samples'], 250)])
        if t == 1.0:  # the trilemma demo's speed figure
            figures['sample_seconds_per_image'] = (time.time() - tick) / len(samples)
        by_temperature[t] = samples
        grids.append(samples[:36])
        figures[f'samples_T{t}'] = sample_quality(samples, data.held[:hp['samples']],
                                                  data.name) | {'n': len(samples)}
    viz.save_panels(grids, [f'T = {t}' for t in TEMPERATURES], os.path.join(out, 'samples.png'),
                    nrow=6)
    ends = in_batches(model.encode, data.held[:12], device)
    s = np.linspace(0, 1, 10)[None, :, None]
    path = ((1 - s) * ends[0::2, None] + s * ends[1::2, None]).reshape(-1, ends.shape[1])
    strips = in_batches(model.decode, path.astype(ends.dtype), device)
    viz.save_interpolation(strips.reshape(6, 10, *data.held.shape[1:]),
                           os.path.join(out, 'interpolations.png'))
    return figures, by_temperature[1.0]


def main(argv=None):
    args = parse_args(argv)
    hp = resolve_preset(args, PRESETS)  # steps 0 with --resume: evaluate the saved models
    os.makedirs(args.out, exist_ok=True)
    autograd.manual_seed(args.seed)
    data = load_image_dataset(args.dataset, n_train=hp['train_images'],
                              n_held=hp['eval_images'], seed=args.seed, demo='flow',
                              fallback=True)
    toys_data = {toy: (toy2d(toy, 20000, seed=args.seed)[0],
                       toy2d(toy, 5000, seed=args.seed + 1)[0]) for toy in TOYS}
    config = {'dataset': data.name, 'flow_steps': hp['flow_steps'], 'hidden': hp['hidden'],
              'checkerboard_steps': hp['checkerboard_steps'],
              'checkerboard_hidden': hp['checkerboard_hidden'],
              'split_prior': hp['split_prior'], 'layers_2d': hp['layers_2d'],
              'hidden_2d': hp['hidden_2d']}
    models, opts = build(hp, data.train.shape[1:], args.device)
    state = models | {f'{k}_opt': opt for k, opt in opts.items()}
    run = TrainingCheckpoints(args, 'flow', config, state, hp['checkpoint_every'],
                              extra=lambda: {'history': history, 'streams': streams})
    _, saved = run.resume()
    history = {name: list(saved.get('history', {}).get(name, [])) for name in models}
    streams = saved.get('streams') or fresh_streams(models, args.seed)

    start = time.time()
    run.until = run_ends(history, {name: hp['steps' if name == 'image' else 'steps_2d']
                                   for name in history}, saved)
    with run:
        step = train(models, opts, {toy: toys_data[toy][0] for toy in TOYS} |
                     {'image': data.train}, hp, history, streams, run, args.device)
    train_seconds = time.time() - start
    run.save(step)

    figures_2d = evaluate_2d(models, toys_data, args.out, args.device, args.seed + 1)
    figures, samples = evaluate_images(models['image'], data, hp, args.out, args.device,
                                       args.seed + 2)
    write_samples(args.out, samples, 'flow')
    viz.save_loss_curve(history['image'], os.path.join(args.out, 'loss.png'),
                        label='bits/dim (training batch)', log_y=False,
                        title='image flow: bits per dimension')
    result = {'bits_per_dim': figures.pop('bits_per_dim'),
              'sample_seconds_per_image': figures.pop('sample_seconds_per_image'),
              'settings': vars(args) | hp,
              'dataset': data.name, 'step': step, 'train_seconds': round(train_seconds, 2),
              'total_seconds': round(time.time() - start, 2),
              'final_train_loss': {k: float(np.mean(v[-50:])) for k, v in history.items() if v},
              'held_out': figures, 'held_out_images': len(data.held), 'toy_2d': figures_2d,
              'parameters': sum(p.size for p in models['image'].parameters())}
    return write_metrics(args.out, result)


if __name__ == '__main__':
    main()
