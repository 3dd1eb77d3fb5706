"""Gaussian VAE on statically binarized MNIST: IWAE vs DReG (and optionally STL, ELBO).

Each estimator trains the same model (same initialisation, data order and optimizer) with
``vaekit.fit``; then the test-set IWAE bound is printed and the training curves are plotted.
IWAE and DReG optimise the same bound; DReG's inference-network gradient keeps its signal as K
grows, IWAE's pathwise one does not (Rainforth et al. 2018; Tucker et al. 2018).

    python examples/vae_mnist.py --steps 3000
    python examples/vae_mnist.py --estimators iwae dreg stl --samples 16 --checkpoint-dir ck/
    python examples/vae_mnist.py --checkpoint-dir ck/ --resume --steps 6000   # continue to 6000
    torchrun --nproc_per_node=2 examples/vae_mnist.py --steps 3000            # DDP on gloo

Data: ``--data`` (default ``../shared/data/binarized_mnist.npz`` beside the repository), arrays
``train``/``valid``/``test`` of ``np.packbits`` rows (see ``vaekit.load_binarized_mnist``).
"""
from __future__ import annotations

import argparse
import os
from pathlib import Path

import torch
from torch import nn

import vaekit

ESTIMATORS = ("iwae", "dreg", "stl", "elbo")
TRAINING_BOUND = {"iwae": "IWAE_K", "dreg": "IWAE_K", "stl": "IWAE_K", "elbo": "ELBO"}  # minus each loss's value


def make_loss(name: str, *, latent: int, hidden: list[int], n_samples: int) -> vaekit.Loss:
    """A fresh VAE: N(mu(x), sigma(x)^2) encoder, N(0, I) prior, Bernoulli decoder, tanh MLPs."""
    q = vaekit.GaussianEncoder(784, latent, hidden=hidden or None)
    p = vaekit.BernoulliDecoder(latent, 784, hidden=hidden[::-1] or None)
    if name == "iwae":
        return vaekit.IWAE(q, p, n_samples=n_samples)  # pathwise (q has rsample)
    if name == "dreg":
        return vaekit.DReG(q, p, n_samples=n_samples)
    if name == "stl":
        return vaekit.STL(q, p, n_samples=n_samples, objective="iwae")
    if name == "elbo":
        return vaekit.ELBO(q, p, n_samples=n_samples)
    raise ValueError(f"unknown estimator {name!r}; expected one of {ESTIMATORS}")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=vaekit.data.DEFAULT_MNIST_PATH, help="packed binarized MNIST .npz")
    parser.add_argument("--estimators", nargs="+", choices=ESTIMATORS, default=["iwae", "dreg"])
    parser.add_argument("--steps", type=int, default=5000, help="optimizer steps per estimator (default 5000)")
    parser.add_argument("--samples", "-K", type=int, default=8, help="K, latent samples per image (default 8)")
    parser.add_argument("--batch-size", type=int, default=50, help="images per step, per process (default 50)")
    parser.add_argument("--lr", type=float, default=1e-3, help="Adam learning rate (default 1e-3)")
    parser.add_argument("--latent", type=int, default=50, help="Gaussian latent dimensions (default 50)")
    parser.add_argument("--hidden", type=int, nargs="*", default=[200, 200],
                        help="tanh hidden widths of the encoder (reversed for the decoder; default 200 200)")
    parser.add_argument("--eval-samples", type=int, default=1000, help="K of the test IWAE bound (default 1000)")
    parser.add_argument("--eval-size", type=int, default=1000, help="test images evaluated (default 1000; 0 = all)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--checkpoint-dir", type=Path, default=None, help="save <dir>/<estimator>.pt checkpoints")
    parser.add_argument("--checkpoint-every", type=int, default=1000, help="steps between checkpoints (default 1000)")
    parser.add_argument("--resume", action="store_true", help="continue from the checkpoints in --checkpoint-dir")
    parser.add_argument("--output", type=Path, default=Path("vae_mnist.png"), help="plot path (default vae_mnist.png)")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bars")
    args = parser.parse_args(argv)
    for name in ("steps", "samples", "batch_size", "latent", "eval_samples", "checkpoint_every"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be >= 1; got {getattr(args, name)}")
    if any(h < 1 for h in args.hidden):
        parser.error(f"--hidden widths must be >= 1; got {args.hidden}")
    if args.resume and args.checkpoint_dir is None:
        parser.error("--resume needs --checkpoint-dir")
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
        print(f"{name:>5}: test IWAE bound (K={args.eval_samples}, {len(test)} images) = {results[name]:.2f} nats")
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
        ax.plot(range(window, len(bound) + 1), smooth.numpy(),
                label=f"{name}: {TRAINING_BOUND[name]} (test {results[name]:.1f})")
    ax.set_xlabel("step")
    ax.set_ylabel(f"training bound, nats (K={args.samples}, mean of {window} steps)")
    ax.set_title("Gaussian VAE on binarized MNIST")
    ax.legend()
    fig.tight_layout()
    args.output.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.output, dpi=120)
    plt.close(fig)


if __name__ == "__main__":
    main()
