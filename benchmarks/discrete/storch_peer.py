"""Step time of vaekit's discrete estimators against Storchastic's implementations of the same ones.

Storchastic (0.3.7) patches torch when imported, so each side runs in its own process: the
orchestrator alternates a Storchastic worker and a vaekit worker ``--repeats`` times (each times
``--steps`` training steps of every estimator after ``--warmup`` untimed ones, one thread,
``time.process_time``) and reports the per-repeat ratio storch/vaekit, min and max. Models: the
linear 784-200 sigmoid belief net (Bernoulli estimators) and the 20 x 10 categorical VAE (Gumbel
family), batch 50 of binarized MNIST, Adam 1e-3.

Usage: ``python benchmarks/discrete/storch_peer.py --storch-python /work/venvs/i12/bin/python``
(a Python with ``storchastic`` installed beside the same torch). Output: ``results/storch.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).parent
ROOT = HERE.parents[1]
DATA = os.environ.get("VAEKIT_MNIST", str(ROOT / ".." / "shared" / "data" / "binarized_mnist.npz"))
BERNOULLI = ["RLOO-2", "ARM", "DisARM", "RELAX"]
CATEGORICAL = ["GumbelSoftmax", "ST-Gumbel"]


def _models(cat: bool):
    from vaekit.latents import BernoulliEncoder, CategoricalDecoder, CategoricalEncoder, SigmoidBeliefNet

    if cat:
        return CategoricalEncoder(784, 20, 10, hidden=200), CategoricalDecoder(20, 10, 784, hidden=200)
    return BernoulliEncoder(784, 200), SigmoidBeliefNet(200, 784)


def vaekit_step(name: str, q, p):
    import torch
    from torch import nn

    from vaekit import ARM, RELAX, DisARM, GumbelSoftmax, LeaveOneOut, Reinforce

    loss_fn = {
        "RLOO-2": lambda: Reinforce(q, p, n_samples=2, baselines=[LeaveOneOut()]),
        "ARM": lambda: ARM(q, p),
        "DisARM": lambda: DisARM(q, p),
        "RELAX": lambda: RELAX(q, p, control=nn.Sequential(nn.Linear(200, 50), nn.Tanh(), nn.Linear(50, 1))),
        "GumbelSoftmax": lambda: GumbelSoftmax(q, p, temperature=1.0),
        "ST-Gumbel": lambda: GumbelSoftmax(q, p, temperature=1.0, straight_through=True),
    }[name]()
    opt = torch.optim.Adam(loss_fn.parameters(), lr=1e-3)

    def step(x):
        opt.zero_grad(set_to_none=True)
        loss_fn(x).backward()
        opt.step()

    return step


def storch_step(name: str, q, p):
    import storch
    import torch
    from storch.method import ARM, RELAX, DisARM, GumbelSoftmax, ScoreFunction
    from torch.distributions import Bernoulli, OneHotCategorical

    cat = name in CATEGORICAL
    method = {
        "RLOO-2": lambda: ScoreFunction("z", n_samples=2, baseline_factory="batch_average"),
        "ARM": lambda: ARM("z", n_samples=1),
        "DisARM": lambda: DisARM("z", n_samples=1),
        "RELAX": lambda: RELAX("z", n_samples=1, in_dim=(200,), rebar=True),
        "GumbelSoftmax": lambda: GumbelSoftmax("z", n_samples=1, initial_temperature=1.0, annealing_rate=0.0),
        "ST-Gumbel": lambda: GumbelSoftmax(
            "z", n_samples=1, straight_through=True, initial_temperature=1.0, annealing_rate=0.0
        ),
    }[name]()
    params = list(q.parameters()) + list(p.parameters()) + list(method.parameters())
    opt = torch.optim.Adam([w for w in params if w.requires_grad], lr=1e-3)

    def step(x):
        opt.zero_grad(set_to_none=True)
        storch.reset()
        xs = storch.denote_independent(x, 0, "data")
        if cat:
            dist = OneHotCategorical(logits=q.net(xs).unflatten(-1, (20, 10)))
            z = method(dist)
            log_pz = (z * torch.log_softmax(p.prior_logits, -1)).sum((-2, -1))
            x_logits = p.net(z.flatten(-2))
        else:
            dist = Bernoulli(logits=q.net(xs))
            z = method(dist)
            log_pz = Bernoulli(logits=p.prior_logits).log_prob(z).sum(-1)
            x_logits = p.net(z)
        log_q = dist.log_prob(z).sum(-1)
        log_px = Bernoulli(logits=x_logits).log_prob(xs).sum(-1)
        storch.add_cost(log_q - log_pz - log_px, "neg_elbo")
        storch.backward()
        opt.step()

    return step


def worker(side: str, names: list[str], steps: int, warmup: int) -> dict[str, float | str]:
    import torch

    from vaekit.data import load_binarized_mnist

    torch.set_num_threads(1)
    torch.manual_seed(0)
    data = load_binarized_mnist(DATA, split="train")[:5000]
    out: dict[str, float | str] = {}
    for name in names:
        q, p = _models(name in CATEGORICAL)
        try:
            step = (storch_step if side == "storch" else vaekit_step)(name, q, p)
            for i in range(warmup):
                step(data[i * 50 : (i + 1) * 50])
            t0 = time.process_time()
            for i in range(steps):
                j = (i * 50) % 4950
                step(data[j : j + 50])
            out[name] = (time.process_time() - t0) / steps
        except Exception as err:  # a peer that cannot run an estimator is recorded, not fatal
            out[name] = f"failed: {type(err).__name__}: {err}"[:300]
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--side", choices=["storch", "vaekit"], default=None, help="internal: run one worker")
    ap.add_argument("--storch-python", default="/work/venvs/i12/bin/python")
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--out", default=str(HERE / "results" / "storch.json"))
    args = ap.parse_args()
    names = BERNOULLI + CATEGORICAL
    if args.side:
        print(json.dumps(worker(args.side, names, args.steps, args.warmup)))
        return
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    runs = []
    for _ in range(args.repeats):
        rep = {}
        for side, py in (("storch", args.storch_python), ("vaekit", sys.executable)):
            cmd = [py, __file__, "--side", side, "--steps", str(args.steps), "--warmup", str(args.warmup)]
            res = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True)
            rep[side] = json.loads(res.stdout.strip().splitlines()[-1])
        runs.append(rep)
        print(json.dumps(rep), flush=True)
    summary = {}
    for name in names:
        ratios = [
            r["storch"][name] / r["vaekit"][name]
            for r in runs
            if isinstance(r["storch"][name], float) and isinstance(r["vaekit"][name], float)
        ]
        summary[name] = {
            "vaekit_s": [r["vaekit"][name] for r in runs],
            "storch_s": [r["storch"][name] for r in runs],
            "ratio_min": min(ratios) if ratios else None,
            "ratio_max": max(ratios) if ratios else None,
        }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps({"args": vars(args), "estimators": summary}, indent=1))


if __name__ == "__main__":
    main()
