"""python -m benchmarks [--device cpu|cuda] [--repeat N] [--only NAMES] [--json PATH] [--compare REF]
                     [--profile]

Prints the BLAS line (library, kernel, threads), then {workload: median seconds} as JSON.
NAMES are modules of this package (conv3x3, attention, unet, mlp, gpt, overhead) or the keys
they report (unet_step, gpt_params, op_overhead_us, ...). With --compare REF (the JSON written by
../shared/bench/torch_reference.py in the same session) it also prints the ratio
minigen / PyTorch for every key both have. Timing never fails anything. --profile prints
instead where one unet_step's and one ddim_sample step's time go, per op type (as
python -m benchmarks.unet --profile).
"""
import argparse
import importlib
import json

import autograd
from benchmarks import WORKLOADS, blas_line


def main():
    ap = argparse.ArgumentParser(prog='python -m benchmarks')
    ap.add_argument('--device', default='cpu', choices=['cpu', 'cuda'])
    ap.add_argument('--repeat', type=int, default=5)
    ap.add_argument('--only', default='', help='comma-separated workload names')
    ap.add_argument('--json', help='also write the results to this file')
    ap.add_argument('--compare', help='PyTorch reference JSON to divide by')
    ap.add_argument('--profile', action='store_true', help="unet_step's and ddim_sample's time per op type")
    args = ap.parse_args()
    if args.profile:
        from benchmarks import unet
        return unet.main(['--profile', '--device', args.device])
    only = [n for n in args.only.split(',') if n]
    by_key = {key: name for name, keys in WORKLOADS.items() for key in keys}
    unknown = set(only) - set(WORKLOADS) - set(by_key)
    if unknown:
        ap.error(f"unknown workloads {sorted(unknown)}; known: {sorted(WORKLOADS)} or the keys "
                 f"{sorted(by_key)}")
    names = list(dict.fromkeys(by_key.get(n, n) for n in only)) or list(WORKLOADS)
    print(blas_line(), flush=True)
    autograd.manual_seed(0)
    results = {}
    for name in names:
        module = importlib.import_module(f'benchmarks.{name}')
        value = module.run(device=args.device, repeat=args.repeat)
        results.update(value if isinstance(value, dict) else {WORKLOADS[name][0]: value})
    print(json.dumps(results, indent=2))
    if args.json:
        with open(args.json, 'w') as f:
            json.dump(results, f, indent=2)
    if args.compare:
        with open(args.compare) as f:
            ref = json.load(f)
        for key in results:
            if key in ref and isinstance(results[key], float):
                unit = 'us' if key.endswith('_us') else 's'
                print(f"{key:14s} minigen {results[key]:.4f}{unit}  torch {ref[key]:.4f}{unit}  "
                      f"ratio {results[key] / ref[key]:.2f}")
            elif key in ref:
                same = 'equal' if results[key] == ref[key] else 'DIFFERENT'
                print(f"{key:14s} minigen {results[key]}  torch {ref[key]}  {same}")


if __name__ == '__main__':
    main()
