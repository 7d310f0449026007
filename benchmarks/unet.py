"""unet_step, ddim_sample, unet_params: the DDPM UNet of ../shared/BENCHMARKS.md.

unet_step    one training step (Algorithm 1 of Ho et al. 2020) on 32 images (1, 32, 32):
             t ~ U{0..999}, eps ~ N(0, I), x_t = q_sample(x_0, t, eps) with the linear
             schedule 1e-4..0.02, MSE(eps_theta(x_t, t), eps), zero grads, backward, Adam(2e-4)
ddim_sample  50 deterministic DDIM steps (eta 0, timesteps round(linspace(999, 0, 50)), the
             last with alpha_bar_prev = 1) for 16 images, no gradients; repeat is halved
unet_params  the parameter count, 1,112,801 as in the PyTorch reference

    python -m benchmarks --only unet            # the three numbers
    python -m benchmarks.unet --profile         # where the time goes, per op: unet_step,
                                                # then one ddim_sample per denoising step
"""
import argparse

import autograd
from benchmarks import median_time
from benchmarks.profile import OpProfiler
from minigen.diffusion import linear_schedule, diffusion_loss, ddim_sample
from minigen.diffusion import UNet
from minigen.optim import Adam


def _setup(device):
    autograd.manual_seed(0)
    model = UNet().to(device)  # the benchmark configuration is UNet's default
    opt = Adam(model.parameters(), lr=2e-4)
    schedule = linear_schedule(1000)
    x0 = autograd.randn(32, 1, 32, 32, device=device)

    def step():
        loss = diffusion_loss(model, schedule, x0)  # t, eps drawn inside; MSE on eps
        opt.zero_grad()
        loss.backward()
        opt.step()

    def sample():
        ddim_sample(model, schedule, autograd.randn(16, 1, 32, 32, device=device), steps=50,
                    eta=0.0, clip_x0=False)

    return model, step, sample


def run(device='cpu', repeat=5):
    model, step, sample = _setup(device)
    return {'unet_step': median_time(step, device, repeat),
            'ddim_sample': median_time(sample, device, max(1, repeat // 2), warmup=1),
            'unet_params': sum(p.size for p in model.parameters())}


def main(argv=None):
    ap = argparse.ArgumentParser(prog='python -m benchmarks.unet')
    ap.add_argument('--device', default='cpu', choices=['cpu', 'cuda'])
    ap.add_argument('--profile', action='store_true', help='time unet_step per op instead')
    ap.add_argument('--steps', type=int, default=3, help='profiled steps (after 1 warm-up)')
    args = ap.parse_args(argv)
    if not args.profile:
        print(run(args.device))
        return
    _, step, sample = _setup(args.device)
    step()
    with OpProfiler(args.device) as prof:
        for _ in range(args.steps):
            step()
    print(f"unet_step (batch 32, forward + backward + Adam), per step:\n{prof.report(per=args.steps)}")
    sample()
    with OpProfiler(args.device) as prof:
        sample()
    print(f"\nddim_sample (batch 16, forward only under no_grad), per denoising step of 50:\n"
          f"{prof.report(per=50)}")


if __name__ == '__main__':
    main()
