"""Write the papers' benchmark tables (markdown) from the per-model results of run.py.

python benchmarks/papers/report.py    # -> benchmarks/papers/RESULTS.md and docs/papers_benchmarks.md

Every ``results/<part>_<estimator>_k<K>.json`` is one trained and evaluated model; the ``.npz`` beside
it holds its per-image test bounds (centi-nats), from which the paired differences are computed.
Rows of the planned grid that have no result are listed as not finished.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]

# Published reference numbers (full training, GPU-scale budgets); quoted, not re-measured.
PAPER = {
    "sbn": (
        -93.6,
        "VIMCO paper (Mnih & Rezende, ICML 2016), SBN 200-200-200 on binarized MNIST, VIMCO K=5: test bound "
        "about **-93.6** nats after full training",
    ),
    "gauss": (
        -84.78,
        "IWAE paper (Burda, Grosse & Salakhutdinov, ICLR 2016), one stochastic layer (50 units, hidden "
        "200-200), IWAE k=50: test NLL **84.78** nats (IWAE bound with k=5000, i.e. -84.78) after 3280 "
        "passes over its own training set (its binarization and split are its own)",
    ),
}
TITLES = {
    "sbn": "Sigmoid belief net 200-200-200 (three stochastic layers, linear), binarized MNIST",
    "gauss": "Gaussian VAE 784-200-200-50 (one stochastic layer), binarized MNIST",
}
PLANNED = {
    "sbn": [(e, k) for k in (2, 5, 50) for e in ("VIMCO", "NVIL", "RWS")],
    "gauss": [(e, 50) for e in ("IWAE", "DReG", "VR(alpha=0.5)", "TVO")],
}
ORDER = {"VIMCO": 0, "NVIL": 1, "NVIL (per-layer signals)": 1.5, "RWS": 2, "IWAE": 0, "DReG": 1, "VR(alpha=0.5)": 2}
PAIRED_WITH = {"sbn": "VIMCO", "gauss": "IWAE"}  # the row each other row is compared with, per K

INTRO = """\
# The papers' setups on a shared 2-core CPU

Measured by `benchmarks/papers/run.py` (commands at the top of that file); tables written by
`benchmarks/papers/report.py` from the per-model JSON files in `benchmarks/papers/results/`.

**Data and models.** The statically binarized MNIST of `../shared/data/binarized_mnist.npz` (50000
training, 10000 test images). SBN: a linear sigmoid belief net with three stochastic layers of 200
units and the matching layered q(z1|x) q(z2|z1) q(z3|z2) (the VIMCO paper's model), trained with
VIMCO, NVIL (`Reinforce` with `nvil_baselines`: a running mean, an input-dependent baseline net
784-100-1 (tanh) and variance normalisation) and RWS (wake-phi) at K = 2, 5, 50. Gaussian VAE: the IWAE
paper's one-stochastic-layer model (784-200-200-50, tanh, Bernoulli likelihood) trained with
IWAE (pathwise), DReG, VR (alpha = 0.5, pathwise) and TVO (score function, the default
log-uniform partition) at K = 50, the k of the IWAE paper's 84.78 figure.

**Protocol.** Every model of a family starts from the same initial weights (seed 0) and sees the
same minibatches in the same order: Adam (lr 1e-3), batch 24, the same fixed number of steps for
every row of a family. It is then scored by the IWAE bound with K = 1000 on **the whole binarized
MNIST test split (10000 images)**, by vaekit's chunked evaluator (`vaekit.iwae_bound`, batches of
100 images, chunks of 100 samples, `no_grad`, float32), with the same evaluation noise stream for
every model. ± is the standard error over the 10000 images. Because the images are the same for
every row, the differences between rows are paired: the column "vs VIMCO" (SBN) or "vs IWAE"
(Gaussian VAE) gives the mean per-image difference to that row at the same K, with its paired
standard error, which is far smaller than the ± of either bound. The train objective is each
estimator's own objective (IWAE_K, VR, TVO, ...) averaged over the last 200 training minibatches,
so it is not comparable across rows; the test bound is. One intra-op thread; CPU seconds
are process time (`time.process_time`), on a CPU shared with other jobs, which inflates them: the
same evaluation (same model, same K) took 202 to 256 CPU seconds for the SBN as the load varied.

