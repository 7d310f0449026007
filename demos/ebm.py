"""Energy-based models and score matching: Langevin samples from an energy, and from a score.

Two ways to sample without a normalising constant (minigen/energy):

1. An EBM E_theta(x), p(x) = exp(-E(x)) / Z, trained by contrastive divergence (Du &
   Mordatch 2019, arXiv:1903.08689): negatives x- from K steps of Langevin dynamics,
   x <- x - (eps / 2) grad_x E(x) + noise, restarted from a replay buffer of past chains
   (95%) or uniform noise (5%); loss E(x+) - E(x-) + alpha (E(x+)^2 + E(x-)^2).
2. A noise-conditional score s_theta(x, sigma_i) = net(x, i) / sigma_i trained by denoising
   score matching (Vincent 2011) over a geometric ladder of sigmas, sampled by annealed
   Langevin dynamics with a final denoising step (NCSN: Song & Ermon 2019, arXiv:1907.05600).

Each on a 2-D toy (energy heat map with its chains, score arrows over the noised density)
and on MNIST in [0, 1] (a small conv energy; the DDPM UNet as the score net). The MNIST
samples are scored by the project's classifier: confident fraction, IS, FID (classifier).

    python -m demos.ebm [--preset quick|full] [--dataset mnist|shapes] [--toy NAME]
        [--steps N] [--steps-ebm N] [--steps-2d N] [--steps-ebm-2d N] [--batch-size B]
        [--samples N] [--train-images N] [--base-channels C] [--langevin-steps K]
        [--langevin-steps-2d K] [--noise-steps K] [--sample-steps T] [--eps EPS]
        [--checkpoint-every N] [--device cpu|cuda] [--seed S] [--out out/ebm] [--resume]
    python -m demos.ebm --resume --steps 0 [--sample-steps T] [--eps EPS]   # sample again

Writes to --out: toy_2d.png, chains.gif, samples.png (EBM buffer, EBM from noise, NCSN),
levels.png (annealed Langevin, the end of each level), loss.png, samples.npy (the NCSN
samples), samples_ebm_buffer.npy, samples_ebm_noise.npy, metrics.json, checkpoint.npz.
"""
import argparse
import os
import time

import numpy as np

import autograd
from minigen import viz
from minigen.data.toy2d import NAMES, toy2d
from minigen.energy import (EnergyConvNet, EnergyMLP, NoiseConditionalScore, ReplayBuffer,
                            ScoreMLP, annealed_langevin, contrastive_divergence_loss, dsm_loss,
                            geometric_sigmas, langevin_dynamics, negative_samples, unet_score)
from minigen.optim import EMA, Adam
from minigen.viz.fields import field_image, square_grid

from demos.conventions import (TrainingCheckpoints, add_run_arguments, count, fresh_streams,
                               load_image_dataset, parse_run_args, positive_float,
                               positive_int, resolve_preset, run_ends, sample_quality,
                               write_metrics, write_samples)

PRESETS = {'quick': dict(steps=650, batch_size=32, lr=2e-3, ema=0.995, base_channels=16,
                         levels=8, sigma_max=1.0, sigma_min=0.05, sample_steps=10, eps=4e-3,
                         steps_ebm=60, batch_size_ebm=32, lr_ebm=5e-4, alpha=0.1,
                         langevin_steps=20, step_size=20.0, noise_std=0.005, noise_steps=60,
                         buffer=4096, width_ebm=16, steps_2d=3000, steps_ebm_2d=400,
                         batch_size_2d=256, lr_2d=2e-3, lr_ebm_2d=3e-3, langevin_steps_2d=20,
                         step_size_2d=2e-3, samples=256, train_images=8000,
                         checkpoint_every=250),
           'full': dict(steps=20000, batch_size=128, lr=1e-3, ema=0.999, base_channels=32,
                        levels=10, sigma_max=1.0, sigma_min=0.01, sample_steps=20, eps=2e-5,
                        steps_ebm=5000, batch_size_ebm=128, lr_ebm=1e-4, alpha=0.1,
                        langevin_steps=60, step_size=20.0, noise_std=0.005, noise_steps=200,
                        buffer=8192, width_ebm=32, steps_2d=10000, steps_ebm_2d=3000,
                        batch_size_2d=512, lr_2d=1e-3, lr_ebm_2d=1e-3, langevin_steps_2d=40,
                        step_size_2d=1e-3, samples=2000, train_images=8000,
                        checkpoint_every=2000)}
