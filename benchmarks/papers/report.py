"""Write the papers' benchmark tables (markdown) from the JSON results of run.py.

python benchmarks/papers/report.py    # -> benchmarks/papers/RESULTS.md and docs/papers_benchmarks.md
"""

from __future__ import annotations

import json
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]

# Published reference numbers (full training, GPU-scale budgets); quoted, not re-measured.
PAPER = {
    "sbn": "VIMCO paper (Mnih & Rezende, ICML 2016), SBN 200-200-200 on binarized MNIST, VIMCO K=5: "
    "test bound about **-93.6** nats after full training.",
    "gauss": "IWAE paper (Burda, Grosse & Salakhutdinov, ICLR 2016), one stochastic layer (50 units, "
    "hidden 200-200), IWAE k=50: test NLL **84.78** nats (bound -84.78) after full training.",
}
TITLES = {
    "sbn": "Sigmoid belief net 200-200-200 (three stochastic layers, linear), binarized MNIST",
    "gauss": "Gaussian VAE 784-200-200-50 (one stochastic layer), binarized MNIST",
}


def main() -> None:
    results = sorted((HERE / "results").glob("*.json"))
    lines = [
        "# The papers' setups on a shared 2-core CPU",
        "",
        "Measured by `benchmarks/papers/run.py` (commands at the top of that file); tables written by",
        "`benchmarks/papers/report.py` from the JSON files in `benchmarks/papers/results/`. One intra-op",
        "thread, Adam (lr 1e-3), batch 24, seed 0 for every run (same initial weights per model), on a CPU",
        "shared with other jobs (CPU seconds are process time, not wall). The test bound is the IWAE bound",
        "with K = 1000 on a **seeded random subset of the test split** (the subset is named in each table;",
        "± is the standard error over those images), not the whole split: evaluating all 10000 images at",
        "K = 1000 costs about 4 CPU-minutes per SBN model, more than this budget allowed for 13+ models.",
        "All runs use the same subset, so the comparisons between estimators are paired.",
        "",
        "**How far a CPU budget gets.** These are 1000 to 4000 steps of batch 24 (half an epoch to two",
        "epochs of the 50000 training images), against the papers' far longer training: the bounds are",
        "tens of nats short of the published numbers, and the rankings are those of early training.",
        "They show the setups running end to end with vaekit's estimators, not a reproduction of the",
        "published figures.",
        "",
        "Rows: `NVIL` is `Reinforce` with `nvil_baselines` (one learning signal and one baseline set for",
        "the whole chain); `NVIL (per-layer signals)` is `vaekit.NVIL`, with NVIL's per-layer signals and",
        "baselines. The Gaussian VAE runs use K = 5 (the IWAE paper's figure is for k = 50). Training and",
        "evaluation of all rows together took about 14 CPU-minutes (`train CPU s` plus about 12 CPU s of",
        "evaluation per row).",
        "",
    ]
    parts: dict[str, list[tuple[dict, dict]]] = {}
    for path in results:
        data = json.loads(path.read_text())
        for row in data["rows"]:
            parts.setdefault(data["part"], []).append((data["setup"], row))
    order = {
        "VIMCO": 0,
        "NVIL": 1,
        "NVIL (per-layer signals)": 1.5,
        "RWS": 2,
        "IWAE": 0,
        "DReG": 1,
        "VR(alpha=0.5)": 2,
        "TVO": 3,
    }
    for part in ("sbn", "gauss"):
        entries = sorted(parts.get(part, []), key=lambda e: (e[0]["steps"], e[1]["K"], order.get(e[1]["estimator"], 9)))
        if not entries:
            continue
        evals = sorted({e[0]["eval"] for e in entries})
        lines += [f"## {TITLES[part]}", "", f"Evaluation: {'; '.join(evals)}. torch {entries[0][0]['torch']}.", ""]
        lines += [
            "| estimator | K | steps | train objective (last 200 steps) | test bound (IWAE K=1000) | train CPU s |",
            "|---|---|---|---|---|---|",
        ]
        for setup, r in entries:
            lines.append(
                f"| {r['estimator']} | {r['K']} | {setup['steps']} | {r['train_objective_last_200']:.2f} | "
                f"{r['test_bound']:.2f} ± {r['test_bound_se']:.2f} | {r['train_cpu_s']:.0f} |"
            )
        setup, best = max(entries, key=lambda e: e[1]["test_bound"])
        ref = -93.6 if part == "sbn" else -84.78
        lines += [
            "",
            f"Published reference: {PAPER[part]}",
            f"Best here: {best['estimator']} K={best['K']} after {setup['steps']} steps, {best['test_bound']:.2f} "
            f"nats: {ref - best['test_bound']:.1f} nats below the published figure, after {best['train_cpu_s']:.0f} "
            "CPU seconds of training.",
            "",
        ]
    text = "\n".join(lines)
    (HERE / "RESULTS.md").write_text(text)
    (ROOT / "docs" / "papers_benchmarks.md").write_text(text)


if __name__ == "__main__":
    main()
