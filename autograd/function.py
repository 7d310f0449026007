"""Function: one differentiable op, and the reverse-mode engine that runs them backward.

An op is a subclass of `Function` with two methods written side by side:

    forward(*arrays)  -> array      computes on raw NumPy/CuPy arrays
    backward(grad)    -> gradients  one per input (or None), given the gradient
                                    of the output, written with Tensor ops

Reverse mode (the chain rule applied from the output back):
    for y = f(x1, ..., xn) and a scalar loss L,   dL/dxi = (dL/dy) . (dy/dxi)
`backward` computes that vector-Jacobian product (VJP) for its own op only.

Because `backward` is written with Tensor ops, running it with grad mode on
records a graph of the backward pass itself, which is how
`create_graph=True` gives gradients of gradients (WGAN-GP, R1). With
`create_graph=False` the engine runs it under `no_grad`, so nothing extra is
recorded.

Two jobs are done once, here, instead of in every op:
* broadcasting: a gradient is summed back to its input's shape (`unbroadcast`);
* bookkeeping (`run_backward`): the graph is walked in reverse topological order,
  found with an explicit stack (no recursion: a chain of 10,000 ops is fine),
  gradients are summed where a tensor feeds several ops, leaves accumulate into
  `.grad`, and the graph is freed afterwards unless `retain_graph=True`.
  `autograd.grad` runs the same loop on part of the graph (pruning.py).

In-place safety: every Tensor carries a version counter bumped by in-place
ops. `apply` records the versions of an op's inputs and output; reading
`self.inputs` or `self.output` in backward checks them, so an array that
backward needs cannot be changed silently.
"""
import weakref
from contextlib import nullcontext

from . import backend, grad_mode
from .backend import array_module
from .grad_mode import AnomalyError, check_finite, enable_grad, no_grad
from .pruning import Pruning

Tensor = None  # set by tensor.py once the class exists (the two modules need each other)


class Function:
    """Base class of every op. Subclasses implement `forward` and `backward`."""

    def __init__(self, **params):
        self.__dict__.update(params)  # non-tensor arguments: axis, shape, ...

    @classmethod
    def apply(cls, *inputs, **params):
        """Run the op on Tensors and, in grad mode, record it in the graph.

        Every op of every step passes here (about 100 times per step of a small MLP), so
        each check below costs as little as it can: the device check only where CuPy is
        loaded, one read of the grad-mode switches."""
        fn = cls(**params)
        arrays = []
        for t in inputs:
            if not isinstance(t, Tensor):
                expect_tensors(cls.__name__, *inputs)  # raises, naming the op and the input
            arrays.append(t.data)
        if backend.cp is not None and len(inputs) > 1:
            _check_same_device(cls.__name__, inputs)
        try:
            out = Tensor._make(fn.forward(*arrays))
        except Exception as e:  # say which op failed, and on what shapes (shown below the error)
            e.add_note(f"in {cls.__name__}.forward, with input shapes "
                       f"{', '.join(str(t.shape) for t in inputs)}")
            raise
        state = grad_mode.state
        if state.anomaly:
            check_finite(out.data, f"{cls.__name__}.forward produced")
        if getattr(out.data, 'base', None) is not None:  # a view of an input shares its counter
            _share_version(out, inputs)
        if state.grad_enabled:
            needs = tuple([t.requires_grad for t in inputs])
            if True in needs:
                fn._inputs = inputs
                fn._versions = tuple([t._vc[0] for t in inputs])
                fn._output = weakref.ref(out)
                fn._output_version = out._vc[0]
                fn.needs_input_grad = needs
                out.requires_grad = True
                out.creator = fn
        return out

    def forward(self, *arrays):
        raise NotImplementedError

    def backward(self, grad):
        raise NotImplementedError

    # --- what backward may read, with the in-place check -------------------
    @property
    def inputs(self):
        if self._inputs is None:
            raise RuntimeError(_FREED.format(self.name))
        for i, (t, v) in enumerate(zip(self._inputs, self._versions)):
            if t._version != v:
                raise RuntimeError(
                    f"{self.name}: input {i} {t.shape} needed for the gradient was modified "
                    f"in place (version {v} -> {t._version}); use an out-of-place op instead")
        return self._inputs

    @property
    def output(self):
        out = self._output()
        if out._version != self._output_version:
            raise RuntimeError(f"{self.name}: its output {out.shape}, needed for the gradient, "
                               f"was modified in place; use an out-of-place op instead")
        return out

    @property
    def name(self):
        return type(self).__name__

    def _free(self):
        d = self.__dict__  # drop the arrays saved by forward, keep the bookkeeping
        kept = {k: d[k] for k in _KEEP if k in d}
        d.clear()
        d.update(kept)
        self._inputs = None


_KEEP = ('_versions', '_output', '_output_version', 'needs_input_grad')


def _check_same_device(op, inputs):
    device = inputs[0].device
    for t in inputs[1:]:
        if t.device != device:
            raise RuntimeError(f"{op}: inputs are on different devices "
                               f"({device} and {t.device}); move them with .to(device)")


def expect_tensors(op, *xs):
    """Refuse anything but Tensors as `op`'s inputs (as torch.exp(2.0) does), naming the op,
    instead of an AttributeError from deep inside the engine."""
    for i, x in enumerate(xs):
        if not isinstance(x, Tensor):
            raise TypeError(f"{op}: expected a Tensor as input {i}, got {type(x).__name__}; "
                            f"wrap it with autograd.tensor(...)")


