"""Where vaekit's time per step goes beyond the hand-written floor: ``python benchmarks/overhead.py``.

In one process, one thread, interleaved in short turns (CPU time): the floor, vaekit as built by
default, vaekit with ``check_finite=False``, and vaekit with ``validate_args=True`` latents (the
torch.distributions path). Then a torch.profiler table of the ops whose call counts differ
between vaekit and the floor.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common  # noqa: E402
import torch  # noqa: E402
from contenders import VaekitTrainer, build  # noqa: E402


class _Variant:
    def __init__(self, est, model, state, k, lr, check_finite, validate):
        self.t = VaekitTrainer(est, model, state, k, lr)
        self.t.loss_fn.check_finite = check_finite
        self.t.inf.validate_args = self.t.gen.validate_args = validate

    def step(self, x):
        self.t.step(x)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--data", default=str(common.DEFAULT_DATA))
    p.add_argument("--model", default="linear", choices=["linear", "nonlinear"])
    p.add_argument("--estimator", default="vimco")
    p.add_argument("--k", type=int, default=5)
    p.add_argument("--rounds", type=int, default=40)
    p.add_argument("--turn", type=int, default=5)
    a = p.parse_args(argv)
    torch.set_num_threads(1)
    torch.manual_seed(0)
    train = common.load_packed(a.data, "train")
    state = common.initial_state(a.model, 0)
    xs = [common.unpack(train[i * 50 : (i + 1) * 50]) for i in range(a.turn * 4)]
    variants = {
        "floor": build(f"floor:{a.estimator}", a.model, state, a.k, 1e-3),
        "vaekit (default)": _Variant(a.estimator, a.model, state, a.k, 1e-3, True, False),
        "vaekit check_finite=False": _Variant(a.estimator, a.model, state, a.k, 1e-3, False, False),
        "vaekit validate_args=True": _Variant(a.estimator, a.model, state, a.k, 1e-3, True, True),
    }
    times = {n: [] for n in variants}
    for r in range(a.rounds):
        for n, v in variants.items():
            for i in range(a.turn):
                x = xs[(r * a.turn + i) % len(xs)]
                t0 = time.process_time()
                v.step(x)
                if r > 1:
                    times[n].append(time.process_time() - t0)
    base = statistics.median(times["floor"])
    print(f"{a.model} {a.estimator} K={a.k}: median CPU ms per step (ratio to floor), {len(times['floor'])} steps each")
    for n, t in times.items():
        m = statistics.median(t)
        print(f"  {n:28s} {m * 1e3:7.2f}  ({m / base:.3f})")
    counts = {}
    for n in ("floor", "vaekit (default)"):
        with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
            for x in xs[:10]:
                variants[n].step(x)
        counts[n] = {e.key: (e.count / 10, e.self_cpu_time_total / 10) for e in prof.key_averages()}
    print("ops per step whose call count differs (vaekit vs floor; self CPU us per step):")
    keys = sorted(
        set(counts["floor"]) | set(counts["vaekit (default)"]),
        key=lambda k: -counts["vaekit (default)"].get(k, (0, 0))[1],
    )
    for k in keys:
        cf, tf = counts["floor"].get(k, (0, 0))
        cv, tv = counts["vaekit (default)"].get(k, (0, 0))
        if cf != cv and (tv > 20 or tf > 20):
            print(f"  {k:40s} calls {cf:5.1f} -> {cv:5.1f}   self us {tf:8.0f} -> {tv:8.0f}")


if __name__ == "__main__":
    main()
