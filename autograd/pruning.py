"""Pruning: how `autograd.grad` runs only the part of the graph it needs.

`autograd.grad(outputs, inputs)` returns d outputs / d inputs and touches no `.grad`,
so only the ops on a path from `outputs` to `inputs` need to run: a gradient penalty
d D(x)/dx, for instance, needs none of the weight gradients of D. PyTorch's engine
does the same, marking the nodes to execute before it starts (`init_to_execute` in
torch/csrc/autograd/engine.cpp).

The engine's loop (function.py) stays as it is. For the length of the pass, each op's
`needs_input_grad` is narrowed to the inputs that lead to a requested one, so
* an op sends no gradient to an input off the path (and an op that reads
  `needs_input_grad` does not even compute it), hence
* an op from which no requested input can be reached receives no gradient and
  never runs.
Afterwards every op gets its own flags back: a retained graph may be run again in
full. The gradients that reach the requested inputs are collected here.
"""


class Pruning:
    """The narrowed flags for one autograd.grad pass (a context manager), and its result."""

    def __init__(self, order, inputs):
        self.inputs = inputs
        self.grads = {id(t): None for t in inputs}  # summed over every path to the input
        self.flags = []  # (fn, its own needs_input_grad, narrowed to the paths)
        leads = set()  # id of every op from which a requested input can be reached
        for fn in reversed(order):  # `order` lists consumers first: walk producers first
            on_path = [id(t) in self.grads or id(t.creator) in leads for t in fn._inputs]
            if any(on_path):
                leads.add(id(fn))
            narrowed = tuple(n and p for n, p in zip(fn.needs_input_grad, on_path))
            self.flags.append((fn, fn.needs_input_grad, narrowed))

    def __enter__(self):
        for fn, _, narrowed in self.flags:
            fn.needs_input_grad = narrowed
        return self

    def __exit__(self, *exc):
        for fn, own, _ in self.flags:
            fn.needs_input_grad = own
        return False

    def receive(self, t, g):
        """The engine hands over every gradient it computes; keep those of the inputs."""
        if id(t) in self.grads:
            so_far = self.grads[id(t)]
            self.grads[id(t)] = g if so_far is None else so_far + g

    def result(self):
        return tuple(self.grads[id(t)] for t in self.inputs)
