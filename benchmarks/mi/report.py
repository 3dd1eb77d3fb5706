"""Merge the benchmark's JSON parts, write the markdown table and the figure.

    python benchmarks/mi/report.py

Reads ``results/part*.json`` (or ``results/results.json``), writes ``results/results.json`` (merged),
``results/results.md`` and ``docs/figures/mi_benchmark.png``, and replaces the table between the
``<!-- table -->`` markers of ``docs/mi/benchmark.md``.
"""

from __future__ import annotations

import json
import statistics
from pathlib import Path

HERE = Path(__file__).parent
ORDER = ["infonce", "nwj", "mine", "js", "smile", "tuba", "alpha_tuba", "flo", "ba", "doe", "club", "l1out"]


def _names(rows: list) -> list:
    return sorted(dict.fromkeys(r["estimator"] for r in rows), key=lambda n: ORDER.index(n) if n in ORDER else 99)


ROOT = HERE.parents[1]


def load() -> dict:
    parts = sorted((HERE / "results").glob("part*.json"))
    if not parts:
        return json.loads((HERE / "results" / "results.json").read_text())
    rows, metas = [], []
    for p in parts:  # a later part replaces an earlier part's row of the same task and estimator
        d = json.loads(p.read_text())
        new = {(r["task"], r["estimator"]) for r in d["rows"]}
        rows = [r for r in rows if (r["task"], r["estimator"]) not in new] + d["rows"]
        metas.append(d["meta"])
    meta = dict(metas[0])
    meta["settings"] = dict(meta["settings"])
    meta["settings"]["tasks"] = list(dict.fromkeys(t for m in metas for t in m["settings"]["tasks"]))
    meta["settings"]["estimators"] = list(dict.fromkeys(e for m in metas for e in m["settings"]["estimators"]))
    meta["total_cpu_s"] = sum(m["total_cpu_s"] for m in metas)
    return {"meta": meta, "rows": rows}


def solved(est: float, true: float) -> bool:
    """BMI's criterion: within a factor 1.5 of the true MI."""
    return true / 1.5 <= est <= 1.5 * true


def table(data: dict) -> str:
    rows = data["rows"]
    names = _names(rows)
    tasks = data["meta"]["settings"]["tasks"]
    out = [
        "| estimator | median abs error vaekit | median abs error torch-mist | solved vaekit | solved torch-mist "
        "| ms/step vaekit | ms/step torch-mist | speed-up (median) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for n in names:
        rs = [r for r in rows if r["estimator"] == n]
        ev = statistics.median(r["abs_err_vaekit"] for r in rs)
        et = statistics.median(r["abs_err_torch_mist"] for r in rs)
        sv = sum(solved(r["vaekit"], r["true_mi"]) for r in rs)
        st = sum(solved(r["torch_mist"], r["true_mi"]) for r in rs)
        mv = statistics.median(r["ms_per_step_vaekit"] for r in rs)
        mt = statistics.median(r["ms_per_step_torch_mist"] for r in rs)
        sp = statistics.median(r["speedup"] for r in rs)
        out.append(f"| {n} | {ev:.3f} | {et:.3f} | {sv}/{len(rs)} | {st}/{len(rs)} | {mv:.2f} | {mt:.2f} | {sp:.2f}x |")
    fails = [
        f"- {r['task']}, {r['estimator']}, {lib}: {r.get(key)}"
        for r in rows
        for lib, key in (("vaekit", "failed_vaekit"), ("torch-mist", "failed_torch_mist"))
        if r.get(key)
    ]
    if fails:
        out += ["", "Runs that failed (counted as not solved, infinite error):", "", *fails]
    out += ["", "Per task (estimate vaekit / torch-mist; true MI in the header):", ""]
    out.append(
        "| estimator | "
        + " | ".join(f"{t} ({next(r['true_mi'] for r in rows if r['task'] == t):.3f})" for t in tasks)
        + " |"
    )
    out.append("|---|" + "---|" * len(tasks))
    for n in names:
        cells = []
        for t in tasks:
            r = next((r for r in rows if r["task"] == t and r["estimator"] == n), None)
            cells.append("n/a" if r is None else f"{r['vaekit']:.3f} / {r['torch_mist']:.3f}")
        out.append(f"| {n} | " + " | ".join(cells) + " |")
    return "\n".join(out)


def bmi_table(data: dict) -> str:
    path = HERE / "results" / "bmi.json"
    if not path.exists():
        return ""
    bmi = json.loads(path.read_text())
    out = [
        "",
        "BMI (`benchmark-mi` 0.1.3, JAX; joint MLP critic (64, 64) for all three, its own loop and split of the same "
        "pairs): estimate BMI / vaekit / torch-mist",
        "",
    ]
    tasks = list(dict.fromkeys(r["task"] for r in bmi["rows"]))
    out.append("| estimator | " + " | ".join(tasks) + " |")
    out.append("|---|" + "---|" * len(tasks))
    for n in dict.fromkeys(r["estimator"] for r in bmi["rows"]):
        cells = []
        for t in tasks:
            b = next(r for r in bmi["rows"] if r["task"] == t and r["estimator"] == n)
            o = next((r for r in data["rows"] if r["task"] == t and r["estimator"] == n), None)
            rest = "" if o is None else f" / {o['vaekit']:.3f} / {o['torch_mist']:.3f}"
            cells.append(f"{b['bmi']:.3f}{rest}")
        out.append(f"| {n} | " + " | ".join(cells) + " |")
    return "\n".join(out)


def figure(data: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = data["rows"]
    names = _names(rows)
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(11, 3.6))
    xs = range(len(names))
    ev = [statistics.median(r["abs_err_vaekit"] for r in rows if r["estimator"] == n) for n in names]
    et = [statistics.median(r["abs_err_torch_mist"] for r in rows if r["estimator"] == n) for n in names]
    a1.bar([x - 0.2 for x in xs], ev, 0.4, label="vaekit")
    a1.bar([x + 0.2 for x in xs], et, 0.4, label="torch-mist")
    a1.set_xticks(list(xs), names, rotation=45, ha="right")
    a1.set_ylabel("median over tasks of |estimate - true MI| (nats)")
    a1.set_yscale("log")
    a1.legend()
    sp = [[r["speedup"] for r in rows if r["estimator"] == n] for n in names]
    a2.boxplot(sp)
    a2.set_xticks(range(1, len(names) + 1), names)
    a2.axhline(1.0, color="k", lw=0.8)
    a2.set_ylabel("torch-mist / vaekit CPU time per step")
    a2.tick_params(axis="x", rotation=45)
    fig.suptitle("vaekit.mi vs torch-mist, same tasks, data, critics, optimiser and steps", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main() -> None:
    data = load()
    (HERE / "results" / "results.json").write_text(json.dumps(data, indent=1))
    md = table(data) + "\n" + bmi_table(data)
    (HERE / "results" / "results.md").write_text(md + "\n")
    figure(data, ROOT / "docs" / "figures" / "mi_benchmark.png")
    page = ROOT / "docs" / "mi" / "benchmark.md"
    if page.exists():
        text = page.read_text()
        head, _, rest = text.partition("<!-- table -->")
        _, _, tail = rest.partition("<!-- /table -->")
        page.write_text(head + "<!-- table -->\n" + md + "\n<!-- /table -->" + tail)
    print(md)


if __name__ == "__main__":
    main()
