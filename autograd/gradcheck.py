"""Gradient checking by central finite differences, in float64.

For f: R^n -> R^m, a random upstream gradient u (never all ones: the gradient
of sum(softmax(x)) is exactly 0, so an all-ones check would pass a backward
that returns zeros) and the scalar  phi(x) = <u, f(x)>,
    analytic:  d phi / d x_i  from our backward (the VJP u^T J)
    numeric:   (phi(x + eps e_i) - phi(x - eps e_i)) / (2 eps)    error O(eps^2)
               computed as <u, f(x + eps e_i) - f(x - eps e_i)> / (2 eps): outputs
               that do not depend on x_i cancel exactly instead of adding rounding noise.
Two modes:
    'full'       every element of every input: the failing index is reported.
    'direction'  one random unit direction d over all inputs at once (Chainer's
                 check_backward): <grad phi, d> vs (phi(x + eps d) - phi(x - eps d)) / 2 eps.
                 Two forwards, whatever the size: use it for layers and models.
`gradgradcheck` applies the same check to (x, u) -> grad phi(x), built with
create_graph=True, over x and over u: second-order gradients, as WGAN-GP needs, and how
every backward uses the gradient it is handed.
"""
import numpy as np

from . import backend
from .grad_mode import no_grad, enable_grad
from .tensor import Tensor


class GradcheckError(AssertionError):
    pass


def _outputs(fn, inputs):
    with no_grad():
        outs = fn(*inputs)
    return outs if isinstance(outs, (tuple, list)) else (outs,)


def _central_difference(fn, plus, minus, upstream, eps):
    """(phi(plus) - phi(minus)) / (2 eps), differenced output by output."""
    pairs = zip(_outputs(fn, plus), _outputs(fn, minus), upstream)
    return sum(float(((p.data - m.data) * u).sum()) for p, m, u in pairs) / (2 * eps)


def _upstream(fn, inputs, rng):
    outs = _outputs(fn, inputs)
    xp = backend.array_module(outs[0].data)
    return [xp.asarray(rng.uniform(-1, 1, o.shape)) for o in outs]


def _prepare(inputs):
    """Leaf float64 copies of the float inputs; integer inputs pass through."""
    prepared = []
    for x in inputs:
        if isinstance(x, Tensor) and x.dtype.kind == 'f':
            # copy=False keeps a float64 input's memory layout (and never writes to it)
            prepared.append(Tensor._make(x.data.astype(np.float64, copy=False)).requires_grad_())
        else:
            prepared.append(x)
    return prepared


def _analytic(fn, inputs, upstream):
    from . import grad as autograd_grad
    diff = [x for x in inputs if isinstance(x, Tensor) and x.requires_grad]
    outs = fn(*inputs)
    outs = outs if isinstance(outs, (tuple, list)) else (outs,)
    used = [(o, Tensor._make(u.astype(o.dtype))) for o, u in zip(outs, upstream) if o.requires_grad]
    if not used:
        return [np.zeros(x.shape) for x in diff]
    grads = autograd_grad([o for o, _ in used], diff, [u for _, u in used], allow_unused=True)
    return [np.zeros(x.shape) if g is None else backend.to_numpy(g.data).astype(np.float64)
            for x, g in zip(diff, grads)]


