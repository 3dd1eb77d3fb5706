"""Sigmoid belief net on statically binarized MNIST: VIMCO vs NVIL vs reweighted wake-sleep.

Each estimator trains the same model (same initialisation, data order and optimizer) with
``vaekit.fit``; then the test-set IWAE bound is printed and the training curves are plotted.

    python examples/sbn_mnist.py --steps 2000
    python examples/sbn_mnist.py --estimators vimco rws --samples 10 --checkpoint-dir ck/
    python examples/sbn_mnist.py --checkpoint-dir ck/ --resume --steps 4000   # continue to 4000
    torchrun --nproc_per_node=2 examples/sbn_mnist.py --steps 2000            # DDP on gloo

Data: ``--data`` (default ``../shared/data/binarized_mnist.npz`` beside the repository), arrays
``train``/``valid``/``test`` of ``np.packbits`` rows (see ``vaekit.load_binarized_mnist``).
Under ``torchrun`` (RANK and WORLD_SIZE set) every process trains on its own slice of each
batch (``--batch-size`` is per process) in a gloo process group; rank 0 evaluates and plots.
"""
from __future__ import annotations

import argparse
import os
from pathlib import Path

import torch
from torch import nn

import vaekit
from vaekit.baselines import nvil_baselines

ESTIMATORS = ("vimco", "nvil", "rws")
TRAINING_BOUND = {"vimco": "IWAE_K", "nvil": "ELBO", "rws": "IWAE_K"}  # what each loss's value is minus


