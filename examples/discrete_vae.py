"""Train a binary (200 Bernoulli latents) or categorical (20 x 10 one-hot) VAE with a discrete-latent
estimator of your choice, print the test IWAE bound and plot the training bound.

    python examples/discrete_vae.py --latents categorical --estimator gumbel-rao --steps 2000
    python examples/discrete_vae.py --latents categorical --estimator rloo disarm-iw disarm-sb --steps 2000
    python examples/discrete_vae.py --latents bernoulli --estimator disarm local-disarm --steps 2000
    python examples/discrete_vae.py --digits --steps 300      # sklearn's 8x8 digits: seconds, no data file

Data: statically binarized MNIST from ``--data`` (default ``../shared/data/binarized_mnist.npz``),
or the 8x8 digits shipped with scikit-learn with ``--digits``.
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import torch
from torch import nn
from tqdm import tqdm

import vaekit
from vaekit.latents import BernoulliEncoder, CategoricalDecoder, CategoricalEncoder, SigmoidBeliefNet

BERNOULLI = {
    "arm": lambda q, p: vaekit.ARM(q, p),
    "disarm": lambda q, p: vaekit.DisARM(q, p),
    "local-disarm": lambda q, p: vaekit.LocalDisARM(q, p, n_pairs=5),
    "arms": lambda q, p: vaekit.ARMS(q, p, n_samples=10),
    "vimco": lambda q, p: vaekit.VIMCO(q, p, n_samples=10),
    "rebar": lambda q, p: vaekit.REBAR(q, p),
    "relax": lambda q, p: vaekit.RELAX(q, p, control=nn.Sequential(nn.Linear(200, 50), nn.Tanh(), nn.Linear(50, 1))),
}
BOTH = {
    "gumbel-softmax": lambda q, p: vaekit.GumbelSoftmax(
        q, p, temperature=vaekit.ExponentialAnnealing(start=1.0, rate=1e-3, minimum=0.5)
    ),
    "st-gumbel": lambda q, p: vaekit.GumbelSoftmax(q, p, straight_through=True),
    "gumbel-rao": lambda q, p: vaekit.GumbelRao(q, p, n_conditional=10),
    "indecater": lambda q, p: vaekit.IndeCateR(q, p),
    "rloo": lambda q, p: vaekit.Reinforce(q, p, n_samples=2, baselines=[vaekit.LeaveOneOut()]),
    "disarm-sb": lambda q, p: vaekit.CategoricalDisARM(q, p, rao_blackwell=True),  # DisARM on Bernoulli latents
    "disarm-iw": lambda q, p: vaekit.CategoricalDisARMIW(q, p),  # DisARM on Bernoulli latents
}


def build(latents: str, width: int):
    if latents == "categorical":
        return CategoricalEncoder(width, 20, 10, hidden=200), CategoricalDecoder(20, 10, width, hidden=200)
    return BernoulliEncoder(width, 200), SigmoidBeliefNet(200, width)


@torch.no_grad()
def test_bound(q, p, x: torch.Tensor, k: int) -> float:
    total = 0.0
    for xb in x.split(100):
        z = q(xb).sample(k)
        lw = p(xb, z).log_prob(xb, z) - q.log_prob(z)  # [b, K]
        total += float((torch.logsumexp(lw, -1) - math.log(k)).sum())
    return total / x.shape[0]


def main(argv: list[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--latents", choices=["bernoulli", "categorical"], default="bernoulli")
    parser.add_argument("--estimator", nargs="+", default=["disarm"], choices=sorted(BERNOULLI | BOTH))
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--batch-size", type=int, default=50)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--data", type=Path, default=vaekit.data.DEFAULT_MNIST_PATH)
    parser.add_argument("--digits", action="store_true", help="use sklearn's 8x8 digits instead of MNIST")
    parser.add_argument("--eval-size", type=int, default=1000, help="seeded random test images (default 1000)")
    parser.add_argument("--eval-samples", type=int, default=100, help="K of the test IWAE bound (default 100)")
    parser.add_argument("--output", type=Path, default=Path("discrete_vae.png"))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args(argv)
    if args.latents == "categorical" and any(e in BERNOULLI for e in args.estimator):
        parser.error(f"{[e for e in args.estimator if e in BERNOULLI]} need --latents bernoulli")
    if args.steps < 1 or args.batch_size < 1:
        parser.error("--steps and --batch-size must be >= 1")
    torch.manual_seed(args.seed)
    if args.digits:
        train, test = vaekit.load_digits_binarized(seed=args.seed)
    else:
        train = vaekit.load_binarized_mnist(args.data, split="train")
        test = vaekit.load_binarized_mnist(args.data, split="test")
    test = test[torch.randperm(test.shape[0], generator=torch.Generator().manual_seed(0))[: args.eval_size]]
    q0, p0 = build(args.latents, train.shape[1])
    curves, bounds = {}, {}
    for name in args.estimator:
        q, p = build(args.latents, train.shape[1])
        q.load_state_dict(q0.state_dict())
        p.load_state_dict(p0.state_dict())
        loss_fn = (BERNOULLI | BOTH)[name](q, p)
        opt = torch.optim.Adam(loss_fn.parameters(), lr=args.lr)
        order = torch.randperm(train.shape[0], generator=torch.Generator().manual_seed(args.seed))
        for step in tqdm(range(args.steps), desc=name, disable=args.no_progress):
            i = (step * args.batch_size) % max(1, train.shape[0] - args.batch_size)
            opt.zero_grad(set_to_none=True)
            loss_fn(train[order[i : i + args.batch_size]]).backward()
            opt.step()
        curves[name] = [-v for v in loss_fn.loss_history_]
        bounds[name] = test_bound(q, p, test, args.eval_samples)
        print(f"{name}: test IWAE_{args.eval_samples} = {bounds[name]:.2f} nats ({test.shape[0]} test images)")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for name, c in curves.items():
        w = max(1, len(c) // 50)
        smooth = torch.tensor(c).unfold(0, w, w).mean(1)
        ax.plot(torch.arange(len(smooth)) * w + w, smooth, label=f"{name} (test {bounds[name]:.1f})")
    ax.set_xlabel("step")
    ax.set_ylabel("training objective (nats)")
    ax.set_title(f"{args.latents} VAE")
    ax.legend()
    fig.tight_layout()
    fig.savefig(args.output, dpi=120)
    print(f"plot: {args.output}")
    return bounds


if __name__ == "__main__":
    main()
