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

from mnist_common import add_common_arguments, check_common_arguments, train_evaluate_plot  # examples/mnist_common.py
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
        return vaekit.RWS(q, p, n_samples=n_samples)  # wake-phi (wake_weight=1)
    raise ValueError(f"unknown estimator {name!r}; expected one of {ESTIMATORS}")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_common_arguments(
        parser,
        estimators=ESTIMATORS,
        default_estimators=list(ESTIMATORS),
        default_samples=5,
        default_latent=200,
        default_output="sbn_mnist.png",
    )
    parser.add_argument("--hidden", type=int, default=None, help="tanh hidden units each way (default: linear SBN)")
    args = parser.parse_args(argv)
    check_common_arguments(parser, args)
    if args.hidden is not None and args.hidden < 1:
        parser.error(f"--hidden must be >= 1; got {args.hidden}")
    if args.samples < 2 and "vimco" in args.estimators:
        parser.error(f"VIMCO needs --samples >= 2; got {args.samples}")
    return args


def main(argv: list[str] | None = None) -> dict[str, float]:
    """Train every requested estimator; return ``{estimator: test IWAE bound}`` (rank 0; {} elsewhere)."""
    args = parse_args(argv)
    return train_evaluate_plot(
        args,
        lambda name: make_loss(name, latent=args.latent, hidden=args.hidden, n_samples=args.samples),
        TRAINING_BOUND,
        "Sigmoid belief net on binarized MNIST",
    )


if __name__ == "__main__":
    main()