RUNS = ('ebm_2d', 'score_2d', 'ebm', 'score')  # the four models, trained in this order
LOSS_NAMES = {'ebm_2d': 'CD loss', 'score_2d': 'DSM loss', 'ebm': 'CD loss',
              'score': 'DSM loss'}
LIM = 2.0  # the 2-D pictures show [-LIM, LIM]^2 of the standardised toy data


def parse_args(argv):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_run_arguments(ap, 'ebm', PRESETS, datasets=('mnist', 'shapes'), checkpoints=True)
    ap.add_argument('--toy', choices=NAMES, default='8gaussians', help='the 2-D distribution')
    ap.add_argument('--steps', type=count, help='score-model steps on images (preset default)')
    ap.add_argument('--steps-ebm', type=count, help='EBM steps on images')
    ap.add_argument('--steps-2d', type=count, help='steps of the 2-D score model')
    ap.add_argument('--steps-ebm-2d', type=count, help='steps of the 2-D EBM')
    ap.add_argument('--batch-size', type=positive_int)
    ap.add_argument('--samples', type=positive_int, help='images drawn by each sampler')
    ap.add_argument('--train-images', type=positive_int)
    ap.add_argument('--base-channels', type=positive_int, help='width of the score UNet')
    ap.add_argument('--langevin-steps', type=positive_int, help='EBM chain length in training')
    ap.add_argument('--langevin-steps-2d', type=positive_int, help='2-D EBM chain length')
    ap.add_argument('--noise-steps', type=positive_int, help='EBM chain length from noise')
    ap.add_argument('--sample-steps', type=positive_int, help='annealed Langevin steps a level')
    ap.add_argument('--eps', type=positive_float, help='annealed Langevin: alpha_L, the step '
                    'at the last level (alpha_i = eps sigma_i^2 / sigma_L^2)')
    return parse_run_args(ap, argv, steps_zero_means='sample from a saved run')


def build(hp, shape, device):
    """The four models, their Adams, the EMA of the image score model and both buffers."""
    sig_2d = geometric_sigmas(1.0, 0.02, hp['levels'])
    sig = geometric_sigmas(hp['sigma_max'], hp['sigma_min'], hp['levels'])
    models = {'ebm_2d': EnergyMLP(2, 128), 'score_2d': NoiseConditionalScore(ScoreMLP(2, 128),
                                                                             sig_2d),
              'ebm': EnergyConvNet(shape[0], shape[1], hp['width_ebm']),
              'score': unet_score(sig, shape[0], shape[1], hp['base_channels'])}
    models = {k: m.to(device) for k, m in models.items()}
    lr = {'ebm_2d': hp['lr_ebm_2d'], 'score_2d': hp['lr_2d'], 'ebm': hp['lr_ebm'],
          'score': hp['lr']}
    opts = {k: Adam(m.parameters(), lr=lr[k], betas=(0.0, 0.999) if 'ebm' in k else (0.9, 0.999))
            for k, m in models.items()}
    buffers = {'buffer_2d': ReplayBuffer(10000, (2,), -LIM, LIM, device=device),
               'buffer': ReplayBuffer(hp['buffer'], shape, 0.0, 1.0, device=device)}
    return models, opts, EMA(models['score'], hp['ema']), buffers


def step_loss(name, model, x, hp, buffers):
    """One training loss of run `name` on the batch x."""
    if name == 'ebm_2d':
        x_neg = negative_samples(model, buffers['buffer_2d'], len(x), hp['langevin_steps_2d'],
                                 hp['step_size_2d'], clamp=(-LIM, LIM))
    elif name == 'ebm':
        x_neg = negative_samples(model, buffers['buffer'], len(x), hp['langevin_steps'],
                                 hp['step_size'], hp['noise_std'], clamp=(0.0, 1.0))
    else:
        return dsm_loss(model, x, model.sigmas)
    alpha = hp['alpha']
    return contrastive_divergence_loss(model(x), model(x_neg), alpha)


