"""The main job: train a sigmoid belief net on binarized 8x8 digits, report the test bound, plot.

Run ``python -m vaekit.demo --help`` (or the ``vaekit-demo`` console script). With its defaults
it trains a 64-32 sigmoid belief net with VIMCO (K=5) on the binarized 8x8 digits shipped with
vaekit for 3000 steps, prints the IWAE bound with 1000 samples on the whole test split (359
digits) and writes the training curve to a PNG. It needs matplotlib (the examples extra).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

import torch

import vaekit
from vaekit.evaluate import evaluate_iwae
from vaekit.latents import BernoulliEncoder, SigmoidBeliefNet
from vaekit.latents.mlp import mlp
from vaekit.losses.base import Loss
from vaekit.models import GenModel, InfNet
from vaekit.training import fit


def estimators() -> dict[str, Callable[[InfNet, GenModel, int], Loss]]:
    """Name -> constructor ``(inf_net, gen_model, n_samples) -> Loss`` of every estimator that
    suits discrete latents."""
    return {
        "vimco": lambda q, p, k: vaekit.VIMCO(q, p, n_samples=k),
        "iwae": lambda q, p, k: vaekit.IWAE(q, p, n_samples=k),
        "elbo": lambda q, p, k: vaekit.Reinforce(q, p, n_samples=k),  # the score-function ELBO
        "nvil": lambda q, p, k: vaekit.Reinforce(
            q, p, n_samples=k, baselines=vaekit.nvil_baselines(mlp(_width(q), 1, 100))
        ),
        "reinforce-loo": lambda q, p, k: vaekit.Reinforce(q, p, n_samples=k, baselines=[vaekit.LeaveOneOut()]),
        "rws": lambda q, p, k: vaekit.RWS(q, p, n_samples=k),
        "wake-sleep": lambda q, p, k: vaekit.WakeSleep(q, p, n_samples=k),
    }


def _width(q: BernoulliEncoder) -> int:
    first = q.net[0] if isinstance(q.net, torch.nn.Sequential) else q.net
    if not isinstance(first, torch.nn.Linear):  # mlp() always starts with one; this narrows the type
        raise TypeError(f"demo: expected the encoder's first layer to be nn.Linear; got {type(first).__name__}")
    return first.in_features


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m vaekit.demo",
        description="Train a sigmoid belief net on the binarized 8x8 digits with a vaekit "
        "estimator; print the test-set IWAE bound and save a plot of the training curve.",
    )
    parser.add_argument(
        "--estimator", default="vimco", choices=sorted(estimators()), help="gradient estimator (default: vimco)"
    )
    parser.add_argument("--samples", type=int, default=5, help="K, latent samples per data point (default: 5)")
    parser.add_argument("--steps", type=int, default=3000, help="training steps (default: 3000)")
    parser.add_argument("--batch-size", type=int, default=50, help="data points per step (default: 50)")
    parser.add_argument("--lr", type=float, default=3e-3, help="Adam learning rate (default: 3e-3)")
    parser.add_argument("--latent", type=int, default=32, help="number of binary latents (default: 32)")
    parser.add_argument("--hidden", type=int, default=None, help="tanh hidden width of both networks (default: linear)")
    parser.add_argument("--eval-samples", type=int, default=1000, help="K of the test-set IWAE bound (default: 1000)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    parser.add_argument(
        "--output", default="vaekit_demo.png", help="path of the training-curve PNG (default: vaekit_demo.png)"
    )
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    args = parser.parse_args(argv)
    for name in ("samples", "steps", "batch_size", "latent", "eval_samples"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be >= 1; got {getattr(args, name)}")
    return args


def main(argv: list[str] | None = None) -> dict[str, float]:
    """Run the demo; returns the final figures (also printed)."""
    args = parse_args(argv)
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as err:  # the examples extra is needed for the demo only
        sys.exit(f"vaekit.demo needs the examples extra: pip install 'vaekit[examples]' ({err})")
    from vaekit.data import load_digits_binarized

    torch.manual_seed(args.seed)
    train, test = load_digits_binarized(seed=args.seed)  # [N, 64] each
    q = BernoulliEncoder(train.shape[1], args.latent, hidden=args.hidden)
    p = SigmoidBeliefNet(args.latent, train.shape[1], hidden=args.hidden)
    try:
        loss_fn = estimators()[args.estimator](q, p, args.samples)
    except ValueError as err:
        sys.exit(f"vaekit.demo: {err}")
    history = fit(
        loss_fn,
        train,
        steps=args.steps,
        batch_size=args.batch_size,
        lr=args.lr,
        seed=args.seed,
        progress=not args.no_progress,
        log_every=100,
        show_bound=True,
        desc=f"{args.estimator} K={args.samples}",
    ).history  # one float per step

    evaluation = evaluate_iwae(q, p, test, n_samples=args.eval_samples, progress=not args.no_progress)
    test_bound = evaluation.mean
    train_bound = -sum(history[-100:]) / len(history[-100:])
    print(f"estimator={args.estimator} K={args.samples} steps={args.steps}")
    print(f"final training bound (last 100 steps, K={args.samples}): {train_bound:.3f} nats")
    print(
        f"test-set IWAE bound (K={args.eval_samples}, all {len(test)} test digits): {test_bound:.3f} nats "
        f"(+- {evaluation.stderr:.3f} s.e.)"
    )

    bound = torch.tensor(history).neg()  # [steps]: the training bound per step
    window = max(1, min(100, args.steps // 20))
    smooth = bound.unfold(0, window, 1).mean(-1)  # [steps - window + 1]
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot(bound.numpy(), alpha=0.25, lw=0.8, label="per step")
    ax.plot(range(window - 1, window - 1 + len(smooth)), smooth.numpy(), lw=1.5, label=f"mean of {window} steps")
    ax.axhline(test_bound, color="k", ls="--", lw=1, label=f"test IWAE$_{{{args.eval_samples}}}$ = {test_bound:.2f}")
    ax.set_xlabel("step")
    ax.set_ylabel(f"training bound (nats, K={args.samples})")
    ax.set_title(f"Sigmoid belief net on binarized digits, {args.estimator}")
    ax.legend(loc="lower right")
    fig.tight_layout()
    fig.savefig(args.output, dpi=120)
    plt.close(fig)
    print(f"training curve written to {args.output}")
    return {"train_bound": train_bound, "test_bound": test_bound}


if __name__ == "__main__":
    main()
