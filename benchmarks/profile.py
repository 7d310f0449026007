"""OpProfiler: where the time of a training step goes, per Function class.

Inside `with OpProfiler(device) as prof:` every `Function.apply` (the forward, keyed by
the class name) and every backward of a recorded op (keyed 'Name.backward') is timed.
Times are exclusive: an op run inside another one's backward (SiluGrad inside
Silu.backward) counts for itself only, so the rows add up to the time spent in ops;
the rest of the wall time ('outside ops') is Python in modules, the optimizer, the
engine's bookkeeping. On a GPU each timed region synchronizes first, which slows the
run but charges each kernel to the op that launched it.

    with OpProfiler('cpu') as prof:
        train_step()
    print(prof.report())
"""
import time
from collections import defaultdict

from autograd.function import Function
from benchmarks import synchronize


class OpProfiler:
    def __init__(self, device='cpu'):
        self.device = device
        self.total = defaultdict(float)  # name -> exclusive seconds
        self.calls = defaultdict(int)
        self._stack = []  # [name, start, seconds spent in nested timed regions]

    def _timed(self, name, fn, *args, **kwargs):
        synchronize(self.device)
        self._stack.append([name, time.perf_counter(), 0.0])
        try:
            return fn(*args, **kwargs)
        finally:
            synchronize(self.device)
            name, start, nested = self._stack.pop()
            spent = time.perf_counter() - start
            self.total[name] += spent - nested
            self.calls[name] += 1
            if self._stack:
                self._stack[-1][2] += spent

    def __enter__(self):
        self._apply = Function.__dict__['apply']
        profiler, apply = self, self._apply.__func__

        def timed_apply(cls, *inputs, **params):
            out = profiler._timed(cls.__name__, apply, cls, *inputs, **params)
            fn = out.creator
            if fn is not None and type(fn) is cls and 'backward' not in fn.__dict__:
                backward = fn.backward
                fn.backward = lambda g: profiler._timed(cls.__name__ + '.backward', backward, g)
            return out

        Function.apply = classmethod(timed_apply)
        self._wall = time.perf_counter()
        return self

    def __exit__(self, *exc):
        synchronize(self.device)
        self.wall = time.perf_counter() - self._wall
        Function.apply = self._apply

    def report(self, per=1):
        """A table of ms per op name (divided by `per`, e.g. the number of steps), largest first."""
        ops = sum(self.total.values())
        rows = [f"{'op':32s} {'calls':>7s} {'ms':>9s} {'share':>6s}"]
        for name, s in sorted(self.total.items(), key=lambda kv: -kv[1]):
            rows.append(f"{name:32s} {self.calls[name] // per:7d} {1e3 * s / per:9.2f} "
                        f"{s / self.wall:6.1%}")
        rows.append(f"{'outside ops':32s} {'':7s} {1e3 * (self.wall - ops) / per:9.2f} "
                    f"{(self.wall - ops) / self.wall:6.1%}")
        rows.append(f"{'wall':32s} {'':7s} {1e3 * self.wall / per:9.2f}")
        return '\n'.join(rows)
