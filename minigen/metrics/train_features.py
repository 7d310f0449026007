"""Train the feature networks of minigen.metrics (features.py) and write weights/<dataset>.npz.

    python -m minigen.metrics.train_features --dataset mnist    # 8 epochs, ~3 min on 2 busy cores
    python -m minigen.metrics.train_features --dataset shapes   # 12 epochs, ~8 min

Held-out accuracy of the shipped weights: MNIST 98.8% (digit); shapes 96.8% (shape kind),
100% (colour, size, position). Telling 6-pixel circles, squares and diamonds apart is the
slow part: the other three heads are solved within two epochs.

MNIST: the first 8,000 digits of the MNIST test set (the only MNIST shipped beside the
repository, ../shared/data/mnist) train the net; the last 2,000 are held out and the
accuracy on them is stored in the file (tests require >= 98%). Augmentation: random
shifts of up to 2 pixels (zero padding, then a random 28x28 crop), so the features do
not hinge on exact centring. Shapes: single-object images of make_shapes (seed 1) train
four heads at once, loss = the sum of the four cross-entropies; 2,000 images of seed 2
are held out. Adam, lr 2e-3 with a cosine decay, batch 128, float32.

The weights are stored in float16 (half the size; the features change by ~1e-3
relative) and loaded back into float32.
"""
import argparse
import os
import time

import numpy as np

import autograd as ag
import minigen
import minigen.nn.functional as F
from minigen import optim, viz
from minigen.data.idx import load_mnist
from minigen.data.shapes import make_shapes
from minigen.metrics.features import DATASETS, WEIGHTS, build

MNIST_ROOT = os.path.join(os.path.dirname(__file__), '..', '..', '..', 'shared', 'data', 'mnist')


def load_data(dataset, n_train):
    """(x_train, labels_train, x_test, labels_test), labels as {head: (N,) int64}."""
    if dataset == 'mnist':
        x, y = load_mnist('test', root=os.path.normpath(MNIST_ROOT), download=False)
        return x[:8000], {'digit': y[:8000]}, x[8000:], {'digit': y[8000:]}
    train, test = make_shapes(n_train, seed=1), make_shapes(2000, seed=2)
    heads = DATASETS['shapes']['heads']
    return (train.images, {h: train.attrs[h] for h in heads},
            test.images, {h: test.attrs[h] for h in heads})


def random_shift(x, rng, pad=2):
    """Each image moved by up to `pad` pixels: zero-pad, then crop at a random offset."""
    n, c, h, w = x.shape
    padded = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    dy, dx = rng.integers(0, 2 * pad + 1, (2, n))
    rows = dy[:, None] + np.arange(h)[None]                      # (n, h)
    cols = dx[:, None] + np.arange(w)[None]                      # (n, w)
    return padded[np.arange(n)[:, None, None, None], np.arange(c)[None, :, None, None],
                  rows[:, None, :, None], cols[:, None, None, :]]


def accuracy(net_model, x, labels, batch_size=500):
    """{head: share of correct arg-max predictions}."""
    net_model.eval()
    correct = {h: 0 for h in labels}
    with ag.no_grad():
        for i in range(0, len(x), batch_size):
            _, out = net_model(ag.tensor(x[i:i + batch_size]))
            for h in labels:
                correct[h] += int((out[h].numpy().argmax(1) == labels[h][i:i + batch_size]).sum())
    return {h: correct[h] / len(x) for h in labels}


def feature_scale(net_model, x, batch_size=500):
    """s = sqrt(mean |h|^2 / D) of the penultimate features h over images x (see features.py)."""
    net_model.eval()
    total = 0.0
    with ag.no_grad():
        for i in range(0, len(x), batch_size):
            h, _ = net_model(ag.tensor(x[i:i + batch_size]))
            total += float((h.numpy().astype(np.float64) ** 2).sum())
    return float(np.sqrt(total / (len(x) * h.shape[1])))


def train(dataset, epochs, n_train=12000, batch_size=128, lr=2e-3, seed=0, path=None):
    ag.manual_seed(seed)
    rng = np.random.default_rng(seed)
    x_train, y_train, x_test, y_test = load_data(dataset, n_train)
    model = build(dataset)
    opt = optim.Adam(model.parameters(), lr=lr)
    steps_per_epoch = len(x_train) // batch_size
    sched = optim.LambdaLR(opt, optim.cosine_with_warmup(50, epochs * steps_per_epoch))
    start = time.time()
    for epoch in range(epochs):
        model.train()
        order = rng.permutation(len(x_train))
        bar = viz.progress(range(steps_per_epoch), desc=f'{dataset} epoch {epoch + 1}/{epochs}')
        for step in bar:
            idx = order[step * batch_size:(step + 1) * batch_size]
            x = x_train[idx] if dataset == 'shapes' else random_shift(x_train[idx], rng)
            _, out = model(ag.tensor(x))
            loss = sum(F.cross_entropy(out[h], ag.tensor(y_train[h][idx])) for h in y_train)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            bar.set_postfix(loss=f'{loss.item():.3f}')
        print(f"epoch {epoch + 1}: held-out accuracy {accuracy(model, x_test, y_test)}")
    acc = accuracy(model, x_test, y_test)
    state = {k: v.numpy().astype(np.float16) for k, v in model.state_dict().items()}
    path = os.path.join(WEIGHTS, f'{dataset}.npz') if path is None else path
    model.load_state_dict(state)                 # the scale of the weights as shipped
    minigen.save({'model': state, 'dataset': dataset, 'test_accuracy': acc,
                  'feature_scale': feature_scale(model, x_train),
                  'settings': dict(epochs=epochs, n_train=len(x_train), batch_size=batch_size,
                                   lr=lr, seed=seed, train_seconds=round(time.time() - start, 1))},
                 path)
    print(f"wrote {path}: held-out accuracy {acc}, {time.time() - start:.0f} s")
    return acc


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--dataset', choices=list(DATASETS), required=True)
    p.add_argument('--epochs', type=int, default=None, help='default: 8 (mnist), 12 (shapes)')
    p.add_argument('--n-train', type=int, default=12000, help='shapes images to train on')
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--out', default=None, help='default: minigen/metrics/weights/<dataset>.npz')
    a = p.parse_args(argv)
    epochs = a.epochs or {'mnist': 8, 'shapes': 12}[a.dataset]
    return train(a.dataset, epochs, n_train=a.n_train, seed=a.seed, path=a.out)


if __name__ == '__main__':
    main()
