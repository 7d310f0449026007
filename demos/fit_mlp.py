"""The smallest honest example: fit a tiny MLP with the autograd engine alone.

A two-layer network  y_hat = W2 tanh(W1 x + b1) + b2  learns y = sin(3x) + noise
on [-2, 2] by full-batch gradient descent on the mean squared error
    L = mean((y_hat - y)^2).
Every gradient comes from `loss.backward()`; the update  theta <- theta - lr * dL/dtheta
is written out by hand under `no_grad`, so nothing but the engine is used. The initial
weights are U(-1/sqrt(fan_in), 1/sqrt(fan_in)), PyTorch's default for Linear layers
(He et al. 2015, arXiv:1502.01852, discuss such fan-in scaling).

    python -m demos.fit_mlp [--preset quick|full] [--dataset sin3x] [--steps 3000]
        [--hidden 32] [--lr 0.1] [--checkpoint-every N] [--device cpu|cuda] [--seed S]
        [--out out/fit_mlp] [--resume]

Prints the loss falling and writes `fit.png` (target and fit), `loss.png`, `graph.png`
(the graph that backward walks in the first step, each node's |grad| written in it),
`metrics.json` and `checkpoint.npz` (the weights and losses, which --resume continues)
to --out.
"""
import argparse
import os
import time

import numpy as np

import autograd as ag
from minigen import viz

from demos.conventions import (TrainingCheckpoints, add_run_arguments, parse_run_args,
                               positive_float, positive_int, resolve_preset, write_metrics)

PRESETS = {'quick': dict(steps=3000, hidden=32, lr=0.1, checkpoint_every=1000),
           'full': dict(steps=20000, hidden=64, lr=0.1, checkpoint_every=5000)}


def make_data(n, rng, device):
    x = rng.uniform(-2, 2, size=(n, 1)).astype(np.float32)
    y = np.sin(3 * x) + 0.1 * rng.standard_normal((n, 1)).astype(np.float32)
    return ag.tensor(x, device=device), ag.tensor(y, device=device)


class Weights(dict):
    """The parameters by name, with the two methods a checkpoint needs."""

    def state_dict(self):
        return {name: p.numpy() for name, p in self.items()}

    def load_state_dict(self, state):
        for name, p in self.items():
            p.data[...] = ag.tensor(state[name], device=p.device).data


def init_params(hidden, device):
    def uniform(shape, fan_in):  # U(-1/sqrt(fan_in), 1/sqrt(fan_in))
        return ((ag.rand(*shape, device=device) * 2 - 1) / np.sqrt(fan_in)).requires_grad_()
    return Weights(W1=uniform((1, hidden), 1), b1=uniform((hidden,), 1),
                   W2=uniform((hidden, 1), hidden), b2=uniform((1,), hidden))


def mlp(p, x):
    return (x @ p['W1'] + p['b1']).tanh() @ p['W2'] + p['b2']


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_run_arguments(ap, 'fit_mlp', PRESETS, datasets=('sin3x',), checkpoints=True)
    ap.add_argument('--steps', type=positive_int, help='gradient steps in this run (preset '
                                                       'default)')
    ap.add_argument('--hidden', type=positive_int, help='hidden units (preset default)')
    ap.add_argument('--lr', type=positive_float, help='learning rate (preset default)')
    args = parse_run_args(ap, argv)
    hp = resolve_preset(args, PRESETS)
    os.makedirs(args.out, exist_ok=True)

    ag.manual_seed(args.seed)
    x, y = make_data(256, np.random.default_rng(args.seed), args.device)
    params = init_params(hp['hidden'], args.device)
    config = {'dataset': args.dataset, 'hidden': hp['hidden']}
    run = TrainingCheckpoints(args, 'fit_mlp', config, {'params': params},
                              hp['checkpoint_every'], extra=lambda: {'losses': np.array(losses)})
    first, saved = run.resume()
    losses = list(saved.get('losses', []))
    end = run.end(first, hp['steps'], saved)

    start = time.time()
    with run:
        for step in range(first, end):
            loss = ((mlp(params, x) - y) ** 2).mean()
            if step == first:  # the graph backward is about to walk (autograd/viz.py)
                ag.draw_graph(loss, os.path.join(args.out, 'graph.png'), grad_norms=True,
                              names={'x': x, 'y': y, 'loss': loss} | params)
            for p in params.values():
                p.grad = None
            loss.backward()
            with ag.no_grad():  # plain gradient descent, written out
                for p in params.values():
                    p.data -= hp['lr'] * p.grad.data
            losses.append(loss.item())
            if (step - first) % max(1, hp['steps'] // 10) == 0:
                print(f"step {step:5d}  loss {loss.item():.4f}")
            run.step_done(step + 1)
    seconds = time.time() - start
    run.save(end)

    with ag.no_grad():
        grid = np.linspace(-2, 2, 200, dtype=np.float32)[:, None]
        fit = mlp(params, ag.tensor(grid, device=args.device)).numpy()[:, 0]
    draw_pictures(args.out, grid[:, 0], fit, losses)
    print(f"loss {losses[0]:.3f} -> {losses[-1]:.4f} in {seconds:.1f}s; pictures in {args.out}/")
    return write_metrics(args.out, {'settings': vars(args) | hp, 'step': end,
                                    'seconds': round(seconds, 2), 'first_loss': losses[0],
                                    'final_loss': losses[-1]})


def draw_pictures(out, grid, fit, losses):
    viz.save_curves({'sin(3x)': (grid, np.sin(3 * grid)), 'MLP fit': (grid, fit)},
                    os.path.join(out, 'fit.png'), title='MLP fit of sin(3x)',
                    xlabel='x', ylabel='y')
    viz.save_curves({'train MSE': losses}, os.path.join(out, 'loss.png'), log_y=True)


if __name__ == '__main__':
    main()
