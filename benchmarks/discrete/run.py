"""Discrete-latent estimators on statically binarized MNIST: the DisARM-paper protocol, scaled down.

Parts (run one per call, each a few minutes on one thread):

- ``linear`` / ``nonlinear``: a 200-Bernoulli-latent VAE (sigmoid belief net; nonlinear: two tanh
  layers of 200), batch 50, Adam. Estimators at 2 objective evaluations per step (REINFORCE with
  the leave-one-out baseline on 2 samples, ARM, DisARM; RELAX with its REBAR term costs 3) and at
  10 (VIMCO-10, local-DisARM with 5 pairs, ARMS-10).
- ``categorical``: a 20 x 10 categorical VAE (tanh hidden layer of 200 on both sides) for the
  Gumbel family, IndeCateR, REINFORCE-LOO-2 and the coupled categorical estimators of Dong, Mnih
  & Tucker 2021 (DisARM-SB with and without Rao-Blackwellisation, DisARM-IW; pick them with
  ``--only`` and write them to their own file with ``--tag``).

Every estimator of a part trains its own copy of the same initial model; steps are interleaved
round-robin (estimator A step t, B step t, ...) so machine load hits all alike, and timed with
``time.process_time``. After training: the test IWAE_100 bound on a seeded random subset of the
test split (``--n-test`` images, seed 0), and the variance of the encoder's gradient (sum of the
per-parameter variances over ``--var-draws`` draws on one fixed training batch) both at the
estimator's own trained model and at one shared model (the DisARM-trained one for the Bernoulli
parts, the ST-Gumbel one for the categorical part). Results: ``results/<part>.json``.

Usage: ``python benchmarks/discrete/run.py linear --steps 1500`` (see ``--help``), then
``python benchmarks/discrete/report.py`` for the tables, the figure and the docs page.
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import os
import time
from pathlib import Path

import torch
from torch import nn

import vaekit
from vaekit import (
    ARM,
    ARMS,
    RELAX,
    VIMCO,
    CategoricalDisARM,
    CategoricalDisARMIW,
    DisARM,
    ExponentialAnnealing,
    GumbelRao,
    GumbelSoftmax,
    IndeCateR,
    LeaveOneOut,
    LocalDisARM,
    Reinforce,
)
from vaekit.data import load_binarized_mnist
from vaekit.diagnostics import gradient_stats
from vaekit.latents import BernoulliEncoder, CategoricalDecoder, CategoricalEncoder, SigmoidBeliefNet

HERE = Path(__file__).parent
DATA = os.environ.get("VAEKIT_MNIST", str(HERE.parents[1] / ".." / "shared" / "data" / "binarized_mnist.npz"))


def _control(h: int) -> nn.Module:
    return nn.Sequential(nn.Linear(h, 50), nn.Tanh(), nn.Linear(50, 1))


def contenders(part: str, q, p) -> dict[str, tuple[nn.Module, int]]:
    """name -> (loss, objective evaluations per data point per step)."""
    if part == "categorical":
        return {
            "RLOO-2": (Reinforce(q, p, n_samples=2, baselines=[LeaveOneOut()]), 2),
            "GumbelSoftmax": (
                GumbelSoftmax(q, p, temperature=ExponentialAnnealing(start=1.0, rate=1e-3, minimum=0.5)),
                1,
            ),
            "ST-Gumbel": (GumbelSoftmax(q, p, temperature=1.0, straight_through=True), 1),
            "GumbelRao-10": (GumbelRao(q, p, n_conditional=10, temperature=1.0), 1),
            "IndeCateR": (IndeCateR(q, p, n_samples=1), 1 + 20 * 10),
            "CategoricalDisARM": (CategoricalDisARM(q, p), 2),
            "CategoricalDisARM-RB": (CategoricalDisARM(q, p, rao_blackwell=True), 2),
            "CategoricalDisARM-RB-asc": (CategoricalDisARM(q, p, rao_blackwell=True, logits_order="ascending"), 2),
            "CategoricalDisARM-RB-desc": (CategoricalDisARM(q, p, rao_blackwell=True, logits_order="descending"), 2),
            "CategoricalDisARMIW": (CategoricalDisARMIW(q, p), 2),
        }
    return {
        "RLOO-2": (Reinforce(q, p, n_samples=2, baselines=[LeaveOneOut()]), 2),
        "ARM": (ARM(q, p), 2),
        "DisARM": (DisARM(q, p), 2),
        "RELAX": (RELAX(q, p, control=_control(200)), 3),
        "VIMCO-10": (VIMCO(q, p, n_samples=10), 10),
        "LocalDisARM-5x2": (LocalDisARM(q, p, n_pairs=5), 10),
        "ARMS-10": (ARMS(q, p, n_samples=10), 10),
    }


def models(part: str):
    if part == "categorical":
        q, p = CategoricalEncoder(784, 20, 10, hidden=200), CategoricalDecoder(20, 10, 784, hidden=200)
    else:
        hidden = None if part == "linear" else (200, 200)
        q, p = BernoulliEncoder(784, 200, hidden), SigmoidBeliefNet(200, 784, hidden)
    with torch.no_grad():  # start the decoder's output bias at the data's pixel log-odds, as is usual
        last = [m for m in p.modules() if isinstance(m, nn.Linear)][-1]
        last.bias.copy_(torch.logit(TRAIN.mean(0).clamp(1e-3, 1 - 1e-3)))
    return q, p


@torch.no_grad()
def iwae_test(loss_fn, x: torch.Tensor, k: int, chunk: int = 100) -> float:
    q, p = loss_fn.inf_net, loss_fn.gen_model
    total = 0.0
    for i in range(0, x.shape[0], chunk):
        xb = x[i : i + chunk]
        z = q(xb).sample(k)
        lw = p(xb, z).log_prob(xb, z) - q.log_prob(z)  # [b, K]
        total += float((torch.logsumexp(lw, -1) - math.log(k)).sum())
    return total / x.shape[0]


def encoder_variance(loss_fn, x: torch.Tensor, draws: int) -> float:
    names = [f"inf_net.{n}" for n, _ in loss_fn.inf_net.named_parameters()]
    stats = gradient_stats(loss_fn, x, n_draws=draws, params=names)
    return float(sum(s.total_variance for s in stats.values()))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("part", choices=["linear", "nonlinear", "categorical"])
    ap.add_argument("--steps", type=int, default=1500)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--batch", type=int, default=50)
    ap.add_argument("--n-test", type=int, default=2000)
    ap.add_argument("--k-test", type=int, default=100)
    ap.add_argument("--var-draws", type=int, default=100)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--only", default=None, help="comma-separated estimator names")
    ap.add_argument("--out", default=str(HERE / "results"))
    ap.add_argument("--tag", default="", help="suffix of the result file: results/<part><tag>.json")
    args = ap.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(args.seed)
    global TRAIN
    TRAIN = load_binarized_mnist(DATA, split="train")
    test = load_binarized_mnist(DATA, split="test")
    test = test[torch.randperm(test.shape[0], generator=torch.Generator().manual_seed(0))[: args.n_test]]
    q0, p0 = models(args.part)
    runs = {
        name: evals
        for name, (_, evals) in contenders(args.part, q0, p0).items()
        if not args.only or name in args.only.split(",")
    }
    losses = {}
    for name in runs:
        q, p = copy.deepcopy(q0), copy.deepcopy(p0)
        loss_fn = contenders(args.part, q, p)[name][0]
        losses[name] = (loss_fn, torch.optim.Adam(loss_fn.parameters(), lr=args.lr))
    perm = torch.randperm(TRAIN.shape[0], generator=torch.Generator().manual_seed(args.seed))
    times = {n: 0.0 for n in losses}
    curve = {n: [] for n in losses}
    every = max(1, args.steps // 20)
    for step in range(args.steps):
        i = (step * args.batch) % (TRAIN.shape[0] - args.batch)
        x = TRAIN[perm[i : i + args.batch]]
        for name, (loss_fn, opt) in losses.items():
            t0 = time.process_time()
            opt.zero_grad(set_to_none=True)
            loss_fn(x).backward()
            opt.step()
            times[name] += time.process_time() - t0
        if (step + 1) % every == 0:
            for name, (loss_fn, _) in losses.items():
                curve[name].append((step + 1, -float(sum(loss_fn.loss_history_[-every:]) / every)))
            print(f"step {step + 1}: " + ", ".join(f"{n} {c[-1][1]:.1f}" for n, c in curve.items()), flush=True)
            Path(args.out).mkdir(parents=True, exist_ok=True)
            (Path(args.out) / f"{args.part}{args.tag}.progress.json").write_text(
                json.dumps({"step": step + 1, "curve": curve, "cpu_seconds": times})
            )
    xv = TRAIN[perm[-args.batch :]]
    shared_name = "ST-Gumbel" if args.part == "categorical" else "DisARM"
    shared_name = shared_name if shared_name in losses else next(iter(losses))
    shared = losses[shared_name][0]
    result = {
        "part": args.part,
        "args": vars(args),
        "torch": torch.__version__,
        "vaekit": vaekit.__version__,
        "shared_model": shared_name,
        "estimators": {},
    }
    shared_state = copy.deepcopy((shared.inf_net.state_dict(), shared.gen_model.state_dict()))
    for name, (loss_fn, _) in losses.items():
        own_state = copy.deepcopy((loss_fn.inf_net.state_dict(), loss_fn.gen_model.state_dict()))
        var_own = encoder_variance(loss_fn, xv, args.var_draws)
        loss_fn.inf_net.load_state_dict(shared_state[0])
        loss_fn.gen_model.load_state_dict(shared_state[1])
        var_shared = encoder_variance(loss_fn, xv, args.var_draws)
        loss_fn.inf_net.load_state_dict(own_state[0])
        loss_fn.gen_model.load_state_dict(own_state[1])
        result["estimators"][name] = {
            "evaluations_per_step": runs[name],
            "unbiased": bool(getattr(type(loss_fn), "unbiased", True)),
            "test_iwae": iwae_test(loss_fn, test, args.k_test),
            "train_objective_last": curve[name][-1][1] if curve[name] else None,
            "encoder_grad_variance_own": var_own,
            "encoder_grad_variance_shared": var_shared,
            "cpu_seconds_per_step": times[name] / args.steps,
            "curve": curve[name],
        }
        print(name, {k: v for k, v in result["estimators"][name].items() if k != "curve"}, flush=True)
        Path(args.out).mkdir(parents=True, exist_ok=True)  # written after every estimator: a partial run is kept
        (Path(args.out) / f"{args.part}{args.tag}.json").write_text(json.dumps(result, indent=1))


TRAIN: torch.Tensor
if __name__ == "__main__":
    main()
