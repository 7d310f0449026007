"""minigen.optim: optimizers, learning-rate schedules, gradient clipping, weight averaging.

    optimizer.py   Optimizer: param_groups, state, step, state_dict (read first)
    sgd.py         SGD (momentum, Nesterov, weight decay)
    adam.py        Adam, AdamW
    clip.py        clip_grad_norm_
    schedule.py    LambdaLR, linear_warmup, cosine_with_warmup
    ema.py         EMA of the weights, for sampling
    fused.py       the GPU fast path: Adam's and EMA's updates as one CUDA kernel each
"""
from .optimizer import Optimizer  # noqa: F401
from .sgd import SGD  # noqa: F401
from .adam import Adam, AdamW  # noqa: F401
from .clip import clip_grad_norm_  # noqa: F401
from .schedule import LambdaLR, linear_warmup, cosine_with_warmup  # noqa: F401
from .ema import EMA  # noqa: F401
