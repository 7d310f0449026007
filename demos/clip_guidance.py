"""CLIP guidance: an unconditional diffusion model on shapes steered toward captions by the
gradient of a frozen CLIP's image-text cosine.

The "CLIP + diffusion" recipe: embed the prompt, embed the image being denoised, move the
image toward the prompt. Classifier guidance of Dhariwal & Nichol 2021 (arXiv:2105.05233,
Algorithm 2) with CLIP in the classifier's place, as GLIDE does (Nichol et al. 2021,
arXiv:2112.10741, Sec. 2.4), here reading the network's prediction of the clean image
(minigen/diffusion/clip_guidance.py):

    eps_hat = eps_theta(x_t) - s sqrt(1 - alpha_bar_t) grad_{x_t} cos(f(up(x0_hat)), g(caption))

with f, g CLIP's image and text towers and up() the 2x enlargement to CLIP's 32x32 input.
1. The model: an unconditional DDPM (v target, linear schedule, T = 1000, EMA) on 16x16
   single-object shapes with large objects (as demos.ddpm's quick preset, narrower), trained
   here and checkpointed, or a demos.ddpm run on shapes given by --ddpm (it never sees a
   caption either way).
2. The CLIP: demos.clip's run given by --clip, or one trained on the spot into OUT/clip.
3. For test captions (large objects, every other attribute random), DDIM from the same
   x_T at each guidance scale s (0 = the unguided model), scored by the CLIP score and the
   project's shapes classifier (per-attribute accuracy against the caption).

    python -m demos.clip_guidance [--preset quick|full] [--clip PATH] [--ddpm PATH]
        [--scales S ...] [--samples N] [--sample-steps N] [--target x0|x_t] [--steps N] ...

Writes to --out: guidance.png (rows: scales, columns: captions, one x_T per column),
scales.png (accuracy and CLIP score against s), loss.png, samples.npy + captions.txt (the
samples at the scale of best colour accuracy), metrics.json (a row per scale) and
checkpoint.npz (--resume continues the DDPM's training; --steps 0 --resume only samples).
"""
import argparse
import os
import time

import numpy as np

import autograd
import minigen
import minigen.nn.functional as F
from minigen import viz
from minigen.data.shapes import SIZES, VOCAB, make_shapes_of_sizes
from minigen.diffusion import ddim_sample, diffusion_loss, freeze, linear_schedule, q_sample
from minigen.diffusion.clip_guidance import CLIPGuidance, TARGETS
from minigen.metrics import attribute_accuracy, clip_score, load_feature_net
from minigen.optim import Adam, EMA, LambdaLR, linear_warmup
from demos.conventions import (TrainingCheckpoints, add_run_arguments, count, existing_path,
                               fit_to_feature_net, fixed_noise, non_negative_float, parse_run_args,
                               positive_int, resolve_preset, to_unit, write_captions,
                               write_metrics, write_samples)
import demos.clip
import demos.ddpm

PRESETS = {  # quick, seed 0: 559 s of CPU; colour 0.148 unguided, 0.844 at s = 300 (demos/README)
    'quick': dict(steps=1000, batch_size=32, lr=1e-3, warmup=100, ema=0.995, base_channels=16,
                  channel_mults=(1, 2), resolution=16, sizes=('large',), n_train=20000,
                  clip_steps=250, clip_batch_size=128, clip_n_train=20000, clip_width=32,
                  scales=(0.0, 10.0, 30.0, 100.0, 300.0, 1000.0), samples=128, sample_steps=25,
                  noise_aware_steps=150, checkpoint_every=200),
    'full': dict(steps=20000, batch_size=128, lr=2e-4, warmup=1000, ema=0.999, base_channels=64,
                 channel_mults=(1, 2, 2), resolution=32, sizes=SIZES, n_train=50000,
                 clip_steps=3000, clip_batch_size=256, clip_n_train=50000, clip_width=32,
                 scales=(0.0, 10.0, 30.0, 100.0, 300.0, 1000.0), samples=512, sample_steps=50,
                 noise_aware_steps=1000, checkpoint_every=1000)}
