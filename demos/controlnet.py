"""ControlNet: a frozen caption-conditioned diffusion model drawing the silhouette it is given.

Zhang, Rao & Agrawala 2023, "Adding Conditional Control to Text-to-Image Diffusion Models"
(arXiv:2302.05543), on the `shapes` images at 16x16 pixels:
1. a base model eps_theta(x_t, t, c_t): a pixel-space UNet reading the caption through a
   small text encoder (minigen.diffusion.LatentDiffusion without a first stage), trained
   here first (or read from an earlier run by --base, or its text tower from --clip);
2. frozen, it gets a ControlNet (minigen.diffusion.controlnet): a trainable copy of its
   encoder reading the control map c_f (the object's silhouette, or --control outline),
       y_c = F(x; Theta) + Z(F(x + Z(c_f; Theta_z1); Theta_c); Theta_z2)          (2)
   trained on the base model's own loss with the caption replaced by "" half the time (3).
The caption still chooses the colour; the control map chooses shape, size and place.
Measured: the mask IoU between the drawn object (the pixels far from the sample's median
colour) and the control's silhouette, the colour the shapes classifier reads against the
asked one, and the IoU against the training step, where the paper sees "sudden
convergence": the output ignores the control, then within a few steps follows it.

    python -m demos.controlnet [--preset quick|full] [--control mask|outline] [--base PATH]
        [--clip PATH] [--steps N] [--control-steps N] [--guidance S] [--resume] ...

Writes to --out: controls.png (a row of control maps, the samples under two captions each),
iou.png (IoU against ControlNet step), loss.png, samples.npy + captions.txt + controls.npy,
metrics.json and checkpoint.npz (both stages; --resume continues a killed run).
"""
import argparse
import os
import time
from types import SimpleNamespace

import numpy as np

import autograd
import minigen
from minigen import viz
from minigen.contrastive.encoders import TextTransformer
from minigen.data import COLORS, Tokenizer, caption, make_shapes, outline, split_compositions
from minigen.diffusion import (ClassifierFreeGuidance, ControlledUNet, ControlNet,
                               LatentDiffusion, UNet, ddim_sample, diffusion_loss, freeze,
                               linear_schedule, load_clip_text_encoder)
from minigen.metrics import attribute_accuracy, load_feature_net, mask_iou
from minigen.optim import Adam
from demos.conventions import (TrainingCheckpoints, add_run_arguments, count, existing_path,
                               fit_to_feature_net, halve, non_negative_float, parse_run_args,
                               positive_float, positive_int, resolve_preset, to_unit, unit_float,
                               write_captions, write_metrics, write_samples)

PRESETS = {
    'quick': dict(steps=400, control_steps=300, batch_size=32, lr=2e-3, control_lr=1e-3,
                  base_channels=32, text_width=32, text_layers=1, n_train=10000, samples=48,
                  drop_captions=0.5, guidance=3.0, sample_steps=15, eval_every=25,
                  eval_maps=12, checkpoint_every=100),
    'full': dict(steps=20000, control_steps=10000, batch_size=128, lr=3e-4, control_lr=1e-4,
                 base_channels=96, text_width=128, text_layers=3, n_train=50000, samples=500,
                 drop_captions=0.5, guidance=3.0, sample_steps=50, eval_every=250,
                 eval_maps=64, checkpoint_every=1000),
}
SIZE = 16  # images drawn at 32 px, averaged to 16 (and the classifier's input repeated up)


