"""ControlNet: spatial control of a frozen diffusion UNet by a trainable copy of its encoder.

Zhang, Rao & Agrawala 2023, "Adding Conditional Control to Text-to-Image Diffusion
Models" (arXiv:2302.05543). A neural block F(x; Theta) of a trained network is locked
(Theta frozen) and a trainable copy Theta_c of it reads the condition c through two
zero convolutions Z (1x1 convolutions whose weight and bias start at zero), eq. (2):

    y_c = F(x; Theta) + Z(F(x + Z(c; Theta_z1); Theta_c); Theta_z2)

At the start both Z output zero, so y_c = y: the controlled model is exactly the frozen one,
and training starts from it instead of from noise. The zero convolutions still learn: for
y = W x + b with W = 0, dL/dW = g x^T and dL/db = g are not zero (only dL/dx = W^T g is), so
the first step moves the output Z, and from the second step on the gradient reaches the
copy and E (section 3.1).

Applied to the UNet (section 3.2, Fig. 3): the trainable copy is the whole encoder (the
input conv, the down blocks, the middle block), initialised from the frozen weights; the
control image c_i goes through a small convolutional network E whose last layer is a zero
convolution, c_f = E(c_i), added to the copy's input features:

    h_0^c = conv_in(z_t) + E(c_i)
    (h_mid^c, skips^c) = encoder_copy(h_0^c, t, c_t)        c_t: the text condition
    skip_k   <- skip_k + Z_k(skips^c_k)      for every skip the frozen decoder reads
    h_mid    <- h_mid  + Z_mid(h_mid^c)

(UNet.forward's down_residuals and mid_residual). The copy reads the same time and
caption as the frozen UNet. Trained on the frozen model's own loss, eq. (3),

    L = E_{z_0, t, c_t, c_f, eps} || eps - eps_theta(z_t, t, c_t, c_f) ||^2,

the paper replacing the caption by "" half of the time (as demos/controlnet.py does) so the
ControlNet learns to read the control map without it (section 3.3). At sampling the control is given to both halves of
classifier-free guidance.
"""
import copy

from minigen import nn

from .text_to_image import freeze
from .unet import Downsample, ResBlock, UNet, _zero_init


class ControlNet(nn.Module):
    """The trainable copy of `unet`'s encoder with zero convolutions (eq. 2).

    unet: the trained UNet to control (its encoder is copied here; it is not changed);
    control_channels: channels of the control map c_i (B, control_channels, H, W), at the
        UNet's resolution; hint_channels: widths of E's hidden convolutions.
    forward(x, t, control, **cond) -> (down_residuals, mid_residual), the UNet's keywords.
    """

    def __init__(self, unet, control_channels=1, hint_channels=(16, 32)):
        super().__init__()
        if not isinstance(unet, UNet):
            raise ValueError(f"ControlNet: unet must be a minigen.diffusion.UNet, "
                             f"got {type(unet).__name__}")
        self.control_channels, self.resolution = control_channels, unet.resolution
        # Theta_c: a copy of the UNet without its decoder (it needs only embed and encode)
        self.copy = copy.deepcopy(unet)
        for name in ('up', 'norm_out', 'conv_out'):
            delattr(self.copy, name)
        for p in self.copy.parameters():
            p.requires_grad_(True)
        # E: 3x3 convolutions with SiLU, its last one a zero convolution, to the width of h_0
        widths = (control_channels, *hint_channels)
        layers = []
        for c_in, c_out in zip(widths[:-1], widths[1:]):
            layers += [nn.Conv2d(c_in, c_out, 3, padding=1), nn.SiLU()]
        layers.append(_zero_init(nn.Conv2d(widths[-1], unet.base_channels, 3, padding=1)))
        self.hint = nn.Sequential(*layers)
        # Z_k: one zero 1x1 convolution per skip the decoder reads, and Z_mid
        widths = [unet.base_channels]  # conv_in's output, then one per ResBlock / Downsample
        for layer in unet.down:
            if isinstance(layer, (ResBlock, Downsample)):
                widths.append(widths[-1] if isinstance(layer, Downsample)
                              else layer.conv2.weight.shape[0])
        self.zero_convs = nn.ModuleList([_zero_init(nn.Conv2d(c, c, 1)) for c in widths])
        self.mid_zero_conv = _zero_init(nn.Conv2d(widths[-1], widths[-1], 1))

    def forward(self, x, t, control, y=None, context=None, context_key_padding_mask=None,
                pooled=None):
        """x (B, C, H, W) = z_t, t (B,), control (B, control_channels, H, W); y, context,
        context_key_padding_mask, pooled: as the UNet's. Returns (down_residuals,
        mid_residual), Z_k(skips^c_k) and Z_mid(h_mid^c)."""
        want = (x.shape[0], self.control_channels, self.resolution, self.resolution)
        if control is None or tuple(control.shape) != want:
            raise ValueError(f"ControlNet: control must have shape {want}, got "
                             f"{None if control is None else tuple(control.shape)}")
        self.copy._check_inputs(x, t, y, context, context_key_padding_mask, pooled)
        temb_act = self.copy.embed(t, y, pooled, x.dtype)
        # h_0^c = conv_in(z_t) + E(c_i)
        h = self.copy.conv_in(x) + self.hint(control.astype(x.dtype))
        h, skips = self.copy.encode(h, temb_act, context, context_key_padding_mask)
        return ([z(s) for z, s in zip(self.zero_convs, skips)], self.mid_zero_conv(h))


class ControlledUNet(nn.Module):
    """eps_theta(z_t, t, c_t, c_f): the frozen `unet` with a ControlNet's residuals added.

    forward(x, t, control, **cond) has the UNet's signature plus the control map, so the
    project's diffusion_loss, samplers and ClassifierFreeGuidance take it in the UNet's
    place (control as one more keyword condition). The UNet is frozen here (requires_grad
    False, eval mode); only the ControlNet trains: Adam(model.trainable_parameters())."""

    def __init__(self, unet, controlnet):
        super().__init__()
        if not isinstance(controlnet, ControlNet) or controlnet.resolution != unet.resolution:
            raise ValueError("ControlledUNet: controlnet must be a ControlNet built on this "
                             "UNet (ControlNet(unet))")
        self.unet, self.controlnet = freeze(unet), controlnet
        self.in_channels, self.resolution = unet.in_channels, unet.resolution
        self.context_dim, self.pooled_dim = unet.context_dim, unet.pooled_dim

    def trainable_parameters(self):
        return [p for p in self.controlnet.parameters() if p.requires_grad]

    def train(self, mode=True):
        """Train mode for the ControlNet; the frozen UNet stays in eval."""
        super().train(mode)
        self.unet.train(False)
        return self

    def forward(self, x, t, control, **cond):
        down, mid = self.controlnet(x, t, control, **cond)
        return self.unet(x, t, down_residuals=down, mid_residual=mid, **cond)