def train(models, opts, ema, buffers, data, hp, history, streams, run, device):
    """Each run to run.until[name], on its own random stream (so --resume continues each)."""
    bs = {'ebm_2d': hp['batch_size_2d'], 'score_2d': hp['batch_size_2d'],
          'ebm': hp['batch_size_ebm'], 'score': hp['batch_size']}
    seconds = {}
    for name in RUNS:
        autograd.backend.set_rng_state(streams[name])
        x_all = autograd.tensor(data[name], device=device)
        began = time.process_time()
        bar = viz.progress(range(len(history[name]), run.until[name]), name)
        for step in bar:
            x = x_all[autograd.randint(0, len(x_all), (bs[name],), device=device)]
            loss = step_loss(name, models[name], x, hp, buffers)
            opts[name].zero_grad()
            loss.backward()
            opts[name].step()
            if name == 'score':
                ema.update()
            history[name].append(loss.item())
            if step % 20 == 0:
                bar.set_postfix(loss=f"{np.mean(history[name][-20:]):.4g}")
            streams[name] = autograd.backend.get_rng_state()
            run.step_done(step + 1)
        seconds[name] = round(time.process_time() - began, 1)
    return seconds


def toy_figures(models, buffers, toy, scale, hp, out, seed):
    """toy_2d.png (data, exp(-E) with the buffer, chains from noise, score arrows over the
    noised density, annealed Langevin samples), chains.gif; 2-D figures for metrics."""
    autograd.manual_seed(seed)
    grid = square_grid(LIM, 80)
    with autograd.no_grad():
        energy = models['ebm_2d'](autograd.tensor(grid)).numpy().reshape(80, 80)
    density = np.exp(-(energy - energy.min()))
    chain = []
    x0 = buffers['buffer_2d'].noise(500)
    ends = langevin_dynamics(models['ebm_2d'], x0, 4 * hp['langevin_steps_2d'],
                             hp['step_size_2d'], clamp=(-LIM, LIM), trajectory=chain).numpy()
    frames = [field_image(density, LIM, points=c, label=f'Langevin step {k}')
              for k, c in enumerate(chain[::4])]
    viz.save_gif(frames, os.path.join(out, 'chains.gif'), nrow=1, scale=1, duration=120)
    score = models['score_2d']
    arrows_at, level = square_grid(LIM * 0.95, 21), len(score.sigmas) // 2
    with autograd.no_grad():
        field = score(autograd.tensor(arrows_at), autograd.tensor(
            np.full(len(arrows_at), level, np.int64))).numpy()
    noised = toy2d(toy, 20000, seed=seed)[0] / scale
    noised = noised + score.sigmas[level] * np.random.default_rng(seed).standard_normal(
        noised.shape)
    hist = np.histogram2d(-noised[:, 1], noised[:, 0], 80, [[-LIM, LIM]] * 2)[0]
    samples = annealed_langevin(score, autograd.rand(500, 2) * 2 * LIM - LIM, score.sigmas,
                                hp['langevin_steps_2d'], 1e-4).numpy()
    data = toy2d(toy, 500, seed=seed + 1)[0] / scale
    panels = [field_image(np.zeros((80, 80)) + 0.0, LIM, points=data),
              field_image(density, LIM, points=buffers['buffer_2d'].storage[:500]),
              field_image(density, LIM, points=ends),
              field_image(np.sqrt(hist), LIM, arrows=(arrows_at, field)),
              field_image(np.zeros((80, 80)), LIM, points=samples)]
    viz.save_panels(panels, [f'{toy} (standardised)', 'exp(-E), buffer', 'exp(-E), chains '
                             'from noise', f'score, sigma {score.sigmas[level]:.2f}',
                             'annealed Langevin'], os.path.join(out, 'toy_2d.png'))
    return {'ebm_chain_nn_dist': nearest(ends, data), 'ncsn_nn_dist': nearest(samples, data),
            'data_nn_dist': nearest(toy2d(toy, 500, seed=seed + 2)[0] / scale, data)}


def nearest(a, b):
    """Mean distance from each point of a to its nearest point of b."""
    return float(np.sqrt(((a[:, None] - b[None]) ** 2).sum(-1).min(1)).mean())