def parse_args(argv):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_run_arguments(ap, 'controlnet', PRESETS, datasets=('shapes',))
    for flag, kind, what in (('--steps', count, 'base model steps in all'),
                             ('--control-steps', count, 'ControlNet steps in all'),
                             ('--batch-size', positive_int, None), ('--lr', positive_float, None),
                             ('--control-lr', positive_float, None),
                             ('--base-channels', positive_int, 'UNet width'),
                             ('--text-width', positive_int, None),
                             ('--n-train', positive_int, None),
                             ('--samples', positive_int, 'control maps drawn (x 2 captions)'),
                             ('--drop-captions', unit_float, 'ControlNet caption dropout'),
                             ('--guidance', non_negative_float, None),
                             ('--sample-steps', positive_int, 'DDIM steps'),
                             ('--eval-every', positive_int,
                              'ControlNet steps between IoUs (a fifth of it at first)'),
                             ('--eval-maps', positive_int, 'control maps of the IoU curve'),
                             ('--checkpoint-every', positive_int, None)):
        ap.add_argument(flag, type=kind, help=what)
    ap.add_argument('--control', choices=('mask', 'outline'), default='mask')
    ap.add_argument('--base', type=existing_path, metavar='PATH', help="an earlier "
                    "demos.controlnet run's checkpoint: its base model, frozen (skips stage 1)")
    ap.add_argument('--clip', type=existing_path, metavar='PATH',
                    help="demos.clip's run: its frozen text tower")
    ap.add_argument('--timesteps', type=positive_int, default=1000)
    return parse_run_args(ap, argv)


def load_data(args, hp):
    """Training images (without the held-out compositions) and test images at 16x16, each
    with its silhouette S = [coverage >= 1/2] and its control map (silhouette or outline)."""
    def at_16(data):
        masks = halve(data.masks)
        control = masks if args.control == 'mask' else outline(masks)
        return SimpleNamespace(images=halve(data.images), silhouettes=masks >= 0.5,
                               controls=control.astype(np.float32), captions=data.captions,
                               attrs=data.attrs)
    train, _ = split_compositions(make_shapes(hp['n_train'], 32, args.seed, with_masks=True))
    test = make_shapes(max(hp['samples'], hp['eval_maps']), 32, args.seed + 777,
                       with_masks=True)
    return at_16(train), at_16(test)


def build(args, hp):
    """The base model (UNet + text encoder), the ControlNet on its UNet, their optimizers."""
    autograd.manual_seed(args.seed)
    tok = Tokenizer()
    text = load_clip_text_encoder(args.clip) if args.clip else TextTransformer(
        tok.vocab_size, tok.context_length, width=hp['text_width'], layers=hp['text_layers'],
        eot_token=tok.eot, pad_token=tok.pad)
    unet = UNet(3, resolution=SIZE, base_channels=hp['base_channels'], channel_mults=(1, 2, 2),
                attention_resolutions=(4,), context_dim=text.width, pooled_dim=text.width)
    ldm = LatentDiffusion(unet, linear_schedule(args.timesteps), text, tok, objective='v')
    controlnet = ControlNet(unet, control_channels=1)
    return ldm, controlnet, Adam(ldm.trainable_parameters(), lr=hp['lr']), Adam(
        [p for p in controlnet.parameters()], lr=hp['control_lr'])


def start_control(run, hp, fresh=True):
    """Stage 2: freeze the base model; a fresh ControlNet copies its trained encoder (eq.
    2), or the one of a resumed run goes on."""
    freeze(run.ldm)
    if fresh:
        run.state['controlnet'] = ControlNet(run.ldm.unet, control_channels=1)
        run.state['control_opt'] = Adam(list(run.state['controlnet'].parameters()),
                                        lr=hp['control_lr'])
    run.controlled = ControlledUNet(run.ldm.unet, run.state['controlnet'])
    run.stage = 'control'