def make_loss(name: str, *, latent: int, hidden: int | None, n_samples: int) -> vaekit.Loss:
    """A fresh 784-``latent`` SBN (linear, or one tanh layer of ``hidden`` units each way) and its loss."""
    q = vaekit.BernoulliEncoder(784, latent, hidden=hidden)
    p = vaekit.SigmoidBeliefNet(latent, 784, hidden=hidden)
    if name == "vimco":
        return vaekit.VIMCO(q, p, n_samples=n_samples)
    if name == "nvil":
        # NVIL: running mean, an input-dependent baseline network (one tanh layer of 100 units as in
        # Mnih & Gregor 2014) and variance normalisation.
        net = nn.Sequential(nn.Linear(784, 100), nn.Tanh(), nn.Linear(100, 1))
        return vaekit.Reinforce(q, p, n_samples=n_samples, baselines=nvil_baselines(net))
    if name == "rws":
        return vaekit.RWS(q, p, n_samples=n_samples, phi_update="wake")
    raise ValueError(f"unknown estimator {name!r}; expected one of {ESTIMATORS}")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=vaekit.data.DEFAULT_MNIST_PATH, help="packed binarized MNIST .npz")
    parser.add_argument("--estimators", nargs="+", choices=ESTIMATORS, default=list(ESTIMATORS))
    parser.add_argument("--steps", type=int, default=5000, help="optimizer steps per estimator (default 5000)")
    parser.add_argument("--samples", "-K", type=int, default=5, help="K, latent samples per image (default 5)")
    parser.add_argument("--batch-size", type=int, default=50, help="images per step, per process (default 50)")
    parser.add_argument("--lr", type=float, default=1e-3, help="Adam learning rate (default 1e-3)")
    parser.add_argument("--latent", type=int, default=200, help="binary latent units (default 200)")
    parser.add_argument("--hidden", type=int, default=None, help="tanh hidden units each way (default: linear SBN)")
    parser.add_argument("--eval-samples", type=int, default=1000, help="K of the test IWAE bound (default 1000)")
    parser.add_argument("--eval-size", type=int, default=1000, help="test images evaluated (default 1000; 0 = all)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--checkpoint-dir", type=Path, default=None, help="save <dir>/<estimator>.pt checkpoints")
    parser.add_argument("--checkpoint-every", type=int, default=1000, help="steps between checkpoints (default 1000)")
    parser.add_argument("--resume", action="store_true", help="continue from the checkpoints in --checkpoint-dir")
    parser.add_argument("--output", type=Path, default=Path("sbn_mnist.png"), help="plot path (default sbn_mnist.png)")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bars")
    args = parser.parse_args(argv)
    for name in ("steps", "samples", "batch_size", "latent", "eval_samples", "checkpoint_every"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be >= 1; got {getattr(args, name)}")
    if args.resume and args.checkpoint_dir is None:
        parser.error("--resume needs --checkpoint-dir")
    if args.samples < 2 and "vimco" in args.estimators:
        parser.error("VIMCO needs --samples >= 2")
    return args


def main(argv: list[str] | None = None) -> dict[str, float]:
    """Train every requested estimator; return ``{estimator: test IWAE bound}`` (rank 0; {} elsewhere)."""
    args = parse_args(argv)
    distributed = "RANK" in os.environ and "WORLD_SIZE" in os.environ  # launched by torchrun
    if distributed:
        torch.distributed.init_process_group("gloo")
    rank = torch.distributed.get_rank() if distributed else 0
    train = vaekit.load_binarized_mnist(args.data, split="train")  # [50000, 784]
    test = vaekit.load_binarized_mnist(args.data, split="test")  # [10000, 784]
    if args.eval_size:
        test = test[: args.eval_size]
    if args.checkpoint_dir is not None and rank == 0:
        args.checkpoint_dir.mkdir(parents=True, exist_ok=True)

    histories, models = {}, {}
    for name in args.estimators:
        torch.manual_seed(args.seed)  # the same initialisation for every estimator
        loss_fn = make_loss(name, latent=args.latent, hidden=args.hidden, n_samples=args.samples)
        trained = nn.parallel.DistributedDataParallel(loss_fn) if distributed else loss_fn
        ckpt = None if args.checkpoint_dir is None else args.checkpoint_dir / f"{name}.pt"
        resume = ckpt if args.resume and ckpt is not None and ckpt.is_file() else None
        histories[name] = vaekit.fit(
            trained, train, steps=args.steps, batch_size=args.batch_size, lr=args.lr, seed=args.seed,
            progress=not args.no_progress, checkpoint=ckpt, checkpoint_every=args.checkpoint_every if ckpt else None,
            resume=resume, desc=f"{name} K={args.samples}",
        )
        models[name] = loss_fn
    if distributed:
        torch.distributed.barrier()
        torch.distributed.destroy_process_group()
    if rank != 0:
        return {}

    results = {}
    for name, loss_fn in models.items():
        torch.manual_seed(args.seed)  # the same evaluation noise for every estimator
        bound = vaekit.iwae_bound(loss_fn.inf_net, loss_fn.gen_model, test, n_samples=args.eval_samples)
        results[name] = bound.mean().item()
        print(f"{name:>6}: test IWAE bound (K={args.eval_samples}, {len(test)} images) = {results[name]:.2f} nats")
    plot(histories, results, args)
    print(f"plot written to {args.output}")
    return results


def plot(histories: dict[str, list[float]], results: dict[str, float], args: argparse.Namespace) -> None:
    """Training bound (minus the loss, smoothed) of every estimator against the step."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for name, history in histories.items():
        bound = -torch.tensor(history)  # [steps]
        window = max(1, min(100, len(bound) // 20))
        smooth = bound.unfold(0, window, 1).mean(-1)  # [steps - window + 1]
        ax.plot(range(window, len(bound) + 1), smooth.numpy(), label=f"{name}: {TRAINING_BOUND[name]} (test {results[name]:.1f})")
    ax.set_xlabel("step")
    ax.set_ylabel(f"training bound, nats (K={args.samples}, mean of {window} steps)")
    ax.set_title("Sigmoid belief net on binarized MNIST")
    ax.legend()
    fig.tight_layout()
    args.output.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.output, dpi=120)
    plt.close(fig)


if __name__ == "__main__":
    main()
