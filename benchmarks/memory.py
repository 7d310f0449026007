"""unet_step_peak_mib: how much memory one DDPM training step of the benchmark UNet needs.

Issue 9 asks for the peak memory of `unet_step` (../shared/BENCHMARKS.md) on the CPU to be
at most 1.5x PyTorch's. Both are measured the same way, each in a fresh process so nothing
else is resident:

    baseline = resident set size (RSS) once the model, the optimizer and x_0 exist
    peak     = the process's highest RSS (getrusage ru_maxrss) after 3 training steps
    unet_step_peak_mib = peak - baseline

so the figure is what the step itself adds: activations kept for backward, gradients, Adam's
two moment buffers (allocated by the first step) and the allocator's slack.

    python -m benchmarks.memory                                    # minigen only
    python -m benchmarks.memory --reference ~/.cache/torchref/bin/python
        # also PyTorch, through ../shared/bench/torch_reference.py run by that interpreter

The PyTorch side runs in the throwaway venv's interpreter, never in this project's.
"""
import argparse
import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
SHARED_BENCH = os.path.join(ROOT, '..', 'shared', 'bench')

# Both children print one JSON line: {"baseline_mib": ..., "peak_mib": ...}.
_MEASURE = r'''
import json, resource
def rss_mib():
    with open('/proc/self/statm') as f:
        return int(f.read().split()[1]) * resource.getpagesize() / 2**20
def report(step):
    base = rss_mib()
    for _ in range(3):
        step()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"baseline_mib": base, "peak_mib": peak}))
'''

MINIGEN_CHILD = _MEASURE + r'''
import autograd
from benchmarks.unet import _setup
_, step, _ = _setup('cpu')
report(step)
'''

TORCH_CHILD = _MEASURE + r'''
import sys
sys.path.insert(0, {bench!r})
import torch, torch.nn.functional as F
from torch_reference import UNet, ddpm_alphas_bar
torch.manual_seed(0)
net = UNet(); opt = torch.optim.Adam(net.parameters(), lr=2e-4)
abar = ddpm_alphas_bar(); x0 = torch.randn(32, 1, 32, 32)
def step():
    t = torch.randint(0, 1000, (32,)); eps = torch.randn_like(x0)
    ab = abar[t][:, None, None, None]
    loss = F.mse_loss(net(ab.sqrt() * x0 + (1 - ab).sqrt() * eps, t), eps)
    opt.zero_grad(); loss.backward(); opt.step()
report(step)
'''


def measure(python, code):
    """Run `code` in a fresh interpreter and return (peak - baseline) in MiB."""
    out = subprocess.run([python, '-c', code], cwd=ROOT, capture_output=True, text=True)
    if out.returncode != 0:
        raise RuntimeError(f"benchmarks.memory: the child process ({python}) failed:\n"
                           f"{out.stderr[-2000:]}")
    values = json.loads(out.stdout.strip().splitlines()[-1])
    return values['peak_mib'] - values['baseline_mib']


def main():
    ap = argparse.ArgumentParser(prog='python -m benchmarks.memory')
    ap.add_argument('--reference', help='a Python with torch installed (outside this repo)')
    args = ap.parse_args()
    result = {'unet_step_peak_mib': round(measure(sys.executable, MINIGEN_CHILD), 1)}
    if args.reference:
        bench = os.path.abspath(SHARED_BENCH)
        if not os.path.exists(os.path.join(bench, 'torch_reference.py')):
            ap.error(f"no torch_reference.py in {bench}")
        ref = measure(args.reference, TORCH_CHILD.replace('{bench!r}', repr(bench)))
        result['torch_unet_step_peak_mib'] = round(ref, 1)
        result['ratio'] = round(result['unet_step_peak_mib'] / ref, 2)
    print(json.dumps(result, indent=2))


if __name__ == '__main__':
    main()
