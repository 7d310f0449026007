"""A VQ-VAE on MNIST: digits as 7x7 grids of discrete tokens.

van den Oord, Vinyals & Kavukcuoglu 2017, "Neural Discrete Representation Learning"
(arXiv:1711.00937), with the EMA codebook of its appendix (and of Razavi et al. 2019,
arXiv:1906.00446). A convolutional encoder turns a 28x28 digit into a 7x7 grid of vectors
z_e; each is snapped to its nearest code of a K-entry codebook,

    k* = argmin_k ||z_e - e_k||^2,   z_q = e_{k*},

the decoder rebuilds the digit from z_q, and the encoder gets the decoder's gradient through
the straight-through copy z_e + sg(z_q - z_e). The loss is

    L = ||x - D(z_q)||^2 + beta ||z_e - sg(z_q)||^2        (beta = 0.25)

while each code moves to the running (EMA, decay 0.99) mean of the vectors it wins; codes
unused for `--restart-after` steps are re-seeded from encoder outputs. Codebook usage is
followed as the perplexity exp(-sum p_k log p_k) (K when all codes are used equally).

Data: MNIST test digits in ../shared/data/mnist (first 8,000 train, last 2,000 held
out), or the built-in shapes set when MNIST is absent.

    python -m demos.vqvae [--preset quick|full] [--steps N] [--batch-size B] [--codes K]
        [--code-dim D] [--restart-after N] [--device cpu|cuda] [--seed S] [--out out/vqvae]
        [--resume]

Writes to --out: reconstructions.png, codebook_usage.png (perplexity and dead codes over
training), tokens.png (a digit beside its token grid), loss.png, metrics.json (held-out
MSE, PSNR, SSIM, codebook use) and checkpoint.npz (which --resume continues).
"""
import argparse
import os
import time

import numpy as np
from PIL import Image, ImageDraw

import autograd
from minigen import viz
from minigen.autoencoders.vqvae import VQVAE
from minigen.optim import Adam
from minigen.viz.grid import font
from minigen.viz.plots import color
from demos.autoencoder import in_batches, load_images, quality, resume_or_start, save_checkpoint
from demos.conventions import add_run_arguments, write_metrics

PRESETS = {'quick': dict(steps=800, batch_size=64, hidden=(32, 64)),
           'full': dict(steps=5000, batch_size=128, hidden=(64, 128))}


