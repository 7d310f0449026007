"""autograd: a small reverse-mode automatic differentiation engine on NumPy and CuPy.

Read it in this order:
    backend.py     which array library (NumPy or CuPy), devices, the default dtype
    random.py      one seeded generator per device; its state for checkpoints
    function.py    Function (one op: forward + backward) and the backward engine
    pruning.py     how autograd.grad runs only the ops that lead to its inputs
    tensor.py      Tensor: its operators route to the ops; version counters
    creation.py    the constructors: tensor, as_tensor, zeros, randn, ...
    axes.py        axis and shape arguments, read as PyTorch reads them
    ops/           the ops, one file per family
    grad_mode.py   no_grad / enable_grad / detect_anomaly
    gradcheck.py   finite-difference gradient checking
    testing.py     hypothesis strategies to property-test your own ops
    viz.py         a picture of the graph that backward walks (or Graphviz text)
    allocator.py   (an aside) why freed memory is kept for reuse on Linux
    parallel.py    (an aside) big elementwise passes split over CPU threads

Example:
    >>> import autograd as ag
    >>> x = ag.tensor([1.0, 2.0, 3.0], requires_grad=True)
    >>> (x * x).sum().backward()
    >>> x.grad.numpy()
    array([2., 4., 6.], dtype=float32)
"""
from . import allocator, parallel
from .backend import gpu_available, set_default_device, get_default_device  # noqa: F401
from .random import manual_seed  # noqa: F401
from .function import Function, run_backward  # noqa: F401
from .grad_mode import no_grad, enable_grad, is_grad_enabled, detect_anomaly  # noqa: F401
from .tensor import Tensor  # noqa: F401
from .creation import (tensor, as_tensor, zeros, ones, full, randn, rand, randint, arange,  # noqa: F401
                       zeros_like, ones_like, randn_like, rand_like,
                       float32, float64, int64, int32, bool_)
from .ops.elementwise import (exp, log, sqrt, abs, tanh, sigmoid, relu, leaky_relu,  # noqa: F401
                              silu, gelu, softplus, clip, where, maximum, minimum)
from .ops.reduce import mean, std  # noqa: F401
from .ops.shape import (reshape, squeeze, unsqueeze, flatten, cat, stack, split, chunk,  # noqa: F401
                        pad, gather, embedding)
from .ops.linalg import matmul, inv, slogdet  # noqa: F401
from .ops.softmax import softmax, log_softmax  # noqa: F401
from .gradcheck import gradcheck, gradgradcheck  # noqa: F401
from .viz import draw_graph, to_dot  # noqa: F401

allocator.keep_freed_memory()  # glibc: reuse freed arrays instead of fresh pages (allocator.py)
parallel.openblas_threads_sleep_at_once()  # or our threads share cores with spinning ones


def grad(outputs, inputs, grad_outputs=None, retain_graph=None, create_graph=False,
         allow_unused=False):
    """Gradients of `outputs` with respect to `inputs`, returned rather than stored.

    Like torch.autograd.grad: no `.grad` is touched, only the ops on a path to `inputs`
    run (pruning.py); with `create_graph=True` the returned gradients carry a graph, so
    they can be differentiated again (gradient penalties need this).
    """
    single = isinstance(outputs, Tensor)
    outputs = [outputs] if single else list(outputs)
    inputs = [inputs] if isinstance(inputs, Tensor) else list(inputs)
    if grad_outputs is None:
        grad_outputs = [None] * len(outputs)
    elif isinstance(grad_outputs, Tensor):
        grad_outputs = [grad_outputs]
    else:
        grad_outputs = list(grad_outputs)
    if len(grad_outputs) != len(outputs):  # zip would drop the extra outputs' gradients
        raise ValueError(f"grad(): {len(outputs)} outputs but {len(grad_outputs)} "
                         f"grad_outputs; give one per output (None for a scalar output)")
    seeds = []
    for out, g in zip(outputs, grad_outputs):
        if not out.requires_grad:
            raise RuntimeError("grad(): an output does not require grad (no graph leads to it)")
        if g is None:
            if out.size != 1:
                raise RuntimeError(f"grad(): grad_outputs must be given for a non-scalar "
                                   f"output of shape {out.shape}")
            g = ones_like(out)
        elif g.shape != out.shape:
            raise ValueError(f"grad(): grad_outputs has shape {g.shape} but the output "
                             f"has shape {out.shape}")
        seeds.append(g)
    for t in inputs:
        if not t.requires_grad:
            raise RuntimeError(f"grad(): an input of shape {t.shape} does not require grad")
    retain = create_graph if retain_graph is None else retain_graph
    result = run_backward(outputs, seeds, inputs=inputs, retain_graph=retain,
                          create_graph=create_graph)
    if not allow_unused and any(r is None for r in result):
        raise RuntimeError("grad(): one of the inputs is not used to compute the outputs "
                           "(pass allow_unused=True to get None for it)")
    return result