def gradcheck(fn, inputs, eps=1e-6, atol=1e-7, rtol=1e-5, mode='full', seed=0,
              raise_exception=True):
    """Compare fn's backward with central differences; return True or raise.

    fn: Tensors -> Tensor (or tuple of Tensors). inputs: Tensors (float ones are
    checked, cast to float64) and anything else fn takes.
    """
    if mode not in ('full', 'direction'):
        raise ValueError(f"gradcheck: mode must be 'full' or 'direction', got {mode!r}")
    rng = np.random.default_rng(seed)
    inputs = _prepare(list(inputs))
    diff = [i for i, x in enumerate(inputs) if isinstance(x, Tensor) and x.requires_grad]
    upstream = _upstream(fn, inputs, rng)
    analytic = _analytic(fn, inputs, upstream)

    def shifted(deltas):
        """The inputs with input i moved by deltas[i] (a float64 array of its shape)."""
        return [Tensor._make(x.data + deltas[i]) if i in deltas else x
                for i, x in enumerate(inputs)]

    if mode == 'direction':
        dirs = [rng.standard_normal(inputs[i].shape) for i in diff]
        norm = np.sqrt(sum((d ** 2).sum() for d in dirs)) or 1.0
        dirs = [d / norm for d in dirs]
        step = {i: backend.array_module(inputs[i].data).asarray(eps * d)
                for i, d in zip(diff, dirs)}
        numeric = _central_difference(fn, shifted(step), shifted({i: -s for i, s in step.items()}),
                                      upstream, eps)
        exact = sum(float((a * d).sum()) for a, d in zip(analytic, dirs))
        if abs(exact - numeric) > atol + rtol * abs(numeric):
            return _fail(raise_exception,
                         f"gradcheck (direction): analytic {exact:.10g} vs numeric "
                         f"{numeric:.10g} along a random direction (abs err "
                         f"{abs(exact - numeric):.3g})")
        return True

    for k, i in enumerate(diff):
        x = inputs[i]
        xp = backend.array_module(x.data)
        numeric = np.zeros(x.shape)
        delta = xp.zeros(x.shape)
        for j in range(x.size):  # one element at a time: reports the exact index
            idx = np.unravel_index(j, x.shape)
            delta[idx] = eps
            numeric[idx] = _central_difference(fn, shifted({i: delta}), shifted({i: -delta}),
                                               upstream, eps)
            delta[idx] = 0
        err = np.abs(analytic[k] - numeric) - (atol + rtol * np.abs(numeric))
        if (err > 0).any():
            worst = tuple(int(j) for j in np.unravel_index(int(np.argmax(err)), x.shape))
            return _fail(raise_exception,
                         f"gradcheck: input {i} (shape {x.shape}) differs at index {worst}: "
                         f"analytic {analytic[k][worst]:.10g}, numeric {numeric[worst]:.10g}, "
                         f"abs err {abs(analytic[k][worst] - numeric[worst]):.3g} "
                         f"({int((err > 0).sum())} of {x.size} elements off)")
    return True


def _fail(raise_exception, message):
    if raise_exception:
        raise GradcheckError(message)
    return False


def gradgradcheck(fn, inputs, eps=1e-6, atol=1e-6, rtol=1e-4, mode='full', seed=1):
    """Check second derivatives: gradcheck of (x, u) -> d<u, fn(x)>/dx, the gradients built
    with create_graph=True, over both the inputs x and the upstream gradient u.

    Over x this checks how each backward depends on its op's inputs; over u, how it
    depends on the gradient it is handed. The first gradient is linear in u, but a
    hand-written backward records its own graph, and a wrong derivative in u there
    (SiLU's, a convolution's weight gradient) would pass a check that holds u constant
    while a gradient penalty trains on it. In a failure report the inputs after fn's
    own are the upstream gradients, one per output of fn."""
    from . import grad as autograd_grad
    rng = np.random.default_rng(seed + 1000)
    inputs = _prepare(list(inputs))
    diff = [i for i, x in enumerate(inputs) if isinstance(x, Tensor) and x.requires_grad]
    upstream = [Tensor._make(u) for u in _upstream(fn, inputs, rng)]
    n = len(inputs)

    def first_grads(*args):
        with enable_grad():  # the checker calls this under no_grad too
            xs = [_leaf(x) if i in diff else x for i, x in enumerate(args[:n])]
            us = [_leaf(u) for u in args[n:]]
            outs = fn(*xs)
            outs = outs if isinstance(outs, (tuple, list)) else (outs,)
            used = [(o, u.astype(o.dtype)) for o, u in zip(outs, us) if o.requires_grad]
            gs = autograd_grad([o for o, _ in used], [xs[i] for i in diff],
                               [u for _, u in used], create_graph=True, allow_unused=True)
        return tuple(g for g in gs if g is not None)

    return gradcheck(first_grads, inputs + upstream, eps=eps, atol=atol, rtol=rtol, mode=mode,
                     seed=seed)


def _leaf(t):
    """t as a leaf that requires grad (the checker's shifted copies do not)."""
    return t if t.requires_grad else Tensor._make(t.data).requires_grad_()
