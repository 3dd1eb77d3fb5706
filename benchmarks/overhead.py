"""Where vaekit's time per step goes beyond the hand-written floor: ``python benchmarks/overhead.py``.

In one process, one thread, interleaved in short turns: the floor, vaekit as built by default,
vaekit with ``check_finite=False``, vaekit with torch.distributions validation off, and both off.
and vaekit's loss on lean hand-written latent models that skip torch.distributions (what
remains is the cost of vaekit's core: Loss, draw, the estimator). Then a torch.profiler table of the ops whose call counts differ between vaekit and the floor.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import torch  # noqa: E402
import torch.distributions as D  # noqa: E402

import common  # noqa: E402
from contenders import VaekitTrainer, build  # noqa: E402


class _LeanVariant:
    """vaekit's loss (core: Loss, draw, the estimator) on lean hand-written InfNet/GenModel
    subclasses that skip torch.distributions: isolates the core's cost from the latent models'."""

    def __init__(self, est, model, state, k, lr):
        import torch.nn.functional as F

        from contenders import vaekit_loss
        from vaekit import GenModel, InfNet

        class LeanEncoder(InfNet):
            def __init__(self, net):
                super().__init__()
                self.net = net

            def forward(self, x):
                self.params_ = {"logits": self.net(x)}
                return self

            def sample(self, n_samples):
                p = torch.sigmoid(self.params_["logits"].detach())
                return torch.bernoulli(p.unsqueeze(1).expand(-1, n_samples, -1))  # [B, K, H]

            def log_prob(self, z):
                logits = self.params_["logits"].unsqueeze(1).expand_as(z)
                return -F.binary_cross_entropy_with_logits(logits, z, reduction="none").sum(-1)

        class LeanSBN(GenModel):
            def __init__(self, prior_logits, net):
                super().__init__()
                self.prior_logits, self.net = prior_logits, net

            def forward(self, x, z):
                self.params_ = {"logits": self.net(z)}
                return self

            def log_prob(self, x, z):
                logits = self.params_["logits"]
                log_px = -F.binary_cross_entropy_with_logits(logits, x.unsqueeze(1).expand_as(logits),
                                                             reduction="none").sum(-1)
                return z @ self.prior_logits - F.softplus(self.prior_logits).sum() + log_px

            def sample(self, n):
                z = torch.bernoulli(torch.sigmoid(self.prior_logits.detach()).expand(n, -1))
                return torch.bernoulli(torch.sigmoid(self.net(z).detach())), z

        enc, dec = common.plain_models(model, state)
        self.loss_fn = vaekit_loss(est, LeanEncoder(enc.net), LeanSBN(dec.prior_logits, dec.net), k)
        self.opt = torch.optim.Adam(self.loss_fn.parameters(), lr=lr)

    def step(self, x):
        self.opt.zero_grad(set_to_none=True)
        self.loss_fn(x).backward()
        self.opt.step()


class _Variant:
    def __init__(self, est, model, state, k, lr, check_finite, validate):
        self.validate = validate
        D.Distribution.set_default_validate_args(validate)
        self.t = VaekitTrainer(est, model, state, k, lr)
        self.t.loss_fn.check_finite = check_finite

    def step(self, x):
        D.Distribution.set_default_validate_args(self.validate)
        try:
            self.t.step(x)
        finally:
            D.Distribution.set_default_validate_args(True)


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
    xs = [common.unpack(train[i * 50:(i + 1) * 50]) for i in range(a.turn * 4)]
    variants = {
        "floor": build(f"floor:{a.estimator}", a.model, state, a.k, 1e-3),
        "vaekit (default)": _Variant(a.estimator, a.model, state, a.k, 1e-3, True, True),
        "vaekit check_finite=False": _Variant(a.estimator, a.model, state, a.k, 1e-3, False, True),
        "vaekit validation off": _Variant(a.estimator, a.model, state, a.k, 1e-3, True, False),
        "vaekit both off": _Variant(a.estimator, a.model, state, a.k, 1e-3, False, False),
        "vaekit core, lean latents": _LeanVariant(a.estimator, a.model, state, a.k, 1e-3),
    }
    times = {n: [] for n in variants}
    for r in range(a.rounds):
        for n, v in variants.items():
            for i in range(a.turn):
                x = xs[(r * a.turn + i) % len(xs)]
                t0 = time.perf_counter()
                v.step(x)
                if r > 1:
                    times[n].append(time.perf_counter() - t0)
    base = statistics.median(times["floor"])
    print(f"{a.model} {a.estimator} K={a.k}: median ms per step (ratio to floor), {len(times['floor'])} steps each")
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
    keys = sorted(set(counts["floor"]) | set(counts["vaekit (default)"]),
                  key=lambda k: -counts["vaekit (default)"].get(k, (0, 0))[1])
    for k in keys:
        cf, tf = counts["floor"].get(k, (0, 0))
        cv, tv = counts["vaekit (default)"].get(k, (0, 0))
        if cf != cv and (tv > 20 or tf > 20):
            print(f"  {k:40s} calls {cf:5.1f} -> {cv:5.1f}   self us {tf:8.0f} -> {tv:8.0f}")


if __name__ == "__main__":
    main()
