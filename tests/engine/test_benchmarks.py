"""benchmarks/ (python -m benchmarks): the workloads build what ../shared/BENCHMARKS.md
defines, and the BLAS line degrades gracefully. Timing itself is never tested."""
import builtins
import json
import subprocess
import sys

import pytest

from benchmarks import WORKLOADS, blas_line, gpt, mlp, overhead


def test_the_gpt_has_the_reference_parameter_count():
    model, _ = gpt._setup('cpu')
    assert sum(p.size for p in model.parameters()) == 867_072  # PyTorch's GPT, BENCHMARKS.md


def test_the_mlp_step_lowers_its_loss_and_the_op_overhead_runs():
    import minigen.nn.functional as F
    step = mlp._setup('cpu')
    model, x, y = step.model, step.x, step.y
    before = F.mse_loss(model(x), y).item()
    for _ in range(5):
        step()
    assert F.mse_loss(model(x), y).item() < before
    us = overhead.run(runs=20)['op_overhead_us']
    assert 0 < us < 1e5


def test_the_blas_line_names_library_kernel_and_threads_or_says_why_not(monkeypatch):
    line = blas_line()
    assert line.startswith('BLAS: ')
    real_import = builtins.__import__

    def no_threadpoolctl(name, *args, **kwargs):
        if name == 'threadpoolctl':
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, '__import__', no_threadpoolctl)
    monkeypatch.setenv('OPENBLAS_CORETYPE', 'Haswell')
    line = blas_line()
    assert 'threadpoolctl' in line and 'OPENBLAS_CORETYPE=Haswell' in line


def test_only_takes_workload_names_and_json_keys():
    keys = {key for keys in WORKLOADS.values() for key in keys}
    assert {'gpt_step', 'gpt_params', 'mlp_step', 'op_overhead_us', 'unet_step'} <= keys
    out = subprocess.run([sys.executable, '-m', 'benchmarks', '--only', 'gpt_params,nonsense'],
                         capture_output=True, text=True)
    assert out.returncode != 0 and 'nonsense' in out.stderr
