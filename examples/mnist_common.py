"""What examples/sbn_mnist.py and examples/vae_mnist.py share: their common flags, and training
several estimators on the same model (DDP-aware), evaluating them and plotting their curves.

Not an example itself; each example supplies its models, estimators and extra flags.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn

import vaekit


def add_common_arguments(
    parser: argparse.ArgumentParser,
    *,
    estimators: tuple[str, ...],
    default_estimators: list[str],
    default_samples: int,
    default_latent: int,
    default_output: str,
) -> None:
    """The flags both MNIST examples take."""
    parser.add_argument(
        "--data",
        type=Path,
        default=None,
        help=f"packed binarized MNIST .npz (default: ${vaekit.data.MNIST_ENV_VAR}, else "
        "../shared/data/binarized_mnist.npz beside the repository)",
    )
    parser.add_argument("--estimators", nargs="+", choices=estimators, default=default_estimators)
    parser.add_argument("--steps", type=int, default=5000, help="optimizer steps per estimator (default 5000)")
    parser.add_argument(
        "--samples",
        "-K",
        type=int,
        default=default_samples,
        help=f"K, latent samples per image (default {default_samples})",
    )
    parser.add_argument("--batch-size", type=int, default=50, help="images per step, per process (default 50)")
    parser.add_argument("--lr", type=float, default=1e-3, help="Adam learning rate (default 1e-3)")
    parser.add_argument("--latent", type=int, default=default_latent, help=f"latent units (default {default_latent})")
    parser.add_argument("--eval-samples", type=int, default=1000, help="K of the test IWAE bound (default 1000)")
    parser.add_argument(
        "--eval-subset",
        type=int,
        default=None,
        help="evaluate a random subset of this many test images, drawn with --seed "
        "(default: the whole test split of 10000)",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--checkpoint-dir", type=Path, default=None, help="save <dir>/<estimator>.pt checkpoints")
    parser.add_argument("--checkpoint-every", type=int, default=1000, help="steps between checkpoints (default 1000)")
    parser.add_argument("--resume", action="store_true", help="continue from the checkpoints in --checkpoint-dir")
    parser.add_argument(
        "--output", type=Path, default=Path(default_output), help=f"plot path (default {default_output})"
    )
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bars")


def check_common_arguments(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Reject impossible values of the common flags with a message naming the flag and the value."""
    for name in ("steps", "samples", "batch_size", "latent", "eval_samples", "checkpoint_every"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be >= 1; got {getattr(args, name)}")
    if args.eval_subset is not None and args.eval_subset < 1:
        parser.error(f"--eval-subset must be >= 1; got {args.eval_subset}")
    if args.resume and args.checkpoint_dir is None:
        parser.error("--resume needs --checkpoint-dir")
    if args.resume:
        missing = [
            str(args.checkpoint_dir / f"{name}.pt")
            for name in args.estimators
            if not (args.checkpoint_dir / f"{name}.pt").is_file()
        ]
        if missing:
            parser.error(f"--resume: no checkpoint at {', '.join(missing)} (is --checkpoint-dir right?)")


def train_evaluate_plot(
    args: argparse.Namespace, make_loss: Callable[[str], vaekit.Loss], training_bound: dict[str, str], title: str
) -> dict[str, float]:
    """Train ``make_loss(name)`` for every ``args.estimators`` with ``vaekit.fit`` from the same
    initialisation and data order, then (rank 0) print the test IWAE bound and plot the curves.

    Under ``torchrun`` (RANK and WORLD_SIZE set) every process trains on its own slice of each batch
    in a gloo process group. Returns ``{estimator: test IWAE bound}`` on rank 0, ``{}`` elsewhere.
    """
    distributed = "RANK" in os.environ and "WORLD_SIZE" in os.environ  # launched by torchrun
    if distributed:
        torch.distributed.init_process_group("gloo")
    rank = torch.distributed.get_rank() if distributed else 0
    train = vaekit.load_binarized_mnist(args.data, split="train")  # [50000, 784]
    test = vaekit.load_binarized_mnist(args.data, split="test")  # [10000, 784], in a fixed random order
    if args.checkpoint_dir is not None and rank == 0:
        args.checkpoint_dir.mkdir(parents=True, exist_ok=True)

    histories, models = {}, {}
    for name in args.estimators:
        torch.manual_seed(args.seed)  # the same initialisation for every estimator
        loss_fn = make_loss(name)
        trained = nn.parallel.DistributedDataParallel(loss_fn) if distributed else loss_fn
        ckpt = None if args.checkpoint_dir is None else args.checkpoint_dir / f"{name}.pt"
        resume = ckpt if args.resume else None  # check_common_arguments made sure the file exists
        histories[name] = vaekit.fit(
            trained,
            train,
            steps=args.steps,
            batch_size=args.batch_size,
            lr=args.lr,
            seed=args.seed,
            progress=not args.no_progress,
            checkpoint=ckpt,
            checkpoint_every=args.checkpoint_every if ckpt else None,
            resume=resume,
            desc=f"{name} K={args.samples}",
            show_bound=True,
        ).history
        models[name] = loss_fn
    if distributed:
        torch.distributed.barrier()
        torch.distributed.destroy_process_group()
    if rank != 0:
        return {}

    results = {}
    for name, loss_fn in models.items():
        torch.manual_seed(args.seed)  # the same evaluation noise for every estimator
        evaluation = vaekit.evaluate_iwae(
            loss_fn.inf_net,
            loss_fn.gen_model,
            test,
            n_samples=args.eval_samples,
            subset=args.eval_subset,
            seed=args.seed,
            progress=not args.no_progress,
        )
        results[name] = evaluation.mean
        print(f"{name:>6}: test {evaluation}")
    _plot(histories, results, args, training_bound, title)
    print(f"plot written to {args.output}")
    return results


def _plot(
    histories: dict[str, list[float]],
    results: dict[str, float],
    args: argparse.Namespace,
    training_bound: dict[str, str],
    title: str,
) -> None:
    """Training bound (minus the loss, smoothed) of every estimator against the step."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    window = 1
    for name, history in histories.items():
        bound = -torch.tensor(history)  # [steps]
        window = max(1, min(100, len(bound) // 20))
        smooth = bound.unfold(0, window, 1).mean(-1)  # [steps - window + 1]
        ax.plot(
            range(window, len(bound) + 1),
            smooth.numpy(),
            label=f"{name}: {training_bound[name]} (test {results[name]:.1f})",
        )
    ax.set_xlabel("step")
    ax.set_ylabel(f"training bound, nats (K={args.samples}, mean of {window} steps)")
    ax.set_title(title)
    ax.legend()
    fig.tight_layout()
    args.output.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.output, dpi=120)
    plt.close(fig)