def image_samples(models, ema, buffers, hp, out, seed):
    """The three samplers' images (N, C, H, W) in [0, 1], samples.png and levels.png."""
    autograd.manual_seed(seed)
    n, shape = hp['samples'], buffers['buffer'].shape
    began = time.process_time()
    x = buffers['buffer'].noise(n)
    from_noise = langevin_dynamics(models['ebm'], x, hp['noise_steps'], hp['step_size'],
                                   hp['noise_std'], clamp=(0.0, 1.0)).numpy()
    pick = np.random.default_rng(seed).choice(len(buffers['buffer']), n)
    seconds = {'ebm_noise': round(time.process_time() - began, 1)}
    began, levels = time.process_time(), []
    with ema.average_parameters():
        score = models['score']
        x = annealed_langevin(score, autograd.rand(n, *shape), score.sigmas, hp['sample_steps'],
                              hp['eps'], trajectory=levels).numpy()
    seconds['ncsn'] = round(time.process_time() - began, 1)
    out_images = {'ebm_buffer': buffers['buffer'].storage[pick], 'ebm_noise': from_noise,
                  'ncsn': np.clip(x, 0, 1)}
    viz.save_panels([out_images[k][:64] for k in out_images],
                    ['EBM: replay buffer', f'EBM: {hp["noise_steps"]} steps from noise',
                     'NCSN: annealed Langevin'], os.path.join(out, 'samples.png'))
    viz.save_image(np.clip(np.stack(levels, 1)[:8], 0, 1).reshape(-1, *shape),
                   os.path.join(out, 'levels.png'), nrow=len(levels))
    return {k: np.asarray(v, np.float32) for k, v in out_images.items()}, seconds


def main(argv=None):
    args = parse_args(argv)
    hp = resolve_preset(args, PRESETS)
    os.makedirs(args.out, exist_ok=True)
    images = load_image_dataset(args.dataset, n_train=hp['train_images'], seed=args.seed,
                                demo='ebm', fallback=True)
    toy = toy2d(args.toy, 20000, seed=args.seed)[0]
    scale = float(toy.std())
    config = {k: hp[k] for k in ('base_channels', 'levels', 'sigma_max', 'sigma_min',
                                 'width_ebm', 'buffer')} | {'dataset': images.name,
                                                            'toy': args.toy}
    autograd.manual_seed(args.seed)  # the initial weights and buffers, whatever ran before
    models, opts, ema, buffers = build(hp, images.train.shape[1:], args.device)
    state = models | {f'{k}_opt': o for k, o in opts.items()} | buffers | {'ema': ema}
    run = TrainingCheckpoints(args, 'ebm', config, state, hp['checkpoint_every'],
                              extra=lambda: {'history': history, 'streams': streams})
    _, saved = run.resume()
    history = {k: list(saved.get('history', {}).get(k, [])) for k in RUNS}
    streams = saved.get('streams') or fresh_streams(RUNS, args.seed)
    steps = {'ebm_2d': hp['steps_ebm_2d'], 'score_2d': hp['steps_2d'], 'ebm': hp['steps_ebm'],
             'score': hp['steps']} if hp['steps'] else dict.fromkeys(RUNS, 0)  # 0: sample only
    run.until = run_ends(history, steps, saved)
    data = {'ebm_2d': toy / scale, 'score_2d': toy / scale, 'ebm': images.train,
            'score': images.train}
    with run:
        train_seconds = train(models, opts, ema, buffers, data, hp, history, streams, run,
                              args.device)
    run.save(len(history['score']))

    toy_metrics = toy_figures(models, buffers, args.toy, scale, hp, args.out, args.seed + 1)
    samples, sample_seconds = image_samples(models, ema, buffers, hp, args.out, args.seed + 2)
    for k, v in samples.items():
        if k != 'ncsn':
            np.save(os.path.join(args.out, f'samples_{k}.npy'), v)
    write_samples(args.out, samples['ncsn'], 'ebm')
    viz.save_loss_panels(history, [f'{k}: {LOSS_NAMES[k]}' for k in history],
                         os.path.join(args.out, 'loss.png'))
    n = len(samples['ncsn'])
    quality = {k: sample_quality(v, images.held[:2 * n], images.name)
               for k, v in samples.items()}
    metrics = {'settings': vars(args) | hp, 'dataset': images.name,
               'steps': {k: len(v) for k, v in history.items()},
               'train_cpu_seconds': train_seconds, 'sample_cpu_seconds': sample_seconds,
               'train_seconds': train_seconds['score'],  # samples.npy's model, CPU: for trilemma
               'sample_seconds_per_image': sample_seconds['ncsn'] / n,  # samples.npy's, CPU
               'final_loss': {k: float(np.mean(v[-20:])) for k, v in history.items() if v},
               'toy_2d': toy_metrics, 'quality': quality,
               'confident_fraction': {k: q.get('confident_fraction') for k, q in quality.items()},
               'inception_score': {k: q.get('is') for k, q in quality.items()}}
    return write_metrics(args.out, metrics)


if __name__ == '__main__':
    main()
