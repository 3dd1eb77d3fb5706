"""Ordered autoencoder on the scikit-learn digits with an information-ordered bottleneck (IOB).

An MLP encoder maps each 8x8 digit to a code of F features; an ``IOBLayer`` keeps only the first
n of them, n drawn per example from 0..F during training (or every n, with --exhaustive), and an
MLP decoder reconstructs the image. The loss averaged over widths,

    L = sum_n P(n) * E || x - decode(mask_n(encode(x))) ||^2     (vaekit.latents.ordered_loss),

makes the leading features carry the most information, so one trained model serves every width.
The script prints the test reconstruction error against the width (next to PCA's, the best
linear code of that width), the intrinsic dimension from the chi-square test of IB_LATENTS.md
(``intrinsic_dimension``), and plots error against width.

Run:  python examples/iob_digits.py            (well under two minutes on one core)
"""

from __future__ import annotations

import argparse

import torch
from torch import nn


def load(seed: int):
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    x = load_digits().data / 16.0
    x_tr, x_te = train_test_split(x, test_size=0.25, random_state=seed)
    return torch.as_tensor(x_tr, dtype=torch.float32), torch.as_tensor(x_te, dtype=torch.float32)


def pca_errors(x_tr: torch.Tensor, x_te: torch.Tensor, f: int) -> list[float]:
    """Test squared error (summed over pixels, mean over points) of PCA codes of width 0..F."""
    mean = x_tr.mean(0)
    _, _, v = torch.linalg.svd(x_tr - mean, full_matrices=False)  # rows of v: principal axes
    xc = x_te - mean
    out = []
    for k in range(f + 1):
        basis = v[:k]  # [k, D]
        recon = xc @ basis.T @ basis  # [N, D]
        out.append(((xc - recon) ** 2).sum(-1).mean().item())
    return out


def main(argv=None) -> dict:
    from vaekit import GeometricWidths, IOBLayer, PoissonWidths, UniformWidths, intrinsic_dimension, ordered_loss

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--features", type=int, default=16, help="F, the code width")
    parser.add_argument("--hidden", type=int, default=128)
    parser.add_argument("--sampler", default="uniform", choices=["uniform", "geometric", "poisson"])
    parser.add_argument("--exhaustive", action="store_true", help="average over every width each step")
    parser.add_argument("--epochs", type=int, default=300)
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="iob_digits.png", help="figure path ('' for no figure)")
    args = parser.parse_args(argv)
    from tqdm import tqdm

    torch.manual_seed(args.seed)
    x_tr, x_te = load(args.seed)
    d, f = x_tr.shape[1], args.features
    encoder = nn.Sequential(nn.Linear(d, args.hidden), nn.ReLU(), nn.Linear(args.hidden, f))
    decoder = nn.Sequential(nn.Linear(f, args.hidden), nn.ReLU(), nn.Linear(args.hidden, d))
    widths = {"uniform": UniformWidths(), "geometric": GeometricWidths(), "poisson": PoissonWidths()}[args.sampler]
    iob = IOBLayer(f, widths=widths, generator=torch.Generator().manual_seed(args.seed))
    params = [*encoder.parameters(), *decoder.parameters()]
    opt = torch.optim.Adam(params, lr=args.lr)

    def sq_error(target):
        return lambda code: ((decoder(code) - target.repeat_interleave(code.shape[0] // target.shape[0], 0)) ** 2).sum(
            -1
        )

    gen = torch.Generator().manual_seed(args.seed)
    n = x_tr.shape[0]
    for _ in tqdm(range(args.epochs), desc="IOB digits"):
        perm = torch.randperm(n, generator=gen)
        for i in range(0, n - args.batch_size + 1, args.batch_size):
            xb = x_tr[perm[i : i + args.batch_size]]
            opt.zero_grad()
            ordered_loss(iob, encoder(xb), sq_error(xb), exhaustive=args.exhaustive).backward()
            opt.step()

    iob.eval()
    with torch.no_grad():
        every = iob.forward_all(encoder(x_te))  # [N, F+1, F]
        errors = ((decoder(every) - x_te.unsqueeze(1)) ** 2).sum(-1).mean(0).tolist()  # [F+1]
    pca = pca_errors(x_tr, x_te, f)
    variance = x_te.var(0, unbiased=False).sum().item()  # sum of per-pixel variances
    dim = intrinsic_dimension(errors, x_te.shape[0], variance)
    print(f"test data variance (sum over pixels): {variance:.3f}")
    print(f"{'width':>5} {'IOB error':>10} {'PCA error':>10} {'IOB / var':>10}")
    for k in range(f + 1):
        print(f"{k:>5} {errors[k]:>10.3f} {pca[k]:>10.3f} {errors[k] / variance:>10.4f}")
    print(f"intrinsic dimension (chi-square(1) test at 0.05, N={x_te.shape[0]}): {dim}")
    if args.out:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(5.5, 3.8))
        ax.plot(range(f + 1), errors, "o-", label=f"IOB autoencoder ({args.sampler})")
        ax.plot(range(f + 1), pca, "s--", label="PCA (best linear code)")
        ax.axvline(dim, color="gray", ls=":", label=f"intrinsic dim = {dim}")
        ax.set(xlabel="open width n", ylabel="test squared error per digit", title="Ordered bottleneck on digits")
        ax.legend()
        fig.tight_layout()
        fig.savefig(args.out, dpi=120)
        print(f"figure: {args.out}")
    return {"errors": errors, "pca": pca, "intrinsic_dimension": dim}


if __name__ == "__main__":
    main()