**How far a CPU budget gets.** 2000 steps of batch 24 are 48000 images, just under one epoch of
the 50000 training images; the papers trained for far longer (the IWAE paper for 3280 passes). The
bounds below are therefore tens of nats short of the published numbers, and the rankings are
those of early training, not of converged models: these tables show the papers' setups running
end to end with vaekit's estimators and evaluator, not a reproduction of the published figures.
"""


def _load(results: Path) -> dict[str, list[tuple[dict, np.ndarray | None]]]:
    parts: dict[str, list[tuple[dict, np.ndarray | None]]] = {}
    for path in sorted(results.glob("*.json")):
        row = json.loads(path.read_text())
        npz = path.with_suffix(".npz")
        per_image = np.load(npz)["centinats"].astype(np.float64) / 100 if npz.exists() else None
        parts.setdefault(row["part"], []).append((row, per_image))
    return parts


def _paired(a: np.ndarray | None, b: np.ndarray | None) -> str:
    if a is None or b is None or a.shape != b.shape:
        return "n/a"
    d = a - b
    return f"{d.mean():+.2f} ± {d.std(ddof=1) / len(d) ** 0.5:.2f}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--results-dir", default=str(HERE / "results"))
    ap.add_argument("--print", action="store_true", help="print the markdown instead of writing the two files")
    args = ap.parse_args()
    parts = _load(Path(args.results_dir))
    lines = INTRO.splitlines() + [""]
    total_cpu = 0.0
    for part in ("sbn", "gauss"):
        entries = sorted(
            parts.get(part, []), key=lambda e: (e[0]["setup"]["steps"], e[0]["K"], ORDER.get(e[0]["estimator"], 9))
        )
        ref_name = PAIRED_WITH[part]
        lines += [f"## {TITLES[part]}", ""]
        if entries:
            evals = sorted({e[0]["setup"]["eval"] for e in entries})
            steps = sorted({e[0]["setup"]["steps"] for e in entries})
            eval_k = "/".join(str(k) for k in sorted({e[0]["setup"]["eval_k"] for e in entries}))
            lines += [
                f"Steps: {', '.join(map(str, steps))} (batch 24) for every row. Evaluation: {'; '.join(evals)}. "
                f"torch {entries[0][0]['setup']['torch']}, vaekit {entries[0][0]['setup']['vaekit']}.",
                "",
                f"| estimator | K | steps | train objective (last 200 steps) | test bound (IWAE K={eval_k}) | vs {ref_name} "
                "(paired) | train CPU s | eval CPU s |",
                "|---|---|---|---|---|---|---|---|",
            ]
            refs = {(e[0]["K"], e[0]["setup"]["steps"]): e[1] for e in entries if e[0]["estimator"] == ref_name}
            for r, per_image in entries:
                key = (r["K"], r["setup"]["steps"])
                diff = "—" if r["estimator"] == ref_name else _paired(per_image, refs.get(key))
                total_cpu += r["train_cpu_s"] + r["eval_cpu_s"]
                lines.append(
                    f"| {r['estimator']} | {r['K']} | {r['setup']['steps']} | {r['train_objective_last_200']:.2f} | "
                    f"{r['test_bound']:.2f} ± {r['test_bound_se']:.2f} | {diff} | {r['train_cpu_s']:.0f} | "
                    f"{r['eval_cpu_s']:.0f} |"
                )
        done = {(e[0]["estimator"], e[0]["K"]) for e in entries}
        missing = [f"{e} K={k}" for e, k in PLANNED[part] if (e, k) not in done]
        if missing:
            lines += [
                "",
                f"**Not finished:** {', '.join(missing)}: planned with the same steps and evaluation, but the "
                "session's wall-clock window ran out on a CPU shared with other jobs.",
            ]
        ref, words = PAPER[part]
        lines += ["", f"Published reference: {words}."]
        if entries:
            best, _ = max(entries, key=lambda e: e[0]["test_bound"])
            lines.append(
                f"Best here: {best['estimator']} K={best['K']} after {best['setup']['steps']} steps, "
                f"{best['test_bound']:.2f} ± {best['test_bound_se']:.2f} nats: {ref - best['test_bound']:.1f} nats "
                f"below the published figure, after {best['train_cpu_s']:.0f} CPU seconds of training."
            )
            same = [
                e[0]
                for e in entries
                if (part, e[0]["estimator"], e[0]["K"]) in {("sbn", "VIMCO", 5), ("gauss", "IWAE", 50)}
            ]
            for r in same:
                lines.append(
                    f"The published configuration itself ({r['estimator']} K={r['K']}): {r['test_bound']:.2f} ± "
                    f"{r['test_bound_se']:.2f} nats, {ref - r['test_bound']:.1f} nats below the published figure."
                )
        lines.append("")
    lines += [
        f"Training and evaluation of all rows above took {total_cpu / 60:.0f} CPU-minutes in total "
        "(the sum of the two CPU columns).",
        "",
    ]
    text = "\n".join(lines)
    if args.print:
        print(text)
        return
    (HERE / "RESULTS.md").write_text(text)
    (ROOT / "docs" / "papers_benchmarks.md").write_text(text)


if __name__ == "__main__":
    main()
