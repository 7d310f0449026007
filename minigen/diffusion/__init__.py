"""minigen.diffusion: denoising diffusion (DDPM, DDIM, classifier-free guidance).

Read in this order:
    schedule.py   beta_t and everything derived from it (alpha_bar_t, posterior coefficients)
    process.py    q(x_t | x_0), the eps / x0 / v targets, the training loss (Algorithm 1)
    samplers.py   DDPM (Algorithm 2), DDIM
    guidance.py   classifier-free guidance: condition dropout, the guided prediction
    unet.py       the DDPM UNet, eps_theta(x_t, t [, y, context])

The network is any callable model(x_t, t, **cond) -> prediction, e.g. UNet.
"""
from .schedule import (NoiseSchedule, linear_schedule, cosine_schedule,  # noqa: F401
                       schedule_from_config)
from .process import (q_sample, q_posterior, training_target, split_prediction,  # noqa: F401
                      predict_x0, diffusion_loss, TimestepLoss)
from .samplers import (ddpm_sample, ddim_sample, ddpm_step, ddim_step, ddim_sigma,  # noqa: F401
                       check_model)
from .guidance import ClassifierFreeGuidance, drop_condition, null_like  # noqa: F401
from .unet import UNet  # noqa: F401
