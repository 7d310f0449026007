"""minigen.diffusion: denoising diffusion (DDPM, DDIM, classifier-free guidance,
latent diffusion and text-to-image).

Read in this order:
    schedule.py   beta_t and everything derived from it (alpha_bar_t, posterior coefficients)
    process.py    q(x_t | x_0), the eps / x0 / v targets, the training loss (Algorithm 1)
    previews.py   x0_hat of fixed images at a few noise levels, watched as training goes
    samplers.py   DDPM (Algorithm 2), DDIM
    guidance.py   classifier-free guidance: condition dropout, the guided prediction
    unet.py       the DDPM UNet, eps_theta(x_t, t [, y, context])
    first_stage.py   latent diffusion's first stage: KL-regularised autoencoder, posterior,
                     scale factor (Rombach et al. 2022)
    text_to_image.py latent diffusion conditioned on a caption's token states: training
                     with caption dropout, guided sampling, negative prompts
    unclip.py        unCLIP (DALL-E 2): a diffusion prior over CLIP image embeddings, a
                     decoder reading them, slerp for interpolations (Ramesh et al. 2022)
    controlnet.py    ControlNet: a trainable copy of the UNet's encoder reading a control
                     map through zero convolutions, added to a frozen UNet's skips
    clip_guidance.py CLIP guidance: each step's eps shifted by the gradient of a frozen
                     CLIP's cosine to the prompt (Dhariwal & Nichol 2021; GLIDE)

The network is any callable model(x_t, t, **cond) -> prediction, e.g. UNet.
"""
from .schedule import (NoiseSchedule, linear_schedule, cosine_schedule,  # noqa: F401
                       schedule_from_config)
from .process import (q_sample, q_posterior, training_target, split_prediction,  # noqa: F401
                      predict_x0, diffusion_loss, TimestepLoss)
from .previews import X0Preview  # noqa: F401
from .samplers import (ddpm_sample, ddim_sample, ddpm_step, ddim_step, ddim_sigma,  # noqa: F401
                       check_model)
from .guidance import ClassifierFreeGuidance, drop_condition, null_like  # noqa: F401
from .unet import UNet  # noqa: F401
from .first_stage import (AutoencoderKL, DiagonalGaussian, kl_reg_loss,  # noqa: F401
                          compute_scale_factor, reconstruction_metrics)
from .text_to_image import LatentDiffusion, load_clip_text_encoder, freeze  # noqa: F401
from .controlnet import ControlNet, ControlledUNet  # noqa: F401
from .unclip import DiffusionPrior, PriorMLP, UnCLIPDecoder, slerp  # noqa: F401
from .clip_guidance import CLIPGuidance  # noqa: F401
