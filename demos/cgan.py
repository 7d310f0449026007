"""A class-conditional DCGAN: ask for a digit (or a shape) and get it, one row per class.

Mirza & Osindero 2014, "Conditional Generative Adversarial Nets" (arXiv:1411.1784): both
players see the label y,

    min_G max_D  E_{x,y} log D(x, y) + E_{z,y} log(1 - D(G(z, y), y)).

G(z, y) is the DCGAN generator with a learned 10-d embedding of y concatenated to z; D
is the DCGAN discriminator with one-hot label maps concatenated to the image as K extra
channels (minigen/gans/dcgan.py, which also has conditional batch norm for G and the
projection discriminator of Miyato & Koyama 2018, arXiv:1802.05637: --g-conditioning
batchnorm, --d-conditioning projection; its docstring says why these are not the
default). Training is DCGAN's (Radford et al. 2015, arXiv:1511.06434): Adam 2e-4, beta1
0.5, batch 64, non-saturating G loss (--loss hinge: the projection paper's hinge loss);
fakes get labels drawn uniformly. The score is the share of samples that a classifier trained on
real data (minigen.metrics' feature net) puts in the class that was asked for, beside
FID and friends against held-out real images.

    python -m demos.cgan [--preset quick|full] [--dataset mnist|shapes] [--steps N]
        [--batch-size B] [--device cpu|cuda] [--seed S] [--out out/cgan] [--resume]
        [--loss nonsaturating|hinge] [--g-conditioning concat|batchnorm]
        [--d-conditioning concat|projection]

Writes to --out: classes.png (row k: ten samples of class k; column j shares its noise
across rows, so it keeps its style), classes_<step>.png over training, loss.png,
metrics.json and checkpoint.npz (which --resume continues).
"""
import argparse
import os
import time

import numpy as np

import autograd
import minigen
from minigen import viz
from minigen.data.shapes import SHAPES
from minigen.gans import DCGANDiscriminator, DCGANGenerator
from minigen.gans.losses import discriminator_loss, generator_loss
from minigen.optim import Adam
from demos.dcgan import (Z_DIM, add_gan_arguments, evaluate, gan_settings, load_images,
                         sample)
from demos.conventions import write_metrics

CLASS_NAMES = {'mnist': [str(k) for k in range(10)], 'shapes': list(SHAPES)}


def label_accuracy(images, y, dataset):
    """Share of samples the dataset's trained classifier assigns to their asked-for class
    (None when minigen.metrics or its weights are missing)."""
    try:
        from minigen.metrics import load_feature_net
        return float((load_feature_net(dataset).predict(images) == y).mean())
    except (ImportError, FileNotFoundError):
        return None


