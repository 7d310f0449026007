"""Weight initialization, in place, from the engine's seeded generator (as torch.nn.init).

Why the scale matters: for y = W x with n inputs of unit variance and i.i.d. weights,
Var(y_i) = n Var(W_ij). Keeping activations (and gradients) at unit scale through depth
needs Var(W) = 1/n, times a gain for the nonlinearity that follows.

    fans                 W of shape (out, in, *k):  fan_in = in * prod(k),  fan_out = out * prod(k)
    xavier (Glorot & Bengio 2010, AISTATS)       Var(W) = gain^2 * 2 / (fan_in + fan_out)
        uniform U(-b, b): b = gain * sqrt(6 / (fan_in + fan_out));  normal: std = sqrt(Var(W))
    kaiming (He et al. 2015, arXiv:1502.01852)   Var(W) = gain^2 / fan   (fan_in or fan_out)
        uniform U(-b, b): b = gain * sqrt(3 / fan);                  normal: std = gain / sqrt(fan)
    gain: 1 (linear, sigmoid), 5/3 (tanh), sqrt(2) (relu), sqrt(2 / (1 + a^2)) (leaky_relu, slope a)

PyTorch's default for Linear and Conv weights is kaiming_uniform_(W, a=sqrt(5)): gain^2 =
2 / 6, so b = sqrt(3 * 2/6 / fan_in) = 1 / sqrt(fan_in).

Every function fills the tensor under no_grad, draws from `autograd.backend.rng(device)`
(so `autograd.manual_seed` makes it repeatable) and returns the tensor.
"""
import math

from autograd import backend, no_grad


def calculate_fan_in_and_fan_out(tensor):
    """(fan_in, fan_out) of a weight of shape (out, in, *kernel)."""
    if tensor.ndim < 2:
        raise ValueError(f"calculate_fan_in_and_fan_out: needs a weight with at least 2 "
                         f"dimensions (out, in, ...), got shape {tensor.shape}")
    receptive = math.prod(tensor.shape[2:])
    return tensor.shape[1] * receptive, tensor.shape[0] * receptive


def calculate_gain(nonlinearity, param=None):
    """The factor by which `nonlinearity` shrinks the standard deviation, inverted."""
    gains = {'linear': 1.0, 'conv2d': 1.0, 'conv_transpose2d': 1.0, 'sigmoid': 1.0,
             'tanh': 5.0 / 3, 'relu': math.sqrt(2.0)}
    if nonlinearity == 'leaky_relu':
        a = 0.01 if param is None else param
        return math.sqrt(2.0 / (1 + a ** 2))
    if nonlinearity not in gains:
        raise ValueError(f"calculate_gain: unknown nonlinearity {nonlinearity!r}; use one of "
                         f"{sorted(gains) + ['leaky_relu']}")
    return gains[nonlinearity]


def _fill(tensor, sample):
    """tensor <- sample(generator, shape) (float64 draws, cast to the tensor's dtype)."""
    with no_grad():
        tensor.copy_(sample(backend.rng(tensor.device), tensor.shape))
    return tensor


def uniform_(tensor, a=0.0, b=1.0):
    """U(a, b)."""
    if not a <= b:
        raise ValueError(f"uniform_: needs a <= b, got a={a}, b={b}")
    return _fill(tensor, lambda gen, shape: a + (b - a) * gen.random(shape))


def normal_(tensor, mean=0.0, std=1.0):
    """N(mean, std^2)."""
    if std < 0:
        raise ValueError(f"normal_: std must be >= 0, got {std}")
    return _fill(tensor, lambda gen, shape: mean + std * gen.standard_normal(shape))


def constant_(tensor, val):
    with no_grad():
        return tensor.fill_(val)


def zeros_(tensor):
    return constant_(tensor, 0.0)


def ones_(tensor):
    return constant_(tensor, 1.0)


def xavier_uniform_(tensor, gain=1.0):
    fan_in, fan_out = calculate_fan_in_and_fan_out(tensor)
    bound = gain * math.sqrt(6.0 / (fan_in + fan_out))
    return uniform_(tensor, -bound, bound)


def xavier_normal_(tensor, gain=1.0):
    fan_in, fan_out = calculate_fan_in_and_fan_out(tensor)
    return normal_(tensor, 0.0, gain * math.sqrt(2.0 / (fan_in + fan_out)))


def _kaiming_std(fname, tensor, a, mode, nonlinearity):
    if mode not in ('fan_in', 'fan_out'):
        raise ValueError(f"{fname}: mode must be 'fan_in' or 'fan_out', got {mode!r}")
    fan_in, fan_out = calculate_fan_in_and_fan_out(tensor)
    return calculate_gain(nonlinearity, a) / math.sqrt(fan_in if mode == 'fan_in' else fan_out)


def kaiming_uniform_(tensor, a=0.0, mode='fan_in', nonlinearity='leaky_relu'):
    """U(-b, b) with b = sqrt(3) * gain / sqrt(fan) (a: the leaky_relu slope)."""
    bound = math.sqrt(3.0) * _kaiming_std('kaiming_uniform_', tensor, a, mode, nonlinearity)
    return uniform_(tensor, -bound, bound)


def kaiming_normal_(tensor, a=0.0, mode='fan_in', nonlinearity='leaky_relu'):
    """N(0, std^2) with std = gain / sqrt(fan)."""
    return normal_(tensor, 0.0, _kaiming_std('kaiming_normal_', tensor, a, mode, nonlinearity))
