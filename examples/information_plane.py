"""The information plane of the 12-bit task: tanh against ReLU, binning against KDE (Saxe et al. 2018).

Shwartz-Ziv & Tishby (2017) trained a 12-10-7-5-4-3-2 network on a 12-bit task and saw each
hidden layer's I(X;T), estimated by binning, first rise and then fall: a "compression phase".
Saxe et al. (2018) showed that the fall comes from the saturation of tanh units (binning then
merges inputs), and that it does not appear with ReLU. This script trains both networks on the
same data with the same optimiser and tracks every hidden layer with
``vaekit.infoplane.InformationPlaneTracker`` under two estimators: binning (30 bins, each layer's
own range) and the Kolchinsky-Tracey KDE upper bound (noise variance 1e-3). It prints, for every
(activation, estimator, layer), the peak of I(X;T) during training and its final value, and
draws the four information planes.

The 12-bit data set (deterministic; no file). The original labels came in a data file; this is
the construction the papers describe, made exact:
  * inputs: all 2^12 = 4096 binary patterns x in {0, 1}^12 (bit i of the integer n, i = 0..11);
  * the 12 bits sit on 12 uniformly distributed points u_1..u_12 of the unit sphere: the
    vertices of the regular icosahedron, (0, +-1, +-phi), (+-1, +-phi, 0), (+-phi, 0, +-1)
    normalised, phi the golden ratio, in that order with the signs enumerated (+,+), (+,-),
    (-,+), (-,-);
  * a spherically symmetric function of the pattern, f(x) = || sum_i x_i u_i ||^2 (it depends on
    the points only through their inner products, so any rotation of the sphere leaves it
    unchanged), and labels y = [f(x) > theta], with theta the value of f whose threshold makes
    the fraction of positives closest to 1/2 (theta = 2.2111, 2036 of 4096 positives, 49.7%);
  * the training set is a fixed random 85% of the patterns (torch.Generator seeded with --seed),
    as in Shwartz-Ziv & Tishby; the information plane uses all 4096 patterns, each equally likely,
    with the true labels.

Run:  python examples/information_plane.py            (about 90 s of CPU time on one core)
"""

from __future__ import annotations

import argparse
import math
import time

import torch
from torch import nn


def icosahedron() -> torch.Tensor:
    """The 12 vertices of the regular icosahedron on the unit sphere, ``[12, 3]`` (float64)."""
    phi = (1.0 + math.sqrt(5.0)) / 2.0
    pts = []
    for a, b in ((1.0, 1.0), (1.0, -1.0), (-1.0, 1.0), (-1.0, -1.0)):
        pts.append((0.0, a, b * phi))
    for a, b in ((1.0, 1.0), (1.0, -1.0), (-1.0, 1.0), (-1.0, -1.0)):
        pts.append((a, b * phi, 0.0))
    for a, b in ((1.0, 1.0), (1.0, -1.0), (-1.0, 1.0), (-1.0, -1.0)):
        pts.append((a * phi, 0.0, b))
    u = torch.tensor(pts, dtype=torch.float64)
    return u / u.norm(dim=1, keepdim=True)


def twelve_bit_task() -> tuple[torch.Tensor, torch.Tensor, float]:
    """All 4096 patterns ``[4096, 12]`` (float32 0/1), labels ``[4096]`` and the threshold theta."""
    n = torch.arange(4096)
    x = ((n[:, None] >> torch.arange(12)) & 1).to(torch.float64)  # [4096, 12]
    f = (x @ icosahedron()).pow(2).sum(1)  # [4096]: ||sum_i x_i u_i||^2
    values = torch.unique(f.round(decimals=9))  # distinct values of f, ascending
    frac = torch.stack([(f > v + 1e-9).double().mean() for v in values])
    theta = values[(frac - 0.5).abs().argmin()].item()
    return x.float(), (f > theta + 1e-9).long(), theta


def make_net(activation: type[nn.Module]) -> nn.Sequential:
    widths = [12, 10, 7, 5, 4, 3]
    layers: list[nn.Module] = []
    for a, b in zip(widths[:-1], widths[1:]):
        layers += [nn.Linear(a, b), activation()]
    layers.append(nn.Linear(3, 2))
    return nn.Sequential(*layers)


def record_epochs(epochs: int, n_records: int) -> list[int]:
    """About ``n_records`` epochs, log-spaced from 0 to ``epochs`` (early epochs change fastest)."""
    grid = torch.logspace(0, math.log10(epochs + 1), n_records).round().long() - 1
    return sorted(set(grid.tolist()) | {0, epochs})