def draw_tokens(image, tokens, path, cell=36):
    """One image (C, H, W) in [0, 1] enlarged beside its token grid (h, w), each cell showing
    its code index on a shade of that code's colour."""
    h, w = tokens.shape
    side = h * cell
    pic = (np.clip(image, 0, 1).transpose(1, 2, 0) * 255).astype(np.uint8)
    pic = Image.fromarray(pic.squeeze(-1) if pic.shape[-1] == 1 else pic).convert('RGB')
    canvas = Image.new('RGB', (2 * side + cell, side), 'white')
    canvas.paste(pic.resize((side, side), Image.NEAREST), (0, 0))
    draw, fnt = ImageDraw.Draw(canvas), font(cell // 3)
    for i in range(h):
        for j in range(w):
            k = int(tokens[i, j])
            hue = np.array(color(k))
            fill = tuple(int(c) for c in 255 - (255 - hue) * 0.45)
            x0, y0 = side + cell + j * cell, i * cell
            draw.rectangle([x0, y0, x0 + cell - 1, y0 + cell - 1], fill=fill, outline='white')
            draw.text((x0 + cell // 2, y0 + cell // 2), str(k), fill='black', font=fnt, anchor='mm')
    canvas.save(path)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--preset', choices=PRESETS, default='quick')
    ap.add_argument('--steps', type=int, help='training steps in this run (preset default)')
    ap.add_argument('--batch-size', type=int)
    ap.add_argument('--codes', type=int, default=64, help='codebook size K')
    ap.add_argument('--code-dim', type=int, default=16)
    ap.add_argument('--restart-after', type=int, default=50,
                    help='re-seed codes unused for this many steps (0: never)')
    ap.add_argument('--train-images', type=int, default=8000, help='first N digits to train on')
    ap.add_argument('--eval-images', type=int, default=2000, help='last N digits held out')
    add_run_arguments(ap, 'vqvae')
    args = ap.parse_args(argv)
    preset = PRESETS[args.preset]
    steps = preset['steps'] if args.steps is None else args.steps
    batch_size = args.batch_size or preset['batch_size']
    os.makedirs(args.out, exist_ok=True)
    ckpt_path = os.path.join(args.out, 'checkpoint.npz')

    autograd.manual_seed(args.seed)
    train_x, _, test_x, _, dataset = load_images(args.train_images, args.eval_images)
    x_train = autograd.tensor(train_x, device=args.device)
    config = {'dataset': dataset, 'codes': args.codes, 'code_dim': args.code_dim,
              'hidden': list(preset['hidden']), 'restart_after': args.restart_after}
    model = VQVAE(train_x.shape[1:], preset['hidden'], args.code_dim, args.codes, beta=0.25,
                  ema=True, decay=0.99, restart_after=args.restart_after).to(args.device)
    opt = Adam(model.parameters(), lr=1e-3)
    start_step, history, rng_state = resume_or_start(ckpt_path, args.resume, config,
                                                     {'vqvae': model}, {'vqvae': opt}, 'vqvae')
    if rng_state is not None:
        autograd.backend.set_rng_state(rng_state)
    history = history or {'recon': [], 'commitment': [], 'perplexity': [], 'dead_codes': []}

    start = time.time()
    bar = viz.progress(range(start_step, start_step + steps), 'train')
    for step in bar:
        x = x_train[autograd.randint(0, len(train_x), (batch_size,), device=args.device)]
        out = model.loss(x)
        opt.zero_grad()
        out['loss'].backward()
        opt.step()
        history['recon'].append(out['recon'].item())
        history['commitment'].append(out['vq'].item() / 0.25)
        history['perplexity'].append(out['perplexity'])
        history['dead_codes'].append(int((model.quantizer.unused_steps.numpy() > 0).sum()))
        if step % 20 == 0:
            bar.set_postfix(recon=f"{np.mean(history['recon'][-20:]):.4f}",
                            perplexity=f"{np.mean(history['perplexity'][-20:]):.1f}")
    train_seconds = time.time() - start
    step = start_step + steps
    save_checkpoint(ckpt_path, step, config, {'vqvae': model}, {'vqvae': opt}, history,
                    autograd.backend.get_rng_state())

    model.eval()
    tokens = in_batches(lambda x: autograd.Tensor._make(model.encode(x)), test_x, args.device)
    rec = in_batches(lambda t: model.decode(t), tokens, args.device)
    counts = np.bincount(tokens.reshape(-1), minlength=args.codes)
    p = counts / counts.sum()
    viz.save_image(np.concatenate([test_x[:10], rec[:10], test_x[10:20], rec[10:20]]),
                   os.path.join(args.out, 'reconstructions.png'), nrow=10,
                   row_labels=['input', 'VQ-VAE', 'input', 'VQ-VAE'])
    viz.save_curves({'perplexity (batch)': history['perplexity'],
                     'codes unused this step': history['dead_codes']},
                    os.path.join(args.out, 'codebook_usage.png'), xlabel='step', ylabel='codes',
                    title=f'codebook usage, K = {args.codes}')
    viz.save_curves({'reconstruction MSE ([-1, 1] units)': history['recon'],
                     'commitment ||z_e - sg(z_q)||^2': history['commitment']},
                    os.path.join(args.out, 'loss.png'), log_y=True, title='VQ-VAE losses')
    draw_tokens(test_x[0], tokens[0], os.path.join(args.out, 'tokens.png'))

    result = {'settings': vars(args) | {'steps': steps, 'batch_size': batch_size,
                                        'hidden': list(preset['hidden']), 'lr': 1e-3},
              'dataset': dataset, 'step': step, 'train_seconds': round(train_seconds, 2),
              'first_loss': float(np.mean(history['recon'][:20])),
              'final_loss': float(np.mean(history['recon'][-50:])),
              'held_out': quality(test_x, rec) | {
                  'codes_used': int((counts > 0).sum()),
                  'perplexity': float(np.exp(-(p[p > 0] * np.log(p[p > 0])).sum())),
                  'bits_per_image': float(np.prod(tokens.shape[1:]) * np.log2(args.codes))},
              'held_out_images': len(test_x)}
    return write_metrics(args.out, result)


if __name__ == '__main__':
    main()
