"""The papers' setups, scaled to a shared 2-core CPU: SBN 200-200-200 (VIMCO paper) and a Gaussian VAE (IWAE paper).

Part ``sbn``: a linear sigmoid belief net with three stochastic layers of 200 units and the matching
layered q (Mnih & Rezende 2016, sec. 6.1), trained with VIMCO, NVIL (Reinforce + the NVIL baselines)
and RWS (wake-phi) at K in {2, 5, 50} for the same fixed number of Adam steps; ``--estimators
"NVIL (per-layer signals)"`` adds vaekit.NVIL with NVIL's per-layer learning signals and baselines.
Part ``gauss``: a one-stochastic-layer Gaussian VAE 784-200-200-50 (Burda et al. 2016's architecture)
trained with IWAE (pathwise), DReG, VR (alpha = 0.5, pathwise) and TVO (score function).

Every model gets the same number of Adam steps (``--steps``), the same initial weights within a
family and the same minibatch order, and is then evaluated by the IWAE bound with ``--eval-k``
samples (default 1000) on the **whole test split** (10000 images; ``--eval-n`` scores a seeded
random subset instead, for smoke tests only), chunked in bounded memory by ``vaekit.iwae_bound``
under ``no_grad`` with the same evaluation noise stream for every model. One intra-op thread; the
CPU time of training and of evaluation is recorded. Each finished model writes its own
``<out-dir>/<part>_<estimator>_k<K>.json`` (and its per-image bounds, in centi-nats, to a
``.npz`` beside it, for paired differences), so an interrupted run keeps every finished row.

    PYTHONPATH=$PWD python benchmarks/papers/run.py --part sbn --steps 2000 --ks 5 2
    PYTHONPATH=$PWD python benchmarks/papers/run.py --part gauss --steps 2000 --ks 50
    PYTHONPATH=$PWD python benchmarks/papers/run.py --part sbn --steps 2000 --ks 50
    python benchmarks/papers/report.py   # writes RESULTS.md and docs/papers_benchmarks.md from the results
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


def slug(part: str, name: str, k: int) -> str:
    """File stem of one model's result, e.g. ``sbn_vimco_k5``."""
    clean = "".join(c if c.isalnum() else "_" for c in name.lower()).strip("_")
    while "__" in clean:
        clean = clean.replace("__", "_")
    return f"{part}_{clean}_k{k}"


def train_and_eval(make_models, make_loss, x_train, x_test, args, seed: int) -> tuple[dict, np.ndarray]:
    """Train one model for ``args.steps`` Adam steps, then score it by IWAE_{eval_k} on ``x_test``.

    Returns the row and the per-image bounds ``[N]`` (float64).
    """
    torch.manual_seed(seed)  # the same initial weights for every estimator of a family (paired comparison)
    q, p = make_models()
    loss_fn = make_loss(q, p)
    opt = torch.optim.Adam(loss_fn.parameters(), lr=args.lr)
    rng = np.random.RandomState(seed)  # the same minibatch order for every estimator
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
    q.eval()
    p.eval()
    t0 = time.process_time()
    torch.manual_seed(seed + 1)  # the same evaluation noise stream for every model
    bounds = iwae_bound(q, p, x_test, n_samples=args.eval_k, batch_size=100, chunk_samples=100).double()  # [N]
    eval_cpu = time.process_time() - t0
    row = {
        "train_objective_last_200": round(-float(np.mean(hist[-200:])), 3),
        "test_bound": round(bounds.mean().item(), 3),
        "test_bound_se": round((bounds.std() / len(bounds) ** 0.5).item(), 4),
        "n_test": len(bounds),
        "train_cpu_s": round(train_cpu, 1),
        "eval_cpu_s": round(eval_cpu, 1),
    }
    return row, bounds.numpy()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--part", choices=["sbn", "gauss"], required=True)
    ap.add_argument("--data", default=os.environ.get("VAEKIT_MNIST", str(DEFAULT_DATA)))
    ap.add_argument("--steps", type=int, default=2000)
    ap.add_argument("--batch", type=int, default=24)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--ks", type=int, nargs="+", default=None, help="sbn: default 5 2 50; gauss: default 50")
    ap.add_argument("--eval-n", type=int, default=None, help="score a seeded random subset (smoke tests only)")
    ap.add_argument("--eval-k", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--estimators", nargs="+", default=None, help="run only these (names as in the tables)")
    ap.add_argument("--out-dir", default=str(Path(__file__).resolve().parent / "results"))
    args = ap.parse_args()
    torch.set_num_threads(1)
    x_train, x_test = load(args.data, "train"), load(args.data, "test")
    n_test = x_test.shape[0]
    if args.eval_n is not None:
        idx = torch.randperm(n_test, generator=torch.Generator().manual_seed(12345))[: args.eval_n]
        x_test = x_test[idx.sort().values]
        scope = f"a random subset of {args.eval_n} of the {n_test} test images (torch.randperm, seed 12345)"
    else:
        scope = f"the whole test split ({n_test} images)"
    out_dir = Path(args.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)

    if args.part == "sbn":
        ks = args.ks or [5, 2, 50]
        sizes = (200, 200, 200)

        def models():
            return LayeredBernoulliEncoder(784, sizes), LayeredSigmoidBeliefNet(sizes, 784)

        def losses(k: int) -> dict:
            every = sbn_losses(k)
            default = [n for n in every if n != "NVIL (per-layer signals)"]
            return {n: every[n] for n in (args.estimators or default)}

    else:
        ks = args.ks or [50]

        def models():
            return GaussianEncoder(784, 50, hidden=[200, 200]), BernoulliDecoder(50, 784, hidden=[200, 200])

        def losses(k: int) -> dict:
            every = gauss_losses(k)
            return {n: every[n] for n in (args.estimators or list(every))}

    for k in ks:
        for name, make in losses(k).items():
            row, bounds = train_and_eval(models, make, x_train, x_test, args, args.seed)
            out = {
                "part": args.part,
                "estimator": name,
                "K": k,
                "setup": {
                    "steps": args.steps,
                    "batch": args.batch,
                    "lr": args.lr,
                    "optimizer": "Adam",
                    "seed": args.seed,
                    "eval": f"IWAE bound, K={args.eval_k}, on {scope}",
                    "eval_k": args.eval_k,
                    "threads": 1,
                    "torch": torch.__version__,
                    "vaekit": vaekit.__version__,
                    "machine": platform.processor() or platform.machine(),
                },
                **row,
            }
            stem = slug(args.part, name, k)
            np.savez_compressed(out_dir / f"{stem}.npz", centinats=np.round(bounds * 100).astype(np.int32))
            (out_dir / f"{stem}.json").write_text(json.dumps(out, indent=1) + "\n")
            print(json.dumps({k2: v for k2, v in out.items() if k2 != "setup"}), flush=True)


if __name__ == "__main__":
    main()
