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

from mnist_common import add_common_arguments, check_common_arguments, train_evaluate_plot  # examples/mnist_common.py

import vaekit

ESTIMATORS = ("iwae", "dreg", "stl", "elbo")
TRAINING_BOUND = {"iwae": "IWAE_K", "dreg": "IWAE_K", "stl": "ELBO", "elbo": "ELBO"}  # minus each loss's value


def make_loss(name: str, *, latent: int, hidden: list[int], n_samples: int) -> vaekit.Loss:
    """A fresh VAE: N(mu(x), sigma(x)^2) encoder, N(0, I) prior, Bernoulli decoder, tanh MLPs."""
    q = vaekit.GaussianEncoder(784, latent, hidden=hidden or None)
    p = vaekit.BernoulliDecoder(latent, 784, hidden=hidden[::-1] or None)
    if name == "iwae":
        return vaekit.IWAE(q, p, n_samples=n_samples)  # pathwise (q has rsample)
    if name == "dreg":
        return vaekit.DReG(q, p, n_samples=n_samples)
    if name == "stl":
        return vaekit.STL(q, p, n_samples=n_samples)  # the ELBO (STL's IWAE form is DReG)
    if name == "elbo":
        return vaekit.ELBO(q, p, n_samples=n_samples)
    raise ValueError(f"unknown estimator {name!r}; expected one of {ESTIMATORS}")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_common_arguments(
        parser,
        estimators=ESTIMATORS,
        default_estimators=["iwae", "dreg"],
        default_samples=8,
        default_latent=50,
        default_output="vae_mnist.png",
    )
    parser.add_argument(
        "--hidden",
        type=int,
        nargs="*",
        default=[200, 200],
        help="tanh hidden widths of the encoder (reversed for the decoder; default 200 200)",
    )
    args = parser.parse_args(argv)
    check_common_arguments(parser, args)
    if any(h < 1 for h in args.hidden):
        parser.error(f"--hidden widths must be >= 1; got {args.hidden}")
    return args


def main(argv: list[str] | None = None) -> dict[str, float]:
    """Train every requested estimator; return ``{estimator: test IWAE bound}`` (rank 0; {} elsewhere)."""
    args = parse_args(argv)
    return train_evaluate_plot(
        args,
        lambda name: make_loss(name, latent=args.latent, hidden=args.hidden, n_samples=args.samples),
        TRAINING_BOUND,
        "Gaussian VAE on binarized MNIST",
    )


if __name__ == "__main__":
    main()