def run(activation: type[nn.Module], data, args, bar) -> list[dict]:
    from vaekit.infoplane import KDE, Binning, InformationPlaneTracker

    x, y, train_idx = data
    torch.manual_seed(args.seed)
    net = make_net(activation)
    opt = torch.optim.Adam(net.parameters(), lr=args.lr)
    tracker = InformationPlaneTracker(
        net,
        x,
        y,
        [Binning(n_bins=args.bins), KDE(noise_var=args.noise_var)],
        layer_types=(activation,),
        split="all 4096",
        epochs=record_epochs(args.epochs, args.records),
    )
    gen = torch.Generator().manual_seed(args.seed + 1)
    xt, yt = x[train_idx], y[train_idx]
    step = 0
    for epoch in range(args.epochs + 1):
        tracker.maybe_record(step=step, epoch=epoch)
        if epoch == args.epochs:
            break
        perm = torch.randperm(xt.shape[0], generator=gen)
        for i in range(0, xt.shape[0], args.batch_size):
            idx = perm[i : i + args.batch_size]
            opt.zero_grad()
            nn.functional.cross_entropy(net(xt[idx]), yt[idx]).backward()
            opt.step()
            step += 1
        bar.update(1)
    with torch.no_grad():
        test = torch.ones(x.shape[0], dtype=torch.bool)
        test[train_idx] = False
        acc = (net(x[test]).argmax(-1) == y[test]).float().mean().item()
    for row in tracker.rows:
        row["activation"], row["test_accuracy"] = activation.__name__.lower(), acc
    return tracker.rows


def summarise(rows: list[dict]) -> list[dict]:
    """Per (activation, estimator, layer): peak I(X;T), its epoch, the final value and the drop."""
    out = []
    keys = dict.fromkeys((r["activation"], r["estimator"], r["layer"]) for r in rows)
    for act, est, layer in keys:
        pts = sorted(
            (r for r in rows if (r["activation"], r["estimator"], r["layer"]) == (act, est, layer)),
            key=lambda r: r["step"],
        )
        peak = max(pts, key=lambda r: r["ixt"])
        out.append(
            {
                "activation": act,
                "estimator": est,
                "layer": layer,
                "peak": peak["ixt"],
                "peak_epoch": peak["epoch"],
                "final": pts[-1]["ixt"],
                "drop": peak["ixt"] - pts[-1]["ixt"],
                "final_ity": pts[-1]["ity"],
            }
        )
    return out


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=1000)
    parser.add_argument("--records", type=int, default=15, help="about this many log-spaced record epochs")
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--lr", type=float, default=1e-3, help="Adam learning rate")
    parser.add_argument("--bins", type=int, default=30)
    parser.add_argument("--noise-var", type=float, default=1e-3, help="KDE noise variance")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output", default="information_plane.png")
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    x, y, theta = twelve_bit_task()
    train_idx = torch.randperm(4096, generator=torch.Generator().manual_seed(args.seed))[: round(0.85 * 4096)]
    print(
        f"12-bit task: 4096 patterns, theta = {theta:.4f}, p(y=1) = {y.double().mean():.4f}, "
        f"{train_idx.numel()} for training"
    )
    from tqdm import tqdm

    rows: list[dict] = []
    t0 = time.process_time()
    with tqdm(total=2 * args.epochs, desc="epochs", disable=args.no_progress) as bar:
        for act in (nn.Tanh, nn.ReLU):
            rows += run(act, (x, y, train_idx), args, bar)
    print(f"CPU time {time.process_time() - t0:.0f} s")
    summary = summarise(rows)
    accs = {r["activation"]: r["test_accuracy"] for r in rows}
    print("test accuracy (held-out 15%): " + ", ".join(f"{k} {v:.3f}" for k, v in accs.items()))
    print(
        f"{'activation':10s} {'estimator':9s} {'layer':5s} {'peak I(X;T)':>11s} {'at epoch':>8s} "
        f"{'final':>7s} {'drop':>6s} {'final I(T;Y)':>12s}  [bits]"
    )
    for s in summary:
        print(
            f"{s['activation']:10s} {s['estimator']:9s} {s['layer']:5s} {s['peak']:11.3f} {s['peak_epoch']:8d} "
            f"{s['final']:7.3f} {s['drop']:6.3f} {s['final_ity']:12.3f}"
        )
    plot(rows, args)
    return {"rows": rows, "summary": summary, "accuracy": accs}


def plot(rows: list[dict], args) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from vaekit.infoplane import plot_information_plane

    fig, axes = plt.subplots(2, 2, figsize=(10, 8))
    for i, act in enumerate(("tanh", "relu")):
        for j, est in enumerate(("binning", "kde")):
            sub = [r for r in rows if r["activation"] == act and r["estimator"] == est]
            plot_information_plane(sub, ax=axes[i, j], title=f"{act}, {est} ({sub[0]['settings']})", log_epochs=True)
    fig.suptitle(
        f"12-bit task, 12-10-7-5-4-3-2, Adam lr {args.lr:g}, batch {args.batch_size}, {args.epochs} epochs, "
        f"seed {args.seed}; MI over all 4096 inputs, true labels; layers 1, 3, ... = hidden layers 1-5",
        fontsize=9,
    )
    fig.tight_layout()
    fig.savefig(args.output, dpi=80)
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
