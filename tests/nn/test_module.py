"""Module, Parameter and the containers: registration, tree walks, train/eval, moving
between devices and dtypes, state_dict round trips and the errors of load_state_dict."""
import numpy as np
import pytest

import autograd as ag
import minigen.nn as nn
import minigen.optim as optim


class Block(nn.Module):
    """A small tree: a Linear, a BatchNorm (buffers), a shared weight, a plain attribute."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(3, 4)
        self.layers = nn.ModuleList([nn.Linear(4, 4), nn.Tanh()])
        self.norm = nn.BatchNorm2d(4)
        self.scale = nn.Parameter(ag.ones(1))
        self.tied = self.fc.weight  # the same Parameter under a second name
        self.name = 'block'         # not a parameter

    def forward(self, x):
        h = self.fc(x)
        for layer in self.layers:
            h = layer(h)
        return h * self.scale


def test_assigned_parameters_and_modules_are_registered_in_order():
    b = Block()
    names = [n for n, _ in b.named_parameters()]
    assert names == ['scale', 'tied', 'fc.bias', 'layers.0.weight', 'layers.0.bias',
                     'norm.weight', 'norm.bias']  # the tied weight is listed once
    assert [n for n, _ in b.named_buffers()] == ['norm.running_mean', 'norm.running_var']
    assert [n for n, _ in b.named_modules()] == ['', 'fc', 'layers', 'layers.0', 'layers.1', 'norm']
    assert [n for n, _ in b.named_children()] == ['fc', 'layers', 'norm']
    assert b.tied is b.fc.weight and b.name == 'block'
    assert all(p.requires_grad and isinstance(p, ag.Tensor) for p in b.parameters())


def test_reassigning_a_name_replaces_or_unregisters_it():
    lin = nn.Linear(2, 2)
    lin.bias = None
    assert [n for n, _ in lin.named_parameters()] == ['weight']
    lin.weight = nn.Parameter(ag.zeros(2, 2))
    assert lin.weight.numpy().sum() == 0 and len(list(lin.parameters())) == 1
    del lin.weight
    assert not list(lin.parameters())
    with pytest.raises(AttributeError, match="'Linear' object has no attribute 'weight'"):
        lin.weight


def test_assigning_before_super_init_is_a_clear_error():
    class Forgot(nn.Module):
        def __init__(self):
            self.fc = nn.Linear(1, 1)
    with pytest.raises(RuntimeError, match=r"Forgot: call super\(\).__init__\(\)"):
        Forgot()


def test_parameter_shares_the_array_of_what_it_wraps():
    t = ag.zeros(3)
    p = nn.Parameter(t)
    assert p.data is t.data and p.requires_grad and isinstance(p, ag.Tensor)
    assert not nn.Parameter(t, requires_grad=False).requires_grad
    assert repr(p).startswith('Parameter containing:\ntensor(')


def test_train_and_eval_set_the_flag_on_the_whole_tree():
    b = Block()
    assert all(m.training for m in b.modules())
    assert b.eval() is b and not any(m.training for m in b.modules())
    b.train()
    assert all(m.training for m in b.modules())


def test_zero_grad_clears_or_zeros_every_gradient():
    b = Block()
    b(ag.randn(2, 3)).sum().backward()
    b.zero_grad(set_to_none=False)
    assert all(p.grad is None or not p.grad.numpy().any() for p in b.parameters())
    assert b.fc.weight.grad is not None
    b.zero_grad()
    assert all(p.grad is None for p in b.parameters())


def test_containers_index_iterate_and_register(device):
    seq = nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1)).to(device)
    assert len(seq) == 3 and isinstance(seq[1], nn.ReLU) and isinstance(seq[-1], nn.Linear)
    assert len(seq[:2]) == 2 and seq[:2][0] is seq[0]
    x = ag.randn(4, 2, device=device)
    np.testing.assert_allclose(seq(x).numpy(), seq[2](seq[1](seq[0](x))).numpy())
    assert [n for n, _ in seq.named_parameters()] == ['0.weight', '0.bias', '2.weight', '2.bias']
    ml = nn.ModuleList().append(nn.Linear(1, 1)).extend([nn.Identity(), nn.Linear(1, 2)])
    assert len(ml) == 3 and len(list(ml.parameters())) == 4
    md = nn.ModuleDict({'enc': nn.Linear(1, 1)})
    md['dec'] = nn.Linear(1, 1)
    assert list(md.keys()) == ['enc', 'dec'] and 'dec' in md
    assert [n for n, _ in md.named_parameters()][:2] == ['enc.weight', 'enc.bias']
    assert nn.Identity()(x) is x
    with pytest.raises(TypeError, match='Sequential: every entry must be a Module, got function'):
        nn.Sequential(lambda x: x)
    with pytest.raises(KeyError, match="no '.'"):
        md['a.b'] = nn.Identity()


def test_to_moves_and_casts_in_place_keeping_the_parameter_objects(device):
    b = Block()
    params, buffers = list(b.parameters()), list(b.buffers())
    b(ag.randn(2, 3)).sum().backward()
    opt = optim.SGD(b.parameters(), lr=0.1)
    assert b.to(device) is b and b.double() is b
    assert [id(p) for p in b.parameters()] == [id(p) for p in params]
    assert [id(t) for t in b.buffers()] == [id(t) for t in buffers]
    assert all(t.device == device and t.dtype == np.float64 for t in params + buffers)
    assert all(p.grad.device == device and p.grad.dtype == np.float64 for p in params
               if p.grad is not None)
    before = b.fc.bias.numpy().copy()
    opt.step()  # the optimizer made before the move updates the moved parameters
    np.testing.assert_allclose(b.fc.bias.numpy(), before - 0.1 * b.fc.bias.grad.numpy())
    assert b.float().fc.weight.dtype == np.float32


def test_state_dict_round_trip_reproduces_the_outputs(device):
    ag.manual_seed(0)
    a = Block().to(device)
    a.norm.running_mean.copy_(ag.tensor([1.0, 2.0, 3.0, 4.0], device=device))
    ag.manual_seed(1)
    b = Block().to(device)
    sd = a.state_dict()
    assert list(sd) == ['scale', 'tied', 'fc.weight', 'fc.bias', 'layers.0.weight', 'layers.0.bias',
                        'norm.weight', 'norm.bias', 'norm.running_mean', 'norm.running_var']
    assert not any(t.requires_grad for t in sd.values())
    b.load_state_dict({k: v.numpy() for k, v in sd.items()})  # arrays are accepted too
    x = ag.randn(5, 3, device=device)
    np.testing.assert_array_equal(a(x).numpy(), b(x).numpy())
    np.testing.assert_array_equal(b.norm.running_mean.numpy(), [1, 2, 3, 4])
    assert b.tied is b.fc.weight


def test_load_state_dict_names_every_bad_key_and_changes_nothing():
    b = Block()
    before = {k: v.numpy().copy() for k, v in b.state_dict().items()}
    sd = {k: v.numpy() + 1 for k, v in b.state_dict().items()}
    del sd['fc.bias']
    sd['fc.extra'] = np.zeros(2)
    sd['layers.0.weight'] = np.zeros((4, 5))
    with pytest.raises(ValueError) as err:
        b.load_state_dict(sd)
    message = str(err.value)
    assert 'Block.load_state_dict' in message and 'nothing was loaded' in message
    assert 'missing keys (1): fc.bias' in message
    assert 'unexpected keys (1): fc.extra' in message
    assert 'layers.0.weight: checkpoint (4, 5), model (4, 4)' in message
    for k, v in b.state_dict().items():
        np.testing.assert_array_equal(v.numpy(), before[k])


@pytest.mark.parametrize('bad', [np.array(['a', 'b', 'c', 'd']), np.array([None] * 4),
                                 np.array([1j] * 4), ['1', '2', '3', '4']])
def test_load_state_dict_refuses_a_non_numeric_value_before_changing_anything(bad):
    """running_var comes last: every weight before it had been overwritten when copying
    it failed, although the docstring promised that nothing changes."""
    b = Block()
    before = {k: v.numpy().copy() for k, v in b.state_dict().items()}
    sd = {k: v.numpy() + 1 for k, v in b.state_dict().items()}
    sd['norm.running_var'] = bad
    with pytest.raises(ValueError, match=r"(?s)Block.load_state_dict: .*nothing was loaded.*"
                                         r"norm.running_var: .* not real numbers"):
        b.load_state_dict(sd)
    for k, v in b.state_dict().items():
        np.testing.assert_array_equal(v.numpy(), before[k])


def test_repr_nests_children_with_parameter_counts():
    seq = nn.Sequential(nn.Linear(2, 3), nn.Sequential(nn.ReLU(), nn.Linear(3, 1)))
    assert repr(seq) == '\n'.join([
        'Sequential(  # 13 parameters',
        '  (0): Linear(in_features=2, out_features=3, bias=True)  # 9 parameters',
        '  (1): Sequential(  # 4 parameters',
        '    (0): ReLU()',
        '    (1): Linear(in_features=3, out_features=1, bias=True)  # 4 parameters',
        '  )',
        ')'])
