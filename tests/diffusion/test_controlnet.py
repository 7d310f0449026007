"""Tests of minigen.diffusion.controlnet (Zhang, Rao & Agrawala 2023, arXiv:2302.05543): the
zero convolutions make the controlled UNet the frozen one at initialisation, the frozen UNet
gets no gradient and does not move in a training step, the zero convolutions do get a
gradient at step 0 (and only they and E's last layer), the gradient against central
differences, the UNet's residual keywords, bad inputs, and a tiny ControlNet that learns."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import autograd
from minigen.diffusion import (ControlNet, ControlledUNet, UNet, diffusion_loss,
                               linear_schedule)
from minigen.optim import Adam

from numpy_reference import randomize as _randomize  # a "trained" UNet: no zero layers

UNET = dict(in_channels=2, resolution=8, base_channels=8, channel_mults=(1, 2),
            attention_resolutions=(4,), groups=4, context_dim=6, pooled_dim=6)


def _models(device='cpu', seed=0, control_channels=1):
    autograd.manual_seed(seed)
    unet = _randomize(UNet(**UNET), seed, scale=0.2)
    return unet.to(device), ControlledUNet(unet, ControlNet(unet, control_channels)).to(device)


def _inputs(device, B=2, control_channels=1, seed=0):
    rng = np.random.default_rng(seed)

    def tensor(*shape):
        return autograd.tensor(rng.standard_normal(shape).astype(np.float32), device=device)
    x, t = tensor(B, 2, 8, 8), autograd.tensor(rng.integers(0, 1000, B), device=device)
    control = autograd.tensor((rng.random((B, control_channels, 8, 8)) > 0.5).astype(np.float32),
                              device=device)
    return x, t, control, dict(context=tensor(B, 3, 6), pooled=tensor(B, 6))


def _step(model, x, t, control, cond, lr=1e-2):
    opt = Adam(model.trainable_parameters(), lr=lr)
    loss = diffusion_loss(model, linear_schedule(1000), x, t=t, eps=x * 0.5, control=control,
                          **cond)
    opt.zero_grad()
    loss.backward()
    opt.step()
    return loss


def test_zero_convolutions_make_the_controlled_unet_exactly_the_frozen_one(device):
    unet, controlled = _models(device)
    x, t, control, cond = _inputs(device)
    frozen = unet(x, t, **cond).numpy()
    np.testing.assert_array_equal(controlled(x, t, control, **cond).numpy(), frozen)
    # ... and stays so whatever the control map (E ends in a zero convolution too)
    np.testing.assert_array_equal(controlled(x, t, 1 - control, **cond).numpy(), frozen)


def test_the_frozen_unet_gets_no_gradient_and_does_not_change_in_a_step(device):
    unet, controlled = _models(device)
    before = {k: v.numpy().copy() for k, v in unet.state_dict().items()}
    x, t, control, cond = _inputs(device)
    for _ in range(2):  # step 1 moves the output zero convolutions, step 2 E's last one
        _step(controlled, x, t, control, cond)
    assert all(p.grad is None and not p.requires_grad for p in unet.parameters())
    for k, v in unet.state_dict().items():
        np.testing.assert_array_equal(v.numpy(), before[k], err_msg=k)
    assert not unet.training and controlled.controlnet.training
    # the ControlNet did move, and now the control map changes the output
    assert any(np.abs(p.numpy()).sum() > 0 for p in controlled.controlnet.zero_convs.parameters())
    with autograd.no_grad():
        a, b = controlled(x, t, control, **cond), controlled(x, t, 1 - control, **cond)
    assert np.abs(a.numpy() - b.numpy()).max() > 0


def test_zero_convolutions_get_a_gradient_at_step_zero_though_their_output_is_zero(device):
    """dL/dW = g x^T is not zero at W = 0, but dL/dx = W^T g is: at step 0 the gradient
    stops at the zero convolutions (section 3.1 of the paper)."""
    _, controlled = _models(device)
    net = controlled.controlnet
    x, t, control, cond = _inputs(device)
    diffusion_loss(controlled, linear_schedule(1000), x, t=t, control=control,
                   **cond).backward()
    nonzero = [z.weight for z in net.zero_convs] + [net.mid_zero_conv.weight]
    assert all(np.abs(w.grad.numpy()).max() > 0 for w in nonzero)
    # behind the output zero convolutions: the copy and E (its own zero conv too) get zero
    behind = list(net.copy.parameters()) + list(net.hint.parameters())
    assert all(p.grad is None or not np.any(p.grad.numpy()) for p in behind)


@settings(max_examples=3)
@given(batch=st.integers(1, 2), control_channels=st.integers(1, 2), seed=st.integers(0, 99))
def test_the_controlled_output_gradient_matches_central_differences(batch, control_channels,
                                                                    seed):
    """After two steps (so no layer is zero), in float64: d output / d (x, control, a zero
    convolution's weight), against central differences along a random direction."""
    _, controlled = _models('cpu', seed, control_channels)
    x, t, control, cond = _inputs('cpu', batch, control_channels, seed)
    for _ in range(2):
        _step(controlled, x, t, control, cond, lr=0.05)
    controlled = controlled.double()
    cond = {k: v.double() for k, v in cond.items()}
    zero_conv = controlled.controlnet.zero_convs[1]
    weight = zero_conv.weight.detach()

    def f(x_, control_, w):
        saved = zero_conv._parameters['weight']
        zero_conv._parameters['weight'] = w
        try:
            return controlled(x_, t, control_, **cond)
        finally:
            zero_conv._parameters['weight'] = saved
    assert autograd.gradcheck(f, [x.double(), control.double(), weight.double()],
                              mode='direction', seed=seed)


def test_unet_adds_the_residuals_to_its_skips_and_middle_block(device):
    unet, controlled = _models(device)
    x, t, control, cond = _inputs(device)
    down, mid = controlled.controlnet(x, t, control, **cond)
    zeros = [d * 0 for d in down]
    np.testing.assert_array_equal(unet(x, t, down_residuals=zeros, mid_residual=mid * 0,
                                       **cond).numpy(), unet(x, t, **cond).numpy())
    moved = unet(x, t, down_residuals=[d + 1 for d in zeros], mid_residual=mid * 0, **cond)
    assert np.abs(moved.numpy() - unet(x, t, **cond).numpy()).max() > 0


def test_a_tiny_controlnet_lowers_its_loss():
    """The frozen UNet knows nothing of the targets (2 mask - 1 of each control map); the
    ControlNet alone must bring them in: the loss on a fixed batch falls by a fifth."""
    _, controlled = _models('cpu', seed=1)
    x, t, control, cond = _inputs('cpu', B=4, seed=1)
    x0 = (2 * control - 1) * autograd.ones(1, 2, 1, 1)
    eps = autograd.randn(4, 2, 8, 8)
    opt = Adam(controlled.trainable_parameters(), lr=1e-2)
    losses = []
    for _ in range(40):
        loss = diffusion_loss(controlled, linear_schedule(1000), x0, t=t, eps=eps,
                              control=control, **cond)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert np.mean(losses[-5:]) < 0.8 * losses[0], losses


def test_bad_inputs_raise_clear_errors():
    unet, controlled = _models()
    x, t, control, cond = _inputs('cpu')
    with pytest.raises(ValueError, match='ControlNet: control must have shape'):
        controlled(x, t, control[:, :, :4], **cond)
    with pytest.raises(ValueError, match='ControlNet: control must have shape'):
        controlled.controlnet(x, t, None, **cond)
    down, mid = controlled.controlnet(x, t, control, **cond)
    with pytest.raises(ValueError, match='UNet: give both down_residuals and mid_residual'):
        unet(x, t, down_residuals=down, **cond)
    with pytest.raises(ValueError, match='UNet: down_residuals must hold one tensor per skip'):
        unet(x, t, down_residuals=down[:-1], mid_residual=mid, **cond)
    with pytest.raises(ValueError, match='ControlNet: unet must be a minigen.diffusion.UNet'):
        ControlNet(controlled)
    other = UNet(**{**UNET, 'resolution': 16})
    with pytest.raises(ValueError, match='ControlledUNet: controlnet must be a ControlNet'):
        ControlledUNet(unet, ControlNet(other))
