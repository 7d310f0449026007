"""minigen: generative models from scratch on the autograd engine.

    import minigen.nn as nn, minigen.nn.functional as F    layers
    import minigen.optim as optim                           optimizers, schedules, EMA
    minigen.save(dict, path) / minigen.load(path)           checkpoints (.npz, no pickle)
"""
from . import nn, optim  # noqa: F401
from .checkpoint import save, load  # noqa: F401
