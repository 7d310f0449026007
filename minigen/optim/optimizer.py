"""Optimizer: what SGD and Adam share (the design of torch.optim.Optimizer).

An optimizer holds `param_groups`, a list of dicts each with its 'params' and its
hyperparameters ('lr', ...), and `state`, per parameter, the arrays its update rule
carries from step to step (momentum, Adam's moments), made at the parameter's first
step. `step()` applies the rule to every parameter that has a gradient, on the raw
arrays, in place, in the parameter's own dtype and device; a subclass writes only

    _update(p, g, group, state)     p: the parameter's array, g: its gradient's array

`state_dict()` numbers the parameters in order (0, 1, ...), so it can be saved and loaded
into an optimizer built the same way on a fresh model.
"""
from autograd import backend, no_grad
from autograd.tensor import Tensor
from minigen.nn.module import zero_grads


class Optimizer:
    state_keys = ()  # the arrays `state` holds for one parameter (after its first step)

    def __init__(self, params, defaults):
        name = type(self).__name__
        params = [params] if isinstance(params, Tensor) else list(params)
        if not params:
            raise ValueError(f"{name}: got an empty list of parameters")
        groups = params if isinstance(params[0], dict) else [{'params': params}]
        self.param_groups, seen = [], set()
        for g in groups:
            group = {**defaults, **g, 'params': list(g['params'])}
            for p in group['params']:
                if not isinstance(p, Tensor) or not p.requires_grad:
                    raise TypeError(f"{name}: every parameter must be a Tensor that requires "
                                    f"grad, got {type(p).__name__}")
                if id(p) in seen:
                    raise ValueError(f"{name}: a parameter of shape {p.shape} is listed twice")
                seen.add(id(p))
            self.param_groups.append(group)
        self.state = {}  # Parameter -> {name: array or number}

    def _params(self):
        return [p for group in self.param_groups for p in group['params']]

    def zero_grad(self, set_to_none=True):
        zero_grads(self._params(), set_to_none)

    def step(self):
        """Update every parameter that has a gradient. A gradient whose shape is not its
        parameter's (one set by hand) raises a ValueError before any parameter changes:
        the update would otherwise broadcast it over the parameter."""
        name = type(self).__name__
        for i, p in enumerate(self._params()):
            if p.grad is not None and tuple(p.grad.shape) != tuple(p.shape):
                raise ValueError(f"{name}.step: parameter {i} has shape {tuple(p.shape)} but "
                                 f"its gradient has shape {tuple(p.grad.shape)}; nothing was "
                                 f"updated")
        with no_grad():
            for group in self.param_groups:
                for p in group['params']:
                    if p.grad is None:
                        continue
                    self._update(p.data, p.grad.data, group, self.state.setdefault(p, {}))
                    p._version += 1  # p changed in place: a graph built before must not backward

    def _update(self, p, g, group, state):
        raise NotImplementedError

    # --- saving and loading ----------------------------------------------------------
    def state_dict(self):
        """{'state': {index: {name: array}}, 'param_groups': [{hyperparameters, 'params':
        [indices]}]}; the arrays are the optimizer's own (not copies)."""
        index = {id(p): i for i, p in enumerate(self._params())}
        groups = [{**{k: v for k, v in g.items() if k != 'params'},
                   'params': [index[id(p)] for p in g['params']]} for g in self.param_groups]
        state = {index[id(p)]: dict(s) for p, s in self.state.items() if s}
        return {'state': state, 'param_groups': groups}

    def load_state_dict(self, state_dict):
        """Load what `state_dict` gave (from an optimizer of the same kind over parameters
        of the same shapes). A mismatch raises a ValueError and changes nothing."""
        name = type(self).__name__
        params = self._params()
        try:
            groups, state = state_dict['param_groups'], state_dict['state']
        except (KeyError, TypeError):
            raise ValueError(f"{name}.load_state_dict: expected a dict with 'state' and "
                             f"'param_groups', got {type(state_dict).__name__}") from None
        problems = []
        if [len(g['params']) for g in groups] != [len(g['params']) for g in self.param_groups]:
            problems.append(f"parameters per group: checkpoint "
                            f"{[len(g['params']) for g in groups]}, optimizer "
                            f"{[len(g['params']) for g in self.param_groups]}")
        else:
            for i, (g, own) in enumerate(zip(groups, self.param_groups)):
                if set(g) != set(own):
                    problems.append(f"group {i} has hyperparameters {sorted(g)}, this "
                                    f"optimizer {sorted(own)}")
        for key, entry in state.items():
            i = int(key)
            if not 0 <= i < len(params):
                problems.append(f"state for parameter {i}, but there are {len(params)}")
                continue
            if set(entry) != set(self.state_keys):
                problems.append(f"state {i} holds {sorted(entry)}, {name} needs "
                                f"{sorted(self.state_keys)}")
            for k, v in entry.items():
                shape = getattr(v, 'shape', ())
                if shape not in ((), params[i].shape):
                    problems.append(f"state {i} '{k}' has shape {tuple(shape)}, parameter "
                                    f"{i} has {params[i].shape}")
        if problems:
            raise ValueError(f"{name}.load_state_dict: the state does not match this optimizer; "
                             f"nothing was loaded.\n  " + '\n  '.join(problems))
        for g, own in zip(groups, self.param_groups):
            own.update({k: v for k, v in g.items() if k != 'params'})
        self.state = {}
        for key, entry in state.items():
            p = params[int(key)]
            self.state[p] = {k: _to_param(v, p) for k, v in entry.items()}


def _to_param(value, p):
    """An array of the state (0-d included: a 0-d parameter's moments) as a copy on p's
    device in p's dtype; a plain number (a step count) as it is. Turning a 0-d moment into
    a float would freeze it: the update writes into arrays in place."""
    if not hasattr(value, 'shape'):
        return value
    xp = backend.array_module(p.data)
    return xp.array(backend.to_device(value.data if isinstance(value, Tensor) else value,
                                      p.device), dtype=p.dtype)
