"""mlp_step: 8 Linear(64, 64) layers with tanh between them (none after the last) on a fixed
batch x, y of shape (16, 64): forward, MSE, zero grads, backward, SGD(lr 1e-2) step
(../shared/BENCHMARKS.md). At least 20 timed runs.

Each product is 16 x 64 x 64, a few microseconds of arithmetic: the step's time is the
engine's own cost per op (making Tensors, recording the graph, walking it backward,
the optimizer's loop over 16 parameters), as in every small model a learner writes first.

    python -m benchmarks --only mlp
"""
import autograd
import minigen.nn as nn
import minigen.nn.functional as F
from benchmarks import median_time
from minigen.optim import SGD


def _setup(device):
    autograd.manual_seed(0)
    layers = []
    for _ in range(8):
        layers += [nn.Linear(64, 64), nn.Tanh()]
    mlp = nn.Sequential(*layers[:-1]).to(device)
    opt = SGD(mlp.parameters(), lr=1e-2)
    x, y = autograd.randn(16, 64, device=device), autograd.randn(16, 64, device=device)

    def step():
        loss = F.mse_loss(mlp(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()

    step.model, step.x, step.y = mlp, x, y  # for tests
    return step


def run(device='cpu', repeat=5):
    return median_time(_setup(device), device, max(repeat, 20))
