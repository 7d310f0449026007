"""How good are frozen features? k-nearest-neighbour and linear-probe accuracy.

Self-supervised representations are judged by what a simple classifier can read from
them while the encoder stays frozen (SimCLR, Chen et al. 2020, arXiv:2002.05709, Sec. 4;
CLIP, Radford et al. 2021, arXiv:2103.00020, Sec. 3.2).

k-NN (Wu et al. 2018, arXiv:1805.01978): a test point takes the majority class of its k
most cosine-similar training points, cos(u, v) = u^T v / (||u|| ||v||); ties go to the
class whose neighbours are, in total, the most similar.

Linear probe: multinomial logistic regression on standardised features
x' = (x - mean) / std (train statistics), p = softmax(x' W + b), trained on

    L(W, b) = mean_n CE(p_n, y_n) + (lambda / 2) ||W||^2

by full-batch Adam with minigen's engine; the accuracy is measured on held-out points.
"""
import numpy as np

import autograd
import minigen.nn.functional as F
from minigen.optim import Adam


def _check(name, train_x, train_y, test_x, test_y):
    train_x, test_x = np.asarray(train_x, np.float64), np.asarray(test_x, np.float64)
    train_y, test_y = np.asarray(train_y), np.asarray(test_y)
    if train_x.ndim != 2 or test_x.ndim != 2 or train_x.shape[1] != test_x.shape[1]:
        raise ValueError(f"probe.{name}: expected features (N, D) and (M, D), got "
                         f"{train_x.shape} and {test_x.shape}")
    if train_y.shape != (len(train_x),) or test_y.shape != (len(test_x),):
        raise ValueError(f"probe.{name}: labels must be (N,) and (M,), got {train_y.shape} "
                         f"and {test_y.shape} for {len(train_x)} and {len(test_x)} points")
    return train_x, train_y.astype(np.int64), test_x, test_y.astype(np.int64)


def knn_accuracy(train_x, train_y, test_x, test_y, k=20, batch_size=1024):
    """Share of test points whose k cosine-nearest training points vote their class."""
    train_x, train_y, test_x, test_y = _check('knn_accuracy', train_x, train_y, test_x, test_y)
    k = min(k, len(train_x))
    a = train_x / np.maximum(np.linalg.norm(train_x, axis=1, keepdims=True), 1e-12)
    b = test_x / np.maximum(np.linalg.norm(test_x, axis=1, keepdims=True), 1e-12)
    n_classes = int(max(train_y.max(), test_y.max())) + 1
    correct = 0
    for i in range(0, len(b), batch_size):
        sim = b[i:i + batch_size] @ a.T                                  # (m, N) cosines
        nn_idx = np.argpartition(-sim, k - 1, axis=1)[:, :k]             # k most similar
        votes = np.zeros((len(sim), n_classes))
        rows = np.arange(len(sim))[:, None]
        np.add.at(votes, (rows, train_y[nn_idx]), 1.0)
        tie_break = np.zeros_like(votes)
        np.add.at(tie_break, (rows, train_y[nn_idx]), sim[rows, nn_idx])
        pred = np.argmax(votes + 1e-6 * tie_break / k, axis=1)           # |tie_break/k| <= 1
        correct += int((pred == test_y[i:i + batch_size]).sum())
    return correct / len(b)


def linear_probe_accuracy(train_x, train_y, test_x, test_y, steps=300, lr=0.05,
                          weight_decay=1e-3, seed=0, return_model=False):
    """Test accuracy of a logistic-regression probe fitted to the frozen train features."""
    train_x, train_y, test_x, test_y = _check('linear_probe_accuracy', train_x, train_y,
                                              test_x, test_y)
    mean, std = train_x.mean(0), train_x.std(0) + 1e-6
    n_classes = int(max(train_y.max(), test_y.max())) + 1
    x = autograd.tensor((train_x - mean) / std, dtype=autograd.float64)
    W = autograd.zeros(train_x.shape[1], n_classes, dtype=autograd.float64, requires_grad=True)
    b = autograd.zeros(n_classes, dtype=autograd.float64, requires_grad=True)
    opt = Adam([W, b], lr=lr)
    for _ in range(steps):
        loss = F.cross_entropy(x @ W + b, train_y) + (weight_decay / 2) * (W * W).sum()
        opt.zero_grad()
        loss.backward()
        opt.step()
    logits = ((test_x - mean) / std) @ W.numpy() + b.numpy()
    acc = float((logits.argmax(1) == test_y).mean())
    return (acc, (W.numpy(), b.numpy(), mean, std)) if return_model else acc
