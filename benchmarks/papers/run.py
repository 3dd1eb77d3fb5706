"""The papers' setups, scaled to a shared 2-core CPU: SBN 200-200-200 (VIMCO paper) and a Gaussian VAE (IWAE paper).

Part ``sbn``: a linear sigmoid belief net with three stochastic layers of 200 units and the matching
layered q (Mnih & Rezende 2016, sec. 6.1), trained with VIMCO, NVIL (Reinforce + the NVIL baselines)
and RWS (wake-phi) at K in {2, 5, 50} for the same fixed number of Adam steps; ``--estimators
"NVIL (per-layer signals)"`` adds vaekit.NVIL with NVIL's per-layer learning signals and baselines.
Part ``gauss``: a one-stochastic-layer Gaussian VAE 784-200-200-50 (Burda et al. 2016's architecture)
trained with IWAE (pathwise), DReG, VR (alpha = 0.5, pathwise) and TVO (score function).

Every model is evaluated by the IWAE bound with ``--eval-k`` samples (default 1000) on a seeded random
subset of ``--eval-n`` test images (``--eval-n 10000`` is the whole test split), chunked in bounded
memory by ``vaekit.iwae_bound``. One intra-op thread; CPU time per run is recorded.

    PYTHONPATH=$PWD python benchmarks/papers/run.py --part sbn --out benchmarks/papers/results/sbn.json
    PYTHONPATH=$PWD python benchmarks/papers/run.py --part gauss --out benchmarks/papers/results/gauss.json
    python benchmarks/papers/report.py   # writes benchmarks/papers/RESULTS.md from the JSON files
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

import vaekit
from vaekit import (
    IWAE,
    NVIL,
    RWS,
    TVO,
    VIMCO,
    VR,
    BernoulliDecoder,
    DReG,
    GaussianEncoder,
    LayeredBernoulliEncoder,
    LayeredSigmoidBeliefNet,
    Reinforce,
    iwae_bound,
    nvil_baselines,
)

DEFAULT_DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "binarized_mnist.npz"


def load(path: str, split: str) -> torch.Tensor:
    with np.load(path) as f:
        return torch.from_numpy(np.unpackbits(f[split], axis=1)[:, :784].astype(np.float32))


def sbn_losses(k: int) -> dict:
    def vimco(q, p):
        return VIMCO(q, p, n_samples=k)

    def nvil(q, p):
        net = nn.Sequential(nn.Linear(784, 100), nn.Tanh(), nn.Linear(100, 1))
        return Reinforce(q, p, n_samples=k, baselines=nvil_baselines(net))

    def rws(q, p):
        return RWS(q, p, n_samples=k)

    def nvil_layers(q, p):
        nets = [nn.Sequential(nn.Linear(784, 100), nn.Tanh(), nn.Linear(100, 1)), nn.Linear(200, 1), nn.Linear(200, 1)]
        return NVIL(q, p, n_samples=k, baseline_nets=nets)

    return {"VIMCO": vimco, "NVIL": nvil, "RWS": rws, "NVIL (per-layer signals)": nvil_layers}


def gauss_losses(k: int) -> dict:
    return {
        "IWAE": lambda q, p: IWAE(q, p, n_samples=k),
        "DReG": lambda q, p: DReG(q, p, n_samples=k),
        "VR(alpha=0.5)": lambda q, p: VR(q, p, alpha=0.5, n_samples=k),
        "TVO": lambda q, p: TVO(q, p, n_samples=k),
    }


def train_and_eval(make_models, make_loss, x_train, x_eval, args, seed: int) -> dict:
    torch.manual_seed(seed)
    q, p = make_models()
    loss_fn = make_loss(q, p)
    opt = torch.optim.Adam(loss_fn.parameters(), lr=args.lr)
    rng = np.random.RandomState(seed)
    n = x_train.shape[0]
    order = np.concatenate([rng.permutation(n) for _ in range(args.steps * args.batch // n + 1)])
    t0 = time.process_time()
    for step in range(args.steps):
        idx = torch.from_numpy(order[step * args.batch : (step + 1) * args.batch])
        opt.zero_grad(set_to_none=True)
        loss_fn(x_train[idx]).backward()
        opt.step()
    train_cpu = time.process_time() - t0
    hist = loss_fn.loss_history_
    t0 = time.process_time()
    torch.manual_seed(seed + 1)
    bound = iwae_bound(q, p, x_eval, n_samples=args.eval_k, batch_size=50, chunk_samples=250)
    eval_cpu = time.process_time() - t0
    return {
        "train_objective_last_200": -float(np.mean(hist[-200:])),
        "test_bound": float(bound.mean()),
        "test_bound_se": float(bound.std() / len(bound) ** 0.5),
        "train_cpu_s": round(train_cpu, 1),
        "eval_cpu_s": round(eval_cpu, 1),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--part", choices=["sbn", "gauss"], required=True)
    ap.add_argument("--data", default=os.environ.get("VAEKIT_MNIST", str(DEFAULT_DATA)))
    ap.add_argument("--steps", type=int, default=1000)
    ap.add_argument("--batch", type=int, default=24)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--ks", type=int, nargs="+", default=None)
    ap.add_argument("--eval-n", type=int, default=500)
    ap.add_argument("--eval-k", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--estimators", nargs="+", default=None, help="run only these (names as in the tables)")
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    torch.set_num_threads(1)
    x_train, x_test = load(args.data, "train"), load(args.data, "test")
    subset = np.sort(np.random.RandomState(12345).permutation(x_test.shape[0])[: args.eval_n])
    x_eval = x_test[torch.from_numpy(subset)]
    rows: list[dict] = []

    def save() -> None:  # after every run, so a partial table survives an interrupted benchmark
        out = {
            "part": args.part,
            "setup": {
                "steps": args.steps,
                "batch": args.batch,
                "lr": args.lr,
                "optimizer": "Adam",
                "eval": f"IWAE bound, K={args.eval_k}, on {args.eval_n} test images "
                f"(np.random.RandomState(12345).permutation(10000)[:{args.eval_n}])",
                "threads": 1,
                "torch": torch.__version__,
                "vaekit": vaekit.__version__,
                "machine": platform.processor() or platform.machine(),
            },
            "rows": rows,
        }
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(out, indent=1))

    if args.part == "sbn":
        ks = args.ks or [2, 5, 50]
        sizes = (200, 200, 200)

        def models():
            return LayeredBernoulliEncoder(784, sizes), LayeredSigmoidBeliefNet(sizes, 784)

        for k in ks:
            for name, make in sbn_losses(k).items():
                if (args.estimators is None and name == "NVIL (per-layer signals)") or (
                    args.estimators is not None and name not in args.estimators
                ):
                    continue
                r = train_and_eval(models, make, x_train, x_eval, args, args.seed)
                rows.append({"estimator": name, "K": k, **r})
                print(json.dumps(rows[-1]), flush=True)
                save()
    else:
        ks = args.ks or [5]

        def models():
            return GaussianEncoder(784, 50, hidden=[200, 200]), BernoulliDecoder(50, 784, hidden=[200, 200])

        for k in ks:
            for name, make in gauss_losses(k).items():
                if args.estimators is not None and name not in args.estimators:
                    continue
                r = train_and_eval(models, make, x_train, x_eval, args, args.seed)
                rows.append({"estimator": name, "K": k, **r})
                print(json.dumps(rows[-1]), flush=True)
                save()


if __name__ == "__main__":
    main()