def class_grid(G, z_cols, num_classes, device):
    """(num_classes * 10) images: row k = class k, column j = noise z_cols[j]."""
    y = np.repeat(np.arange(num_classes), len(z_cols))
    z = autograd.tensor(np.tile(z_cols.numpy(), (num_classes, 1)), device=device)
    return sample(G, z, autograd.tensor(y, device=device))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--loss', choices=('nonsaturating', 'hinge'), default='nonsaturating')
    ap.add_argument('--g-conditioning', choices=('concat', 'batchnorm'), default='concat')
    ap.add_argument('--d-conditioning', choices=('concat', 'projection'), default='concat')
    add_gan_arguments(ap, 'cgan')  # --preset, --dataset, --steps, ... as in dcgan
    args = ap.parse_args(argv)
    p, steps, batch_size, ngf, ndf, n_eval = gan_settings(args)
    os.makedirs(args.out, exist_ok=True)
    ckpt_path = os.path.join(args.out, 'checkpoint.npz')

    autograd.manual_seed(args.seed)
    train, real, labels, dataset = load_images(args.dataset, args.seed)
    real, names = real[:n_eval], CLASS_NAMES[dataset]
    K, size, channels = len(names), train.shape[2], train.shape[1]
    x_data = autograd.tensor(train, device=args.device)
    y_data = autograd.tensor(labels, device=args.device)
    G = DCGANGenerator(Z_DIM, size, channels, ngf=ngf, num_classes=K,
                       conditioning=args.g_conditioning).to(args.device)
    D = DCGANDiscriminator(size, channels, ndf=ndf, num_classes=K,
                           conditioning=args.d_conditioning).to(args.device)
    opt_g = Adam(G.parameters(), lr=2e-4, betas=(0.5, 0.999))
    opt_d = Adam(D.parameters(), lr=2e-4, betas=(0.5, 0.999))
    z_cols = autograd.randn(10, Z_DIM, device=args.device)  # one noise per grid column
    z_eval = autograd.randn(n_eval, Z_DIM, device=args.device)
    y_eval = np.arange(n_eval) % K
    start_step, losses, trajectory = 0, [], []
    if args.resume:
        if not os.path.exists(ckpt_path):
            raise FileNotFoundError(f"cgan --resume: no checkpoint at {ckpt_path}; run once "
                                    f"without --resume first")
        ckpt = minigen.load(ckpt_path)
        if ckpt['dataset'] != dataset or ckpt['widths'] != [ngf, ndf] or ckpt[
                'conditioning'] != [args.g_conditioning, args.d_conditioning]:
            raise ValueError(f"cgan --resume: {ckpt_path} holds a run on {ckpt['dataset']} "
                             f"with ngf, ndf = {ckpt['widths']} and conditioning "
                             f"{ckpt['conditioning']}; this run asks for {dataset} with "
                             f"{[ngf, ndf]} and {[args.g_conditioning, args.d_conditioning]}")
        for module, key in ((G, 'G'), (D, 'D'), (opt_g, 'opt_g'), (opt_d, 'opt_d')):
            module.load_state_dict(ckpt[key])
        autograd.backend.set_rng_state(ckpt['rng'])
        start_step, losses = ckpt['step'], [list(r) for r in ckpt['losses']]
        trajectory = list(ckpt['trajectory'])

    end = start_step + steps
    eval_at = {round(end * (i + 1) / p['evals']) for i in range(p['evals'])} | {end}
    start, eval_seconds = time.time(), 0.0
    bar = viz.progress(range(start_step, end), 'train')
    for step in bar:
        idx = autograd.randint(0, len(train), (batch_size,), device=args.device)
        y_fake = autograd.randint(0, K, (batch_size,), device=args.device)
        fake = G(autograd.randn(batch_size, Z_DIM, device=args.device), y_fake)
        d_loss = discriminator_loss(D(x_data[idx], y_data[idx]), D(fake.detach(), y_fake),
                                    args.loss)
        opt_d.zero_grad()
        d_loss.backward()
        opt_d.step()
        g_loss = generator_loss(D(fake, y_fake), args.loss)
        opt_g.zero_grad()
        g_loss.backward()
        opt_g.step()
        losses.append([d_loss.item(), g_loss.item()])
        if step % 20 == 0:
            bar.set_postfix(d=f'{d_loss.item():.3f}', g=f'{g_loss.item():.3f}')
        if step + 1 in eval_at and step + 1 > start_step:
            tick = time.time()
            viz.save_image(class_grid(G, z_cols, K, args.device),
                           os.path.join(args.out, f'classes_{step + 1:06d}.png'), nrow=10,
                           row_labels=names)
            images = sample(G, z_eval, autograd.tensor(y_eval, device=args.device))
            trajectory.append({'step': step + 1,
                               'label_accuracy': label_accuracy(images, y_eval, dataset)}
                              | evaluate(images, real, dataset))
            eval_seconds += time.time() - tick
    train_seconds = time.time() - start - eval_seconds
    minigen.save({'G': G.state_dict(), 'D': D.state_dict(), 'opt_g': opt_g.state_dict(),
                  'opt_d': opt_d.state_dict(), 'step': end, 'losses': np.array(losses),
                  'rng': autograd.backend.get_rng_state(), 'dataset': dataset,
                  'widths': [ngf, ndf], 'trajectory': trajectory,
                  'conditioning': [args.g_conditioning, args.d_conditioning]}, ckpt_path)

    viz.save_image(class_grid(G, z_cols, K, args.device), os.path.join(args.out, 'classes.png'),
                   nrow=10, row_labels=names)
    loss_arr = np.array(losses)
    viz.save_curves({'L_D': loss_arr[:, 0], 'L_G': loss_arr[:, 1]},
                    os.path.join(args.out, 'loss.png'), title=f'conditional DCGAN on {dataset}')
    metrics = {'settings': vars(args) | {'steps': steps, 'batch_size': batch_size, 'ngf': ngf,
                                         'ndf': ndf, 'eval_samples': n_eval, 'lr': 2e-4},
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
