"""minigen.nn: layers and modules, named as in torch.nn.

Read in this order:
    module.py      Module (parameters, buffers, state_dict, train/eval, to) and Parameter
    containers.py  Sequential, ModuleList, ModuleDict, Identity
    init.py        weight initialization (minigen.nn.init)
    linear.py      Linear, Embedding
    conv.py        Conv2d, ConvTranspose2d
    norm.py        GroupNorm, LayerNorm, BatchNorm2d; GroupNormSiLU (SiLU(GroupNorm(x)), fused)
    attention.py   MultiheadAttention
    transformer.py TransformerBlock (pre-norm), QuickGELU
    activation.py  ReLU, LeakyReLU, SiLU, GELU, Tanh, Sigmoid, Softplus, Dropout
    pooling.py     MaxPool2d, AvgPool2d, Upsample, Flatten
    functional.py  every layer as a function: import minigen.nn.functional as F
"""
from . import init  # noqa: F401
from .module import Module, Parameter  # noqa: F401
from .containers import Sequential, ModuleList, ModuleDict, Identity  # noqa: F401
from .linear import Linear, Embedding  # noqa: F401
from .conv import Conv2d, ConvTranspose2d  # noqa: F401
from .norm import GroupNorm, GroupNormSiLU, LayerNorm, BatchNorm2d  # noqa: F401
from .attention import MultiheadAttention  # noqa: F401
from .transformer import TransformerBlock, QuickGELU  # noqa: F401
from .activation import ReLU, LeakyReLU, SiLU, GELU, Tanh, Sigmoid, Softplus, Dropout  # noqa: F401
from .pooling import MaxPool2d, AvgPool2d, Upsample, Flatten  # noqa: F401
