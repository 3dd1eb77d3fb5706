"""Measure the gradient variance and SNR of every estimator for the docs' variance tables.

Two settings on scikit-learn's binarized 8x8 digits (seed 0, batch of 50 training images):

- discrete: a 64-16 linear sigmoid belief net, first trained 500 steps with VIMCO (K=5), then
  every score-function / wake-sleep estimator at K=5 on those same models;
- continuous: a Gaussian VAE 64-64-8 (tanh MLPs), first trained 500 steps with IWAE (K=5),
  then every pathwise estimator at K in {1, 5, 50}.

Learned and running baselines are warmed up first (500 calls on training batches, with only the
baseline's own parameters stepped), since a baseline's worth shows once it is fitted. Every
estimator then gets ``vaekit.diagnostics.compare_estimators`` with 400 draws on the same batch.

Reported per model (inf_net = phi, gen_model = theta): tr Var[g] (sum of element-wise variances)
and a whole-gradient SNR = ||E g|| / sqrt(tr Var[g]), with ||E g||^2 estimated without the noise
bias (||mean||^2 - tr Var / N). With N = 400 draws a variance carries a relative standard error
of roughly sqrt(2 / N) = 7% or less.

Run from the repository root:  python docs/_scripts/variance_table.py   (about 2 minutes on 1 core)
It prints Markdown tables and writes docs/figures/snr_vs_k.png.
"""

from __future__ import annotations

import math
from pathlib import Path

import torch
from torch import nn

import vaekit
from vaekit.baselines import LeaveOneOut, MovingAverage, nvil_baselines
from vaekit.diagnostics import compare_estimators

N_DRAWS = 400
FIG = Path(__file__).resolve().parents[1] / "figures" / "snr_vs_k.png"


def _summaries(table):
    out = {}
    for row in table:
        if row["parameter"].endswith("(all)"):
            tv = row["total_variance"]
            signal2 = max(row["mean_norm"] ** 2 - tv / N_DRAWS, 0.0)
            snr = math.sqrt(signal2) / math.sqrt(tv) if tv > 0 else math.inf
            out.setdefault(row["estimator"], {})[row["parameter"].split(" ")[0]] = (tv, snr)
    return out


def _warm_up(loss_fn, train, steps=500):
    params = [p for n, p in loss_fn.named_parameters() if n.startswith("baselines.")]
    opt = torch.optim.Adam(params, lr=3e-3) if params else None
    gen = torch.Generator().manual_seed(1)
    for _ in range(steps):
        x = train[torch.randint(len(train), (50,), generator=gen)]
        loss = loss_fn(x)
        if opt is not None:
            opt.zero_grad()
            loss.backward()
            opt.step()


def _print(title, summaries):
    print(f"\n#### {title}\n")
    print("| estimator | tr Var (inf_net) | SNR (inf_net) | tr Var (gen_model) | SNR (gen_model) |")
    print("|---|---|---|---|---|")
    for name, s in summaries.items():
        cells = []
        for var, snr in (s["inf_net"], s["gen_model"]):
            if var == 0:
                cells += ["0", "(no gradient)"]
            else:
                cells += [f"{var:.3g}", "~0 (below noise)" if snr == 0 else f"{snr:.3g}"]
        print(f"| {name} | " + " | ".join(cells) + " |")


def discrete(train):
    torch.manual_seed(0)
    q, p = vaekit.BernoulliEncoder(64, 16), vaekit.SigmoidBeliefNet(16, 64)
    vaekit.fit(vaekit.VIMCO(q, p, n_samples=5), train, steps=500, batch_size=50, lr=3e-3, seed=0, progress=False)
    k = 5
    losses = {
        "Reinforce (no baseline)": vaekit.Reinforce(q, p, n_samples=k),
        "Reinforce + MovingAverage": vaekit.Reinforce(q, p, n_samples=k, baselines=[MovingAverage()]),
        "Reinforce + NVIL": vaekit.Reinforce(
            q, p, n_samples=k, baselines=nvil_baselines(nn.Sequential(nn.Linear(64, 32), nn.Tanh(), nn.Linear(32, 1)))
        ),
        "Reinforce + LeaveOneOut": vaekit.Reinforce(q, p, n_samples=k, baselines=[LeaveOneOut()]),
        "IWAE (score function)": vaekit.IWAE(q, p, n_samples=k),
        "VIMCO": vaekit.VIMCO(q, p, n_samples=k),
        "WakeSleep": vaekit.WakeSleep(q, p, n_samples=k),
        "RWS (wake-phi)": vaekit.RWS(q, p, n_samples=k),
    }
    for name in ("Reinforce + MovingAverage", "Reinforce + NVIL"):
        _warm_up(losses[name], train)
    x = train[:50]
    torch.manual_seed(0)
    return _summaries(compare_estimators(losses, x, n_draws=N_DRAWS))


def continuous(train):
    torch.manual_seed(0)
    q, p = vaekit.GaussianEncoder(64, 8, hidden=64), vaekit.BernoulliDecoder(8, 64, hidden=64)
    vaekit.fit(vaekit.IWAE(q, p, n_samples=5), train, steps=500, batch_size=50, lr=3e-3, seed=0, progress=False)
    x = train[:50]
    by_k = {}
    for k in (1, 5, 50):
        losses = {
            f"ELBO (pathwise), K={k}": vaekit.ELBO(q, p, n_samples=k),
            f"IWAE (pathwise), K={k}": vaekit.IWAE(q, p, n_samples=k),
            f"STL (ELBO), K={k}": vaekit.STL(q, p, n_samples=k),
            f"DReG, K={k}": vaekit.DReG(q, p, n_samples=k),
            f"RWS (DReG wake-phi), K={k}": vaekit.RWSDReG(q, p, n_samples=k),
        }
        torch.manual_seed(0)
        by_k[k] = _summaries(compare_estimators(losses, x, n_draws=N_DRAWS))
    return by_k


def plot(by_k):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ks = sorted(by_k)
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.6))
    for family in ("IWAE (pathwise)", "STL (ELBO)", "DReG", "ELBO (pathwise)"):
        for ax, model in zip(axes, ("inf_net", "gen_model")):
            ax.plot(ks, [by_k[k][f"{family}, K={k}"][model][1] for k in ks], marker="o", label=family)
    for ax, title in zip(axes, ("inference network (phi)", "generative model (theta)")):
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("K")
        ax.set_ylabel("SNR = ||E g|| / sqrt(tr Var g)")
        ax.set_title(title)
    axes[0].legend(fontsize=8)
    fig.suptitle("Gradient SNR against K, Gaussian VAE on binarized digits (400 draws)")
    fig.tight_layout()
    FIG.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(FIG, dpi=110)
    plt.close(fig)


def main():
    torch.set_num_threads(1)
    train, _ = vaekit.load_digits_binarized()
    _print("Discrete latents: SBN 64-16, K = 5", discrete(train))
    by_k = continuous(train)
    for k, s in by_k.items():
        _print(f"Continuous latents: Gaussian VAE 64-64-8, K = {k}", s)
    plot(by_k)
    print(f"\nfigure written to {FIG}")


if __name__ == "__main__":
    main()