def train(run, hp, stage):
    """Stage 'base': eq. (3) of latent diffusion on pixels; stage 'control': the same loss
    through the ControlNet, captions dropped at rate drop_captions, the base frozen."""
    x, ids = autograd.tensor(run.train.images * 2 - 1), run.ldm.tokenize(run.train.captions)
    controls = autograd.tensor(run.train.controls)
    steps, opt = ((hp['steps'], run.state['opt']) if stage == 'base'
                  else (hp['control_steps'], run.state['control_opt']))
    for step in viz.progress(range(run.steps[stage], steps), stage):
        every = hp['eval_every'] if step >= 2 * hp['eval_every'] else max(1, hp['eval_every'] // 5)
        if stage == 'control' and step % every == 0:  # 5x as often at first: the jump
            run.iou.append((step, mask_iou(draw(run, run.test, hp, hp['eval_maps']),
                                           run.test.silhouettes[:hp['eval_maps']])))
        idx = autograd.randint(0, len(x), (hp['batch_size'],))
        if stage == 'base':
            loss = run.ldm.loss(x[idx], ids[idx.numpy()])
        else:
            cond = run.ldm.text_conditions(run.ldm.drop_captions(ids[idx.numpy()],
                                                                 hp['drop_captions']))
            loss = diffusion_loss(run.controlled, run.ldm.schedule, x[idx], objective='v',
                                  control=controls[idx], **cond)
        opt.zero_grad()
        loss.backward()
        opt.step()
        run.losses[stage].append(loss.item())
        run.steps[stage] = step + 1
        run.checkpoints.step_done(sum(run.steps.values()))
    if stage == 'control' and (not run.iou or run.iou[-1][0] != run.steps[stage]):
        run.iou.append((run.steps[stage], mask_iou(draw(run, run.test, hp, hp['eval_maps']),
                                                   run.test.silhouettes[:hp['eval_maps']])))


def draw(run, data, hp, n, captions=None, control=True, seed=1):
    """Samples in [0, 1] for the first n control maps of `data` (and their captions, or
    `captions`), DDIM with classifier-free guidance, the control in both halves; without
    `control`, the base model alone. The global random stream is left as it was."""
    captions = captions or data.captions[:n]
    state = autograd.backend.get_rng_state()
    autograd.manual_seed(seed)
    with autograd.no_grad():
        cond = run.ldm.text_conditions(captions)
        null = run.ldm.text_conditions(run.ldm.null_ids(1))
        net = run.controlled if control else run.ldm.unet
        if control:
            cond['control'] = null['control'] = autograd.tensor(data.controls[:n])
        x = ddim_sample(ClassifierFreeGuidance(net, hp['guidance'], **null), run.ldm.schedule,
                        autograd.randn(n, 3, SIZE, SIZE), steps=hp['sample_steps'],
                        objective='v', **cond)
    autograd.backend.set_rng_state(state)
    return to_unit(x).astype(np.float32)


def evaluate(run, args, hp):
    """Each of `samples` control maps under its own caption and under the caption with
    another colour: IoU against the silhouette, the classifier's colour (and shape, size,
    place, which the control map decides) against what was asked; the base model alone and
    the real images give the floor and the ceiling of the IoU."""
    n, t = hp['samples'], run.test
    other = (t.attrs['color'][:n] + 1 + np.arange(n) % (len(COLORS) - 1)) % len(COLORS)
    asked = {k: np.concatenate([v[:n], other if k == 'color' else v[:n]])
             for k, v in t.attrs.items() if k in ('shape', 'color', 'size', 'position')}
    captions = [caption(*(asked[k][i] for k in ('shape', 'color', 'size', 'position')))
                for i in range(2 * n)]
    both = SimpleNamespace(controls=np.concatenate([t.controls[:n]] * 2))
    samples = draw(run, both, hp, 2 * n, captions, seed=args.seed + 4)
    silhouettes = np.concatenate([t.silhouettes[:n]] * 2)
    net = load_feature_net('shapes')
    fit = lambda images: fit_to_feature_net(images, 'shapes')[0]
    return samples, captions, both.controls, {
        'mask_iou': mask_iou(samples, silhouettes),
        'mask_iou_base_model': mask_iou(draw(run, both, hp, 2 * n, captions, False,
                                             args.seed + 4), silhouettes),
        'mask_iou_real': mask_iou(t.images[:n], t.silhouettes[:n]),
        'accuracy': attribute_accuracy(net, fit(samples), asked),
        'real_accuracy': attribute_accuracy(net, fit(t.images[:n]), t.attrs), 'n_samples': 2 * n}


def pictures(run, args, hp, samples, captions, controls):
    """controls.png (control maps over their samples under two captions), iou.png, loss.png."""
    n, k = hp['samples'], min(8, hp['samples'])
    rows = [np.repeat(controls[:k], 3, axis=1), samples[:k], samples[n:n + k]]
    labels = [''] * k + [c.split()[2] for c in captions[:k] + captions[n:n + k]]
    viz.save_image(np.concatenate(rows), os.path.join(args.out, 'controls.png'), nrow=k,
                   row_labels=[f'{args.control}', 'caption 1', 'caption 2'], captions=labels)
    if run.iou:
        steps, iou = zip(*run.iou)
        viz.save_curves({'mask IoU': (np.array(steps), np.array(iou))},
                        os.path.join(args.out, 'iou.png'), xlabel='ControlNet step',
                        ylabel='mask IoU', title='IoU of the drawn object and the control')
    losses = {s: v for s, v in run.losses.items() if len(v) > 1}
    if losses:
        viz.save_curves({f'{s} loss': viz.running_mean(v, min(25, len(v)))
                         for s, v in losses.items()},
                        os.path.join(args.out, 'loss.png'), log_y=True)


def main(argv=None):
    args = parse_args(argv)
    hp = resolve_preset(args, PRESETS)
    os.makedirs(args.out, exist_ok=True)
    began = time.time()
    run = SimpleNamespace(stage='base', steps={'base': 0, 'control': 0}, iou=[],
                          losses={'base': [], 'control': []})
    run.train, run.test = load_data(args, hp)
    run.ldm, controlnet, opt, control_opt = build(args, hp)
    run.state = {'ldm': run.ldm, 'opt': opt, 'controlnet': controlnet, 'control_opt': control_opt}
    config = {k: hp[k] for k in ('base_channels', 'text_width', 'text_layers', 'n_train')} | {
        'clip': args.clip, 'base': args.base, 'control': args.control, 'T': args.timesteps}
    run.checkpoints = TrainingCheckpoints(args, 'controlnet', config, run.state,
                                          hp['checkpoint_every'],
                                          lambda: {'stage': run.stage, 'steps': run.steps,
                                                   'iou': np.array(run.iou).reshape(-1, 2),
                                                   **{f'{s}_losses': np.array(v)
                                                      for s, v in run.losses.items()}})
    _, saved = run.checkpoints.resume()
    if saved:
        run.stage, run.steps = saved['stage'], {k: int(v) for k, v in saved['steps'].items()}
        run.iou = [(int(s), float(v)) for s, v in saved['iou']]
        run.losses = {s: list(saved[f'{s}_losses']) for s in run.losses}
        if run.stage == 'control':
            start_control(run, hp, fresh=False)
    elif args.base:
        run.ldm.load_state_dict(minigen.load(args.base)['state']['ldm'])
        start_control(run, hp)
    with run.checkpoints:  # SIGINT/SIGTERM: save at the end of the step, then stop
        if run.stage == 'base':
            train(run, hp, 'base')
            start_control(run, hp)
        train(run, hp, 'control')
    run.checkpoints.save(sum(run.steps.values()))
    train_seconds = time.time() - began
    samples, captions, controls, m = evaluate(run, args, hp)
    pictures(run, args, hp, samples, captions, controls)
    write_samples(args.out, samples, 'controlnet')
    np.save(os.path.join(args.out, 'controls.npy'), controls)
    write_captions(args.out, captions)
    return write_metrics(args.out, {
        'settings': vars(args) | hp, **m, 'iou_by_step': run.iou, 'steps': run.steps,
        'train_seconds': round(train_seconds, 1), 'seconds': round(time.time() - began, 1)})


if __name__ == '__main__':
    main()
