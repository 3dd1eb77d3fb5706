"""VIB classifier on the scikit-learn digits: test accuracy and I(Z;X) upper bound against beta.

The variational information bottleneck (Alemi et al. 2017) trains

    max  E_q[ log p(y|z) ] - beta * KL( q(z|x) || N(0, I) )

with a Gaussian bottleneck z over an MLP encoder and a linear softmax classifier p(y|z). Here it is
vaekit's ``ELBO(VIBEncoder, VIBDecoder, beta=beta)`` called as ``loss_fn(x, target=y)``. For each
beta the script reports the test accuracy (predicting from the mean of z, and from the average
softmax over 12 draws) and the mean closed-form KL on the test set, an upper bound on I(Z;X).

Run:  python examples/vib_digits.py            (about half a minute on one core)
"""

from __future__ import annotations

import argparse

import torch
from torch import nn


def load(seed: int):
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    x, y = load_digits(return_X_y=True)
    x_tr, x_te, y_tr, y_te = train_test_split(x / 16.0, y, test_size=0.25, random_state=seed, stratify=y)
    as_x = lambda a: torch.as_tensor(a, dtype=torch.float32)  # noqa: E731
    as_y = lambda a: torch.as_tensor(a, dtype=torch.long)  # noqa: E731
    return as_x(x_tr), as_y(y_tr), as_x(x_te), as_y(y_te)


def train_one(beta: float, data, args, bar) -> dict:
    from vaekit import ELBO, VIBDecoder, VIBEncoder

    x_tr, y_tr, x_te, y_te = data
    torch.manual_seed(args.seed)
    enc = VIBEncoder(
        nn.Sequential(nn.Linear(64, args.hidden), nn.ReLU(), nn.Linear(args.hidden, args.hidden), nn.ReLU()),
        feature_dim=args.hidden,
        latent_dim=args.latent_dim,
    )
    dec = VIBDecoder(nn.Linear(args.latent_dim, 10), latent_dim=args.latent_dim)  # categorical likelihood
    loss_fn = ELBO(enc, dec, n_samples=args.samples, beta=beta, check_finite=False)
    opt = torch.optim.Adam(loss_fn.parameters(), lr=args.lr)
    gen = torch.Generator().manual_seed(args.seed)
    n = x_tr.shape[0]
    for _ in range(args.epochs):
        perm = torch.randperm(n, generator=gen)
        for i in range(0, n - args.batch_size + 1, args.batch_size):
            idx = perm[i : i + args.batch_size]
            opt.zero_grad()
            loss_fn(x_tr[idx], target=y_tr[idx]).backward()
            opt.step()
        bar.update(1)
    with torch.no_grad():
        q = enc(x_te)
        kl = q.kl(dec.prior()).mean().item()
        mean_logits = dec.head(q.dist_.base_dist.loc)  # [N, 10]
        z = q.sample(12)  # [N, 12, H]
        avg_probs = torch.softmax(dec.head(z), dim=-1).mean(1)  # [N, 10]
    return {
        "beta": beta,
        "acc_mean": (mean_logits.argmax(-1) == y_te).float().mean().item(),
        "acc_12": (avg_probs.argmax(-1) == y_te).float().mean().item(),
        "kl": kl,
    }


def main(argv=None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--betas", type=float, nargs="+", default=[1e-4, 1e-3, 1e-2, 1e-1, 1.0])
    parser.add_argument("--epochs", type=int, default=60)
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--latent-dim", type=int, default=16)
    parser.add_argument("--hidden", type=int, default=128)
    parser.add_argument("--samples", type=int, default=12, help="K draws of z per example in the loss")
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="vib_digits.png", help="figure path ('' for no figure)")
    args = parser.parse_args(argv)
    from tqdm import tqdm

    data = load(args.seed)
    results = []
    with tqdm(total=len(args.betas) * args.epochs, desc="VIB digits") as bar:
        for beta in args.betas:
            results.append(train_one(beta, data, args, bar))
    print(f"{'beta':>8} {'acc(mean z)':>12} {'acc(12 draws)':>14} {'KL = I(Z;X) bound [nats]':>26}")
    for r in results:
        print(f"{r['beta']:>8.0e} {r['acc_mean']:>12.4f} {r['acc_12']:>14.4f} {r['kl']:>26.3f}")
    if args.out:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        betas = [r["beta"] for r in results]
        fig, (a1, a2) = plt.subplots(1, 2, figsize=(9, 3.5))
        a1.semilogx(betas, [r["acc_mean"] for r in results], "o-", label="mean z")
        a1.semilogx(betas, [r["acc_12"] for r in results], "s--", label="12 draws")
        a1.set(xlabel="beta", ylabel="test accuracy", title="VIB on digits: accuracy")
        a1.legend()
        a2.loglog(betas, [r["kl"] for r in results], "o-")
        a2.set(xlabel="beta", ylabel="KL(q(z|x) || r(z)) [nats]", title="upper bound on I(Z;X)")
        fig.tight_layout()
        fig.savefig(args.out, dpi=120)
        print(f"figure: {args.out}")
    return results


if __name__ == "__main__":
    main()