def _share_version(out, inputs):
    """Give `out` the version counter of the input whose memory it views (x[0], x.T, ...)."""
    xp = array_module(out.data)
    for t in inputs:
        if xp.may_share_memory(out.data, t.data):  # a bounds test: cheap, may over-report
            out._vc = t._vc
            return


_FREED = ("{}: trying to backward through the graph a second time; its saved values were "
          "freed after the first backward. Pass retain_graph=True to the first call.")


def unbroadcast(grad, shape):
    """Sum `grad` down to `shape`: the VJP of broadcasting (a copy along an
    axis receives the sum of the gradients of its copies)."""
    lead = grad.data.ndim - len(shape)
    if grad.data.shape == shape or lead < 0:  # (a wrong shape is reported by the engine)
        return grad
    axes = tuple(range(lead)) + tuple(
        lead + i for i, n in enumerate(shape) if n == 1 and grad.shape[lead + i] != 1)
    if axes:
        grad = grad.sum(axis=axes, keepdims=True)
    if lead:
        grad = grad.reshape(shape)
    return grad


def _topological_order(roots):
    """Functions reachable from `roots`, each after all that consume its output.
    Iterative post-order depth-first search (no recursion limit)."""
    order, seen = [], set()
    stack = [(fn, False) for fn in roots]
    while stack:
        fn, children_done = stack.pop()
        if children_done:
            order.append(fn)
            continue
        if id(fn) in seen:
            continue
        seen.add(id(fn))
        stack.append((fn, True))
        if fn._inputs is None:
            raise RuntimeError(_FREED.format(fn.name))
        for t in fn._inputs:
            if t.creator is not None and id(t.creator) not in seen:
                stack.append((t.creator, False))
    order.reverse()  # consumers first
    return order


def run_backward(outputs, grad_outputs, inputs=None, retain_graph=False, create_graph=False):
    """The engine. Propagates `grad_outputs` from `outputs` back through the graph.

    With `inputs=None` (Tensor.backward) every op runs and leaf gradients accumulate
    into `.grad`. Otherwise (autograd.grad) the gradients of `inputs` are returned, no
    `.grad` is touched, and only the ops on a path to `inputs` run (see pruning.py).
    """
    order = _topological_order([o.creator for o in outputs if o.creator is not None])
    pruning = None if inputs is None else Pruning(order, inputs)  # autograd.grad's narrowing
    receive = _into_dot_grad if pruning is None else pruning.receive
    pending = {}  # fn -> the gradient of fn's output, summed over its consumers
    # Hold every output until its own backward has run: a consumer frees its
    # inputs as soon as it is done, and backward may read its op's output.
    alive = [fn._output() for fn in order]
    with (enable_grad() if create_graph else no_grad()), (pruning or nullcontext()):
        for out, g in zip(outputs, grad_outputs):
            _pass_on(out, g, pending, receive)
        for k, fn in enumerate(order):
            g_out = pending.pop(fn, None)
            if g_out is not None and True in fn.needs_input_grad:  # pruning may turn all off
                for t, g in _input_grads(fn, g_out):
                    _pass_on(t, g, pending, receive)
                if not retain_graph:
                    fn._free()
            alive[k] = None
    return None if pruning is None else pruning.result()


def _input_grads(fn, g_out):
    """Run fn.backward; return [(input, its gradient)] for each input that needs one,
    summed back to the input's shape and cast to its dtype."""
    try:
        g_in = fn.backward(g_out)
    except AnomalyError as e:  # detect_anomaly caught an op run by this backward
        raise AnomalyError(f"in {fn.name}.backward, {e.what}") from None
    g_in = g_in if isinstance(g_in, tuple) else (g_in,)
    anomaly = grad_mode.state.anomaly
    result = []
    for t, g, needed in zip(fn._inputs, g_in, fn.needs_input_grad):
        if g is None or not needed:
            continue
        want = t.data.shape
        if g.data.shape != want:
            g = unbroadcast(g, want)
            if g.data.shape != want:
                raise RuntimeError(f"{fn.name}.backward returned a gradient of shape "
                                   f"{g.shape} for an input of shape {t.shape}")
        if g.data.dtype != t.data.dtype:
            g = g.astype(t.data.dtype)
        if anomaly:
            check_finite(g.data, f"{fn.name}.backward returned for input of shape {t.shape}")
        result.append((t, g))
    return result


def _pass_on(t, g, pending, receive):
    """Send tensor t's gradient g on to the op that made t, and to `receive`."""
    fn = t.creator
    if fn is not None:
        so_far = pending.get(fn)
        pending[fn] = g if so_far is None else so_far + g
    receive(t, g)


def _into_dot_grad(t, g):
    """Where Tensor.backward's gradients end: a leaf that requires grad (or a tensor that
    asked to `retain_grad`) accumulates g into `.grad`, across backward calls, like PyTorch.
    Without create_graph the first gradient is copied: g may be a read-only broadcast
    view or shared with another input (x + y hands both the same g), and optimizers
    change `.grad` in place."""
    if not t.requires_grad or (t.creator is not None and not t._retains_grad):
        return
    if grad_mode.state.grad_enabled:  # create_graph: .grad keeps its graph
        t.grad = g if t.grad is None else t.grad + g
    else:
        t.grad = Tensor._make(g.data.copy()) if t.grad is None else t.grad + g
