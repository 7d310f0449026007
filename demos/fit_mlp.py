"""The smallest honest example: fit a tiny MLP with the autograd engine alone.

A two-layer network  y_hat = W2 tanh(W1 x + b1) + b2  learns y = sin(3x) + noise
on [-2, 2] by full-batch gradient descent on the mean squared error
    L = mean((y_hat - y)^2).
Every gradient comes from `loss.backward()`; the update  theta <- theta - lr * dL/dtheta
is written out by hand under `no_grad`, so nothing but the engine is used.

    python -m demos.fit_mlp [--steps 2000] [--hidden 32] [--lr 0.05] [--out out/fit_mlp]

Prints the loss falling and writes `fit.png` (target and fit) and `loss.png` to --out.
"""
import argparse
import json
import os
import time

import numpy as np

import autograd as ag


def make_data(n, rng):
    x = rng.uniform(-2, 2, size=(n, 1)).astype(np.float32)
    y = np.sin(3 * x) + 0.1 * rng.standard_normal((n, 1)).astype(np.float32)
    return ag.tensor(x), ag.tensor(y)


def init_params(hidden):
    # U(-1/sqrt(fan_in), 1/sqrt(fan_in)), PyTorch's default for Linear layers
    def uniform(shape, fan_in):
        return ((ag.rand(*shape) * 2 - 1) / np.sqrt(fan_in)).requires_grad_()
    return {'W1': uniform((1, hidden), 1), 'b1': uniform((hidden,), 1),
            'W2': uniform((hidden, 1), hidden), 'b2': uniform((1,), hidden)}


def mlp(p, x):
    return (x @ p['W1'] + p['b1']).tanh() @ p['W2'] + p['b2']


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--steps', type=int, default=3000)
    ap.add_argument('--hidden', type=int, default=32)
    ap.add_argument('--lr', type=float, default=0.1)
    ap.add_argument('--seed', type=int, default=0)
    ap.add_argument('--out', default='out/fit_mlp')
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)

    ag.manual_seed(args.seed)
    x, y = make_data(256, np.random.default_rng(args.seed))
    params = init_params(args.hidden)

    start, losses = time.time(), []
    for step in range(args.steps + 1):
        loss = ((mlp(params, x) - y) ** 2).mean()
        for p in params.values():
            p.grad = None
        loss.backward()
        with ag.no_grad():  # plain gradient descent, written out
            for p in params.values():
                p.data -= args.lr * p.grad.data
        losses.append(loss.item())
        if step % (args.steps // 10) == 0:
            print(f"step {step:5d}  loss {loss.item():.4f}")
    seconds = time.time() - start

    with ag.no_grad():
        grid = ag.tensor(np.linspace(-2, 2, 200, dtype=np.float32)[:, None])
        fit = mlp(params, grid).numpy()[:, 0]
    draw_pictures(args.out, grid.numpy()[:, 0], fit, losses)
    with open(os.path.join(args.out, 'metrics.json'), 'w') as f:
        json.dump({'settings': vars(args), 'seconds': round(seconds, 2),
                   'first_loss': losses[0], 'final_loss': losses[-1]}, f, indent=2)
    print(f"loss {losses[0]:.3f} -> {losses[-1]:.4f} in {seconds:.1f}s; pictures in {args.out}/")


def draw_pictures(out, grid, fit, losses):
    from minigen import viz
    viz.save_curves({'sin(3x)': (grid, np.sin(3 * grid)), 'MLP fit': (grid, fit)},
                    os.path.join(out, 'fit.png'), title='MLP fit of sin(3x)',
                    xlabel='x', ylabel='y')
    viz.save_curves({'train MSE': losses}, os.path.join(out, 'loss.png'), log_y=True)


if __name__ == '__main__':
    main()