CLIP_SIDE = 32  # demos.clip's images


def parse_args(argv):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_run_arguments(ap, 'clip_guidance', PRESETS, datasets=('shapes',), checkpoints=True)
    for flag, kind, what in (('--steps', count, 'DDPM training steps in all (0 with --resume: '
                                                'sample the saved run)'),
                             ('--batch-size', positive_int, None),
                             ('--base-channels', positive_int, 'UNet width'),
                             ('--n-train', positive_int, 'training images'),
                             ('--clip-steps', positive_int, 'steps of the CLIP trained here'),
                             ('--clip-n-train', positive_int, None),
                             ('--clip-batch-size', positive_int, None),
                             ('--clip-width', positive_int,
                              'CLIP here: ResNet widths W, 2W, 4W, text width 2W'),
                             ('--samples', positive_int, 'test captions, one sample each per '
                                                         'scale'),
                             ('--sample-steps', positive_int, 'DDIM steps'),
                             ('--noise-aware-steps', positive_int,
                              "--target x_t: steps of the CLIP image tower's training on x_t")):
        ap.add_argument(flag, type=kind, help=what)
    ap.add_argument('--scales', type=non_negative_float, nargs='+',
                    help='guidance scales s (0: unguided)')
    ap.add_argument('--target', choices=TARGETS, default='x0',
                    help="what CLIP reads: the predicted x0 (default) or the noisy x_t (then "
                         "a noise-aware copy of the CLIP is trained first)")
    ap.add_argument('--clip', type=existing_path, metavar='PATH',
                    help="demos.clip's run (folder or checkpoint)")
    ap.add_argument('--ddpm', type=existing_path, metavar='PATH',
                    help="a demos.ddpm run on shapes, unconditional (folder or checkpoint): "
                         "guide it, train none")
    return parse_run_args(ap, argv, steps_zero_means='sample the saved run')


def train(run, hp):
    """Algorithm 1 of Ho et al. (v target) on random batches, the EMA updated each step."""
    bar = viz.progress(range(run.step, run.end), 'DDPM')
    for step in bar:
        idx = autograd.randint(0, len(run.x), (hp['batch_size'],))
        loss = diffusion_loss(run.unet, run.schedule, run.x[idx], objective='v')
        run.opt.zero_grad()
        loss.backward()
        run.opt.step()
        run.lr_schedule.step()
        run.ema.update()
        run.losses.append(loss.item())
        run.step = step + 1
        if step % 25 == 0:
            bar.set_postfix(loss=f'{np.mean(run.losses[-25:]):.4f}')
        run.checkpoints.step_done(run.step)


def trained_model(args, hp):
    """The EMA UNet (eval mode), its schedule, objective and training losses: the
    demos.ddpm run of --ddpm, or the one trained here (checkpointed in OUT; --resume
    continues it)."""
    if args.ddpm:
        return demos.ddpm.load_run(args.ddpm, args.device, 'shapes', 'clip_guidance')
    autograd.manual_seed(args.seed)
    net = {k: hp[k] for k in ('resolution', 'base_channels', 'channel_mults')}
    data = make_shapes_of_sizes(hp['n_train'], hp['sizes'], hp['resolution'], args.seed, 1.3)
    unet = demos.ddpm.build_unet(net).to(args.device)
    opt = Adam(unet.parameters(), lr=hp['lr'])
    run = argparse.Namespace(unet=unet, opt=opt, schedule=linear_schedule(1000), losses=[],
                             lr_schedule=LambdaLR(opt, linear_warmup(hp['warmup'])),
                             ema=EMA(unet, decay=hp['ema']),
                             x=autograd.tensor(data.images * 2 - 1, device=args.device))
    state = {'unet': unet, 'opt': opt, 'lr_schedule': run.lr_schedule, 'ema': run.ema}
    run.checkpoints = TrainingCheckpoints(args, 'clip_guidance', net | {'sizes': hp['sizes']},
                                          state, hp['checkpoint_every'],
                                          lambda: {'losses': np.array(run.losses)})
    run.step, saved = run.checkpoints.resume()
    run.end = run.checkpoints.end(run.step, hp['steps'], saved)
    run.losses = list(saved.get('losses', []))
    with run.checkpoints:  # SIGINT/SIGTERM: save at the end of the step, then stop
        train(run, hp)
    run.checkpoints.save(run.step)
    run.ema.copy_to()
    return argparse.Namespace(unet=unet.eval(), schedule=run.schedule, objective='v',
                              losses=run.losses)


