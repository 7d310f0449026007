"""minigen.energy: energy-based models and score matching, the family that connects
likelihood-free sampling to diffusion.

Read in this order:
    langevin.py        Langevin dynamics from grad_x E (the engine's gradient with respect to
                       the input), and annealed Langevin over a ladder of noise levels (NCSN)
    ebm.py             an EBM trained by contrastive divergence with short-run Langevin and a
                       replay buffer of past chains (Du & Mordatch 2019)
    score_matching.py  denoising score matching (Vincent 2011) weighted over noise levels;
                       DDPM's eps is the score scaled by -sqrt(1 - alpha_bar)
    nets.py            energies for points and images; noise-conditional score models
                       (an MLP, and the DDPM UNet divided by sigma)
"""
from .langevin import (energy_grad, langevin_dynamics, geometric_sigmas,  # noqa: F401
                       annealed_langevin)
from .ebm import ReplayBuffer, negative_samples, contrastive_divergence_loss  # noqa: F401
from .score_matching import dsm_loss, score_from_eps, eps_from_score  # noqa: F401
from .nets import (EnergyMLP, EnergyConvNet, ScoreMLP, NoiseConditionalScore,  # noqa: F401
                   unet_score)
