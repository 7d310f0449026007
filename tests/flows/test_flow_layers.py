"""Every flow layer of minigen.flows, in float64 with its parameters made random (a fresh
coupling is the identity): it inverts to 1e-5, its log-det is log |det| of its Jacobian
built row by row with autograd.grad, and its gradients (in x and in every parameter, of
the output and of the log-det) match central differences on hypothesis-drawn shapes."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import autograd
from autograd import gradcheck
from minigen.flows import (ActNorm, AffineCoupling, ChannelCoupling, ConvNet, InvertibleConv1x1, LogitTransform,
                           MLP, MultiScaleFlow, SplitPrior, Squeeze, channel_mask,
                           checkerboard_mask, flow_2d, glow_step)


def randomized(layer, seed=0, spread=0.3):
    """The layer in float64, eval mode (no data-dependent init), every parameter drawn
    from N(p, spread^2): zero last layers and unit scales no longer hide mistakes."""
    layer = layer.double().eval()
    rng = np.random.default_rng(seed)
    for p in layer.parameters():
        p.data[...] = p.data + spread * rng.standard_normal(p.shape)
    return layer


def coupling(mask_kind, scale, c=2, h=4, w=4, parity=0):
    mask = checkerboard_mask(h, w, parity) if mask_kind == 'checkerboard' else \
        channel_mask(c, parity)
    return AffineCoupling(c, mask, ConvNet(c, 4), scale)


# name -> (a layer, the shape of one input); inputs are drawn in (0, 1) for the logit
LAYERS = {
    'coupling_checkerboard_tanh': (lambda: coupling('checkerboard', 'tanh'), (2, 4, 4)),
    'coupling_checkerboard_sigmoid': (lambda: coupling('checkerboard', 'sigmoid', parity=1),
                                      (2, 4, 4)),
    'coupling_channel_tanh': (lambda: coupling('channel', 'tanh'), (2, 4, 4)),
    'coupling_channel_sigmoid': (lambda: coupling('channel', 'sigmoid', parity=1), (2, 4, 4)),
    'channel_coupling_tanh': (lambda: ChannelCoupling(4, 0, ConvNet(2, 4), 'tanh'), (4, 2, 2)),
    'channel_coupling_sigmoid': (lambda: ChannelCoupling(4, 1, ConvNet(2, 4), 'sigmoid'),
                                 (4, 2, 2)),
    'coupling_vector': (lambda: AffineCoupling(2, channel_mask(2, 1, spatial=False),
                                               MLP(2, 8), 'tanh'), (2,)),
    'squeeze': (Squeeze, (2, 4, 4)),
    'actnorm': (lambda: ActNorm(3), (3, 2, 2)),
    'invconv': (lambda: InvertibleConv1x1(4), (4, 2, 2)),
    'logit': (lambda: LogitTransform(0.05), (2, 3, 3)),
    'glow_step': (lambda: glow_step(4, 4, 1, 'tanh'), (4, 2, 2)),
    'multiscale': (lambda: MultiScaleFlow((1, 4, 4), steps=1, hidden=(4, 4),
                                          checkerboard_steps=1, checkerboard_hidden=4),
                   (1, 4, 4)),
    'multiscale_split_prior': (lambda: MultiScaleFlow((1, 4, 4), steps=1, hidden=(4, 4),
                                                      checkerboard_steps=1,
                                                      checkerboard_hidden=4, split_prior=True),
                               (1, 4, 4)),
    'split_prior': (lambda: SplitPrior(4), (4, 3, 3)),
    'flow_2d': (lambda: flow_2d(layers=3, hidden=8), (2,)),
}


def make(name, seed=0):
    autograd.manual_seed(seed)
    factory, shape = LAYERS[name]
    return randomized(factory(), seed), shape


def inputs(name, shape, n=2, seed=1):
    rng = np.random.default_rng(seed)
    x = rng.uniform(0.05, 0.95, (n,) + shape) if name == 'logit' else \
        rng.standard_normal((n,) + shape)
    return autograd.tensor(x)


def jacobian(fn, x):
    """d fn(x)[0] / d x of one sample x (1, ...), (D_out, D_in), one autograd.grad per row."""
    x = x.detach().requires_grad_()
    y = fn(x)[0].reshape(-1)
    rows = []
    for i in range(y.shape[0]):
        onehot = np.zeros(y.shape[0])
        onehot[i] = 1
        (g,) = autograd.grad(y, x, autograd.tensor(onehot), retain_graph=True)
        rows.append(g.numpy().reshape(-1))
    return np.stack(rows)


@pytest.mark.parametrize('name', sorted(LAYERS))
def test_every_layer_inverts_to_1e_5(name):
    layer, shape = make(name)
    x = inputs(name, shape, n=3)
    with autograd.no_grad():
        z, _ = layer(x)
        back = layer.inverse(z)
    assert back.shape == x.shape
    assert np.abs(back.numpy() - x.numpy()).max() < 1e-5


@pytest.mark.parametrize('name', sorted(LAYERS))
def test_logdet_is_log_abs_det_of_the_engine_jacobian(name):
    layer, shape = make(name)
    x = inputs(name, shape, n=2)
    _, logdet = layer(x)
    assert logdet.shape == (2,)
    for i in range(2):  # each sample's Jacobian on its own: samples do not mix
        sign, want = np.linalg.slogdet(jacobian(layer, x[i:i + 1]))
        assert sign != 0
        np.testing.assert_allclose(logdet.numpy()[i], want, rtol=1e-8, atol=1e-8)


def swap_in(module, name, tensor):
    """Make `module` use `tensor` for its parameter at dotted `name`."""
    *path, leaf = name.split('.')
    for p in path:
        module = getattr(module, p)
    module._parameters[leaf] = tensor


def output_and_logdet(layer, names):
    """(x, *params) -> (y, logdet), the parameters swapped in so gradcheck can vary them."""
    def fn(x, *params):
        for name, p in zip(names, params):
            swap_in(layer, name, p)
        return layer(x)
    return fn


@settings(max_examples=4)
@given(data=st.data())
@pytest.mark.parametrize('name', ['coupling_checkerboard_tanh', 'coupling_channel_sigmoid',
                                  'coupling_vector', 'squeeze', 'actnorm', 'invconv', 'logit',
                                  'split_prior', 'channel_coupling_tanh',
                                  'channel_coupling_sigmoid'])
def test_layer_gradients_match_central_differences(name, data):
    """Drawn batch and spatial sizes, a random upstream gradient on y and on the log-det;
    every element of x, and the parameters along a random direction."""
    layer, shape = make(name, seed=data.draw(st.integers(0, 100), label='seed'))
    n = data.draw(st.integers(1, 3), label='batch')
    if len(shape) == 3 and not name.startswith('coupling_checkerboard'):
        side = data.draw(st.sampled_from([2, 4]), label='side')
        shape = (shape[0], side, side)
    x = inputs(name, shape, n=n, seed=data.draw(st.integers(0, 100), label='x seed'))
    names, params = zip(*layer.named_parameters()) if list(layer.parameters()) else ((), ())
    fn = output_and_logdet(layer, names)
    params = [p.detach() for p in params]
    gradcheck(lambda x: fn(x, *params), [x])
    if params:
        gradcheck(lambda *ps: fn(x, *ps), params, mode='direction')


@pytest.mark.parametrize('parity', [0, 1])
def test_channel_coupling_is_the_channel_masked_coupling_on_the_halves(parity):
    """The masked coupling's network, its weights on the kept input channels and on the
    free half's outputs copied into a half-width network: the same y and log-det."""
    masked = randomized(coupling('channel', 'tanh', c=4, parity=parity), seed=3)
    halves = ChannelCoupling(4, parity, ConvNet(2, 4), 'tanh').double().eval()
    kept = [0, 1] if parity == 0 else [2, 3]
    free = [2, 3] if parity == 0 else [0, 1]
    first, last = masked.net[0], masked.net[4]
    halves.net[0].weight.data[...] = first.weight.data[:, kept]
    halves.net[0].bias.data[...] = first.bias.data
    halves.net[2].weight.data[...] = masked.net[2].weight.data
    halves.net[2].bias.data[...] = masked.net[2].bias.data
    rows = free + [4 + c for c in free]  # h of the free half, then its t
    halves.net[4].weight.data[...] = last.weight.data[rows]
    halves.net[4].bias.data[...] = last.bias.data[rows]
    halves.log_bound.data[...] = masked.log_bound.data[:, free]
    x = inputs('x', (4, 3, 3), n=2)
    (y, ld), (y2, ld2) = masked(x), halves(x)
    np.testing.assert_allclose(y2.numpy(), y.numpy(), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(ld2.numpy(), ld.numpy(), rtol=1e-12)