def to_clip(resolution):
    """The sampler's [-1, 1] images of `resolution` px as CLIP reads them: [0, 1], enlarged
    to 32x32 by pixel repetition (as fit_to_feature_net enlarges them for the classifier)."""
    factor = CLIP_SIDE // resolution

    def up(x):
        x = (x + 1) / 2
        return x if factor == 1 else F.interpolate(x, scale_factor=factor, mode='nearest')
    return up


def noise_aware_clip(args, hp, model):
    """GLIDE's noise-aware CLIP (Sec. 2.4), cheaply: a copy of the CLIP whose image tower
    and projection train on, against its frozen text tower and by the same contrastive
    loss, on noised images x_t = sqrt(alpha_bar_t) x_0 + sqrt(1 - alpha_bar_t) eps,
    t ~ U{0..T-1}, of the diffusion model's size and range (enlarged as the sampler's are).
    It reads no t: the noise level is in the image. Kept in OUT/noise_aware_clip.npz."""
    clip, res = demos.clip.trained_clip(args, hp), model.unet.resolution
    path = os.path.join(args.out, 'noise_aware_clip.npz')
    if os.path.exists(path) and minigen.load(path)['steps'] == hp['noise_aware_steps']:
        clip.load_state_dict(minigen.load(path)['state'])
        return clip
    freeze(clip.text_encoder)
    clip.text_projection.requires_grad_(False)
    data = make_shapes_of_sizes(hp['clip_n_train'], hp['sizes'], res, args.seed + 5, 1.3)
    x, ids = autograd.tensor(data.images * 2 - 1), clip.tokenizer.encode(data.captions)
    opt, up, n = Adam([p for p in clip.parameters() if p.requires_grad], lr=3e-4), \
        to_clip(res), hp['clip_batch_size']
    clip.image_encoder.train()
    for step in viz.progress(range(hp['noise_aware_steps']), 'noise-aware CLIP'):
        rng = np.random.default_rng([args.seed, step])
        idx = rng.choice(len(data.captions), n, replace=False)
        t = autograd.tensor(rng.integers(0, model.schedule.T, n))
        x_t = q_sample(model.schedule, x[idx], t, autograd.tensor(
            rng.standard_normal((n,) + x.shape[1:]).astype(np.float32), device=args.device))
        loss = clip.loss(up(x_t), ids[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
        clip.clamp_logit_scale()
    minigen.save({'steps': hp['noise_aware_steps'], 'state': clip.state_dict()}, path)
    return clip.eval()


def draw(model, guide, captions, scale, x_T, args, hp, batch=128):
    """DDIM from x_T (eta 0) guided by the CLIP `guide` toward `captions` at `scale` (the
    plain network at 0), in batches; images in [0, 1]."""
    out = []
    for i in range(0, len(captions), batch):
        net = model.unet if scale == 0 else CLIPGuidance(
            model.unet, model.schedule, guide, guide.text_embeddings(captions[i:i + batch]), scale,
            model.objective, args.target, preprocess=to_clip(model.unet.resolution))
        x = ddim_sample(net, model.schedule, x_T[i:i + batch], steps=hp['sample_steps'],
                        objective=model.objective)
        out.append(to_unit(x))
    return np.concatenate(out).astype(np.float32)


def score(images, prompts, clip, net):
    """CLIP score against the captions and the shapes classifier's accuracy per attribute,
    both on the images enlarged to 32x32."""
    up, _ = fit_to_feature_net(images, 'shapes')
    return {'clip_score': clip_score(up, prompts.captions, clip),
            'accuracy': attribute_accuracy(net, up, prompts.attrs)}


def pictures(samples, rows, prompts, model, out, k=8):
    """guidance.png (rows: scales, columns: the first k captions), scales.png, loss.png."""
    k = min(k, len(prompts.captions))
    words = [c.split()[2:4] for c in prompts.captions[:k]]
    viz.save_image(np.concatenate([x[:k] for x in samples]), os.path.join(out, 'guidance.png'),
                   nrow=k, scale=4, row_labels=[f"s = {r['scale']:g}" for r in rows],
                   captions=[' '.join(w) for w in words] * len(rows))
    s = np.array([r['scale'] for r in rows])
    x = np.log10(s + 1)
    curves = {f'{a} accuracy': (x, [r['accuracy'][a] for r in rows]) for a in VOCAB}
    curves['CLIP score / 100'] = (x, [r['clip_score'] / 100 for r in rows])
    viz.save_curves(curves, os.path.join(out, 'scales.png'), xlabel='log10(1 + s)',
                    ylabel='accuracy', title='CLIP guidance: what the classifier reads')
    if model.losses:
        viz.save_loss_curve(model.losses, os.path.join(out, 'loss.png'),
                            label=f'{model.objective} loss', window=50)


def main(argv=None):
    args = parse_args(argv)
    hp = resolve_preset(args, PRESETS)
    os.makedirs(args.out, exist_ok=True)
    began = time.time()
    model = trained_model(args, hp)
    train_seconds = time.time() - began
    clip = demos.clip.trained_clip(args, hp)
    guide = noise_aware_clip(args, hp, model) if args.target == 'x_t' else clip
    clip_seconds = time.time() - began - train_seconds
    res = model.unet.resolution
    prompts = make_shapes_of_sizes(hp['samples'], hp['sizes'], res, args.seed + 777, 1.3)
    x_T = fixed_noise(args.seed + 1, (len(prompts.captions), 3, res, res), args.device)
    net, rows, samples = load_feature_net('shapes'), [], []
    for s in sorted(set(hp['scales']) | {0.0}):   # always the unguided model (s = 0)
        start, cpu = time.time(), time.process_time()
        samples.append(draw(model, guide, prompts.captions, s, x_T, args, hp))
        rows.append({'scale': s, **score(samples[-1], prompts, clip, net),
                     'sample_seconds': round(time.time() - start, 1),
                     'sample_cpu_seconds': round(time.process_time() - cpu, 1)})
    colour = [r['accuracy']['color'] for r in rows]
    best = int(np.argmax(colour))
    pictures(samples, rows, prompts, model, args.out)
    write_samples(args.out, samples[best], 'clip_guidance')
    write_captions(args.out, prompts.captions)
    return write_metrics(args.out, {
        'settings': vars(args) | hp, 'step': len(model.losses), 'resolution': res,
        'by_scale': rows, 'real_images': score(prompts.images, prompts, clip, net),
        'best_scale': rows[best]['scale'], 'color_accuracy_unguided': colour[0],
        'color_accuracy_best': colour[best], 'color_gain_points': 100 * (colour[best] - colour[0]),
        'final_loss': float(np.mean(model.losses[-100:])) if model.losses else None,
        'train_seconds': round(train_seconds, 1), 'clip_seconds': round(clip_seconds, 1),
        'seconds': round(time.time() - began, 1)})


if __name__ == '__main__':
    main()
