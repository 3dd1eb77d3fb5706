"""The main job: train a sigmoid belief net on binarized 8x8 digits, report the test bound, plot.

Run ``python -m vaekit.demo --help`` (or the ``vaekit-demo`` console script). With its defaults
it trains a 64-32 sigmoid belief net with VIMCO (K=5) on scikit-learn's digits for 3000 steps,
prints the test-set IWAE bound with 1000 samples and writes the training curve to a PNG.
"""
from __future__ import annotations

import argparse
import sys
from typing import Callable

import torch

import vaekit
from vaekit.evaluate import iwae_bound
from vaekit.latents import BernoulliEncoder, SigmoidBeliefNet
from vaekit.losses.base import Loss


def estimators() -> dict[str, Callable[..., Loss]]:
    """Name -> constructor ``(inf_net, gen_model, n_samples) -> Loss`` for every estimator that
    suits discrete latents."""
    return {
        "vimco": lambda q, p, k: vaekit.VIMCO(q, p, n_samples=k),
        "iwae": lambda q, p, k: vaekit.IWAE(q, p, n_samples=k),
        "elbo": lambda q, p, k: vaekit.ELBO(q, p, n_samples=k),
    }


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m vaekit.demo",
        description="Train a sigmoid belief net on binarized scikit-learn digits (8x8) with a vaekit "
        "estimator; print the test-set IWAE bound and save a plot of the training curve.",
    )
    parser.add_argument("--estimator", default="vimco", choices=sorted(estimators()), help="gradient estimator (default: vimco)")
    parser.add_argument("--samples", type=int, default=5, help="K, latent samples per data point (default: 5)")
    parser.add_argument("--steps", type=int, default=3000, help="training steps (default: 3000)")
    parser.add_argument("--batch-size", type=int, default=50, help="data points per step (default: 50)")
    parser.add_argument("--lr", type=float, default=3e-3, help="Adam learning rate (default: 3e-3)")
    parser.add_argument("--latent", type=int, default=32, help="number of binary latents (default: 32)")
    parser.add_argument("--hidden", type=int, default=None, help="tanh hidden width of both networks (default: linear)")
    parser.add_argument("--eval-samples", type=int, default=1000, help="K of the test-set IWAE bound (default: 1000)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    parser.add_argument("--output", default="vaekit_demo.png", help="path of the training-curve PNG (default: vaekit_demo.png)")
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
        from tqdm.auto import tqdm
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
    opt = torch.optim.Adam(loss_fn.parameters(), lr=args.lr)
    gen = torch.Generator().manual_seed(args.seed)

    bar = tqdm(range(args.steps), desc=f"{args.estimator} K={args.samples}", disable=args.no_progress)
    perm = torch.randperm(len(train), generator=gen)
    pos = 0
    for step in bar:
        if pos + args.batch_size > len(train):  # a fresh epoch: reshuffle
            perm, pos = torch.randperm(len(train), generator=gen), 0
        batch = train[perm[pos : pos + args.batch_size]]  # [B, 64]
        pos += args.batch_size
        opt.zero_grad(set_to_none=True)
        loss_fn(batch).backward()
        opt.step()
        if step % 100 == 99 or step == args.steps - 1:  # read the history rarely: one sync per 100 steps
            recent = loss_fn.loss_history_[-100:]
            bar.set_postfix(bound=f"{-sum(recent) / len(recent):.2f}")
    bar.close()

    test_bound = iwae_bound(q, p, test, n_samples=args.eval_samples).mean().item()
    train_bound = -sum(loss_fn.loss_history_[-100:]) / min(100, len(loss_fn.loss_history_))
    print(f"estimator={args.estimator} K={args.samples} steps={args.steps}")
    print(f"final training bound (last 100 steps, K={args.samples}): {train_bound:.3f} nats")
    print(f"test-set IWAE bound (K={args.eval_samples}, {len(test)} digits): {test_bound:.3f} nats")

    history = torch.tensor(loss_fn.loss_history_).neg()  # [steps]: the training bound per step
    window = max(1, min(100, args.steps // 20))
    smooth = history.unfold(0, window, 1).mean(-1) if len(history) >= window else history
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot(history.numpy(), alpha=0.25, lw=0.8, label="per step")
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
