"""Grad mode and anomaly mode: two global switches, named as PyTorch names them.

`no_grad()` turns off graph recording (sampling, evaluation, optimizer steps);
`enable_grad()` turns it back on inside a `no_grad` block; both work as context
managers and as decorators. `detect_anomaly()` makes every op check its output
(forward) and its input gradients (backward) for NaN or inf and name the op that
first produced one.
"""
import functools

from .backend import array_module


class _State:
    grad_enabled = True
    anomaly = False


state = _State()


def is_grad_enabled():
    return state.grad_enabled


class _Switch:
    """A context manager + decorator that sets one attribute of `state`."""

    attr = None
    value = None

    def __enter__(self):
        self._prev = getattr(state, self.attr)
        setattr(state, self.attr, self.value)
        return self

    def __exit__(self, *exc):
        setattr(state, self.attr, self._prev)
        return False

    def __call__(self, fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with self.__class__():
                return fn(*args, **kwargs)
        return wrapper


class no_grad(_Switch):
    """Build no graph inside this block (or decorated function)."""
    attr, value = 'grad_enabled', False


class enable_grad(_Switch):
    """Record the graph again, e.g. inside a `no_grad` block."""
    attr, value = 'grad_enabled', True


class detect_anomaly(_Switch):
    """Raise at the first op whose forward or backward produces NaN or inf."""
    attr, value = 'anomaly', True


class AnomalyError(FloatingPointError):
    """What detect_anomaly raises; `what` says where, e.g. 'Log.forward produced NaN'
    (the engine prefixes 'in Sqrt.backward, ' when it happened inside a backward)."""

    def __init__(self, what):
        super().__init__(f"detect_anomaly: {what}")
        self.what = what


def check_finite(array, what):
    """Raise AnomalyError if floating-point `array` holds a NaN or an inf."""
    xp = array_module(array)
    if array.dtype.kind == 'f' and not bool(xp.isfinite(array).all()):
        kind = 'NaN' if bool(xp.isnan(array).any()) else 'inf'
        raise AnomalyError(f"{what} {kind}")
