"""Tables and plots from a results JSON: ``python benchmarks/report.py benchmarks/results/full.json``.

Writes ``benchmarks/results/README.md`` (the tables), ``docs/benchmarks.md`` (the docs page: method,
tables, figures) and ``docs/benchmarks/*.png``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
ESTIMATORS = ["vimco", "iwae", "reinforce_ma", "reinforce_nvil", "reinforce_loo", "rws", "wake_sleep"]
LABEL = {
    "vimco": "VIMCO",
    "iwae": "IWAE (score function)",
    "reinforce_ma": "Reinforce + moving average",
    "reinforce_nvil": "Reinforce + NVIL",
    "reinforce_loo": "Reinforce + leave-one-out",
    "rws": "RWS (wake-phi)",
    "wake_sleep": "WakeSleep",
}
PEER_LABEL = {
    "pyro:tracegraph_avg": "Pyro TraceGraph_ELBO, decaying-average baseline",
    "pyro:tracegraph_nn": "Pyro TraceGraph_ELBO, neural baseline",
    "pyro:rws_batch": "Pyro ReweightedWakeSleep, minibatch-summed weights",
    "pyro:rws_point": "Pyro ReweightedWakeSleep, one call per data point",
    "pyro:renyi0": "Pyro RenyiELBO(alpha=0)",
    "storch:score_batch_average": "Storchastic ScoreFunction, batch_average baseline",
}


def _f(v, nd=2):
    if v is None or (isinstance(v, float) and (math.isnan(v) or math.isinf(v))):
        return "-"
    return f"{v:.{nd}f}"


def _g(v, nd):
    """Fixed decimals, or 3 significant digits for large numbers."""
    if v is None or (isinstance(v, float) and (math.isnan(v) or math.isinf(v))):
        return "-"
    return f"{v:.3g}" if abs(v) >= 1e4 else f"{v:.{nd}f}"


def _test_set(result):
    t = result.get("test_set")
    if t is None:  # results written before the seeded subset: the first eval_n rows
        return f"the first {result['args']['eval_n']} test images"
    if t["n"] == t["of"]:
        return f"the whole test split ({t['n']} images)"
    return f"a seeded random subset of {t['n']} of the {t['of']} test images ({t['rows']})"


def _med(rec):
    t = rec.get("timing") if rec else None
    return t["median_ms"] if t else None


def _ratio(a, b):
    return a / b if a is not None and b else None


def _status(rec):
    if rec is None:
        return "not run"
    if rec["status"] != "ok":
        return f"failed: {rec['error']}"
    return "ok"


def timing_table(m, kkey):
    ph = m.get(kkey, {})
    lines = [
        "| estimator | floor ms (min-max) | vaekit ms (min-max) | vaekit / floor | compiled ms | compiled / floor |",
        "|---|---|---|---|---|---|",
    ]
    for e in ESTIMATORS:
        fl, vk, co = ph.get(f"floor:{e}"), ph.get(f"vaekit:{e}"), ph.get(f"vaekit_compiled:{e}")

        def cell(r):
            if r is None:
                return "not run"
            if r["status"] != "ok" or not r.get("timing"):
                return f"failed ({(r.get('error') or '')[:60]})"
            t = r["timing"]
            return f"{t['median_ms']:.2f} ({t['min_ms']:.2f}-{t['max_ms']:.2f})"

        lines.append(
            f"| {LABEL[e]} | {cell(fl)} | {cell(vk)} | {_f(_ratio(_med(vk), _med(fl)))} | "
            f"{cell(co)} | {_f(_ratio(_med(co), _med(fl)))} |"
        )
    return "\n".join(lines)


def peer_table(m, kkey, peer_map):
    ph = m.get(kkey, {})
    lines = [
        "| peer | compared with | peer ms (min-max) | vaekit ms | peer / vaekit | status |",
        "|---|---|---|---|---|---|",
    ]
    for name, e in peer_map.items():
        r, vk = ph.get(name), ph.get(f"vaekit:{e}")
        t = r.get("timing") if r else None
        cell = f"{t['median_ms']:.2f} ({t['min_ms']:.2f}-{t['max_ms']:.2f})" if t else "-"
        lines.append(
            f"| {PEER_LABEL[name]} | vaekit {LABEL[e]} | {cell} | {_f(_med(vk))} | "
            f"{_f(_ratio(_med(r), _med(vk)))} | {_status(r)} |"
        )
    return "\n".join(lines)


def bound_table(m, kkey, peer_map):
    ph = m.get(kkey, {})
    lines = [
        "| contender | steps | test IWAE bound | max RSS MiB | RSS growth MiB (per 1000 steps) | notes |",
        "|---|---|---|---|---|---|",
    ]
    for name, r in ph.items():
        if name.startswith(("vaekit_compiled", "vaekit_noval")):
            continue
        note = ""
        info = r.get("info") or {}
        if "guide_param_change_l2" in info and name == "pyro:renyi0":
            note = f"guide parameter change (L2) {info['guide_param_change_l2']:.3g}"
        if r["status"] != "ok":
            note = f"failed: {r['error']}"
        lines.append(
            f"| {name} | {r.get('final_step', r.get('steps'))} | {_f(r.get('test_bound'))} | "
            f"{_f(r.get('max_rss_mib'), 0)} | {_f(r.get('rss_growth_mib'), 1)} "
            f"({_f(r.get('rss_growth_mib_per_1000_steps'), 0)}) | {note} |"
        )
    return "\n".join(lines)


def snr_table(m):
    res = (m.get("snr") or {}).get("results", {})
    ks = sorted({int(k.split("@K=")[1]) for k in res})
    head = (
        "| estimator | "
        + " | ".join(
            f"SNR q K={k} (vaekit / floor) | SNR p K={k} (vaekit / floor) | total var q K={k} (vaekit / floor)"
            for k in ks
        )
        + " |"
    )
    lines = [head, "|---|" + "---|" * (3 * len(ks))]
    for e in ESTIMATORS:
        cells = []
        for k in ks:
            v, f = res.get(f"vaekit:{e}@K={k}", {}), res.get(f"floor:{e}@K={k}", {})
            for part in ("snr_enc", "snr_dec", "var_enc"):
                nd = 3 if part != "var_enc" else 0
                cells.append(
                    f"{_g(v.get(part), nd) if 'error' not in v else 'error'} / "
                    f"{_g(f.get(part), nd) if 'error' not in f else 'error'}"
                )
        lines.append(f"| {LABEL[e]} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def targets(result):
    """Every target, checked: returns markdown bullet lines."""
    out = []
    a = result["args"]
    for model, m in result["models"].items():
        for kkey in (f"k{a['k_train']}", f"k{a['k_time']}"):
            ph = m.get(kkey, {})
            for e in ESTIMATORS:
                r = _ratio(_med(ph.get(f"vaekit:{e}")), _med(ph.get(f"floor:{e}")))
                if r is None:
                    out.append(
                        f"- {model} {kkey.upper()} {LABEL[e]}: vaekit/floor not measured "
                        f"({_status(ph.get(f'vaekit:{e}'))})."
                    )
                elif r > 1.05:
                    out.append(f"- MISSED {model} {kkey.upper()} {LABEL[e]}: vaekit/floor = {r:.2f} (> 1.05).")
            for name, e in result["peer_map"].items():
                r = _ratio(_med(ph.get(name)), _med(ph.get(f"vaekit:{e}")))
                if r is not None and r < 1.0:
                    out.append(
                        f"- MISSED {model} {kkey.upper()}: {name} is faster than vaekit {LABEL[e]} "
                        f"(peer/vaekit = {r:.2f})."
                    )
        ph = m.get(f"k{a['k_train']}", {})
        vk = {
            n: r.get("test_bound")
            for n, r in ph.items()
            if n.startswith("vaekit:") and r.get("test_bound") is not None and r.get("final_step") == a["budget"]
        }
        pe = {
            n: r.get("test_bound")
            for n, r in ph.items()
            if n.split(":")[0] in ("pyro", "storch")
            and r.get("test_bound") is not None
            and r.get("final_step") == a["budget"]
        }
        if vk and pe:
            bv, bp = max(vk, key=vk.get), max(pe, key=pe.get)
            verdict = "met" if vk[bv] >= pe[bp] else "MISSED"
            out.append(
                f"- {verdict} {model}: best vaekit bound {vk[bv]:.2f} ({bv}) vs best peer {pe[bp]:.2f} ({bp}) "
                f"after {a['budget']} steps (difference {vk[bv] - pe[bp]:+.2f} nats)."
            )
            for name, e in result["peer_map"].items():
                if name in pe and f"vaekit:{e}" in vk and vk[f"vaekit:{e}"] < pe[name]:
                    out.append(
                        f"  - {name} {pe[name]:.2f} beats its vaekit counterpart {LABEL[e]} "
                        f"{vk[f'vaekit:{e}']:.2f} ({vk[f'vaekit:{e}'] - pe[name]:+.2f} nats)."
                    )
    return out


def plots(result, docs):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    os.makedirs(docs, exist_ok=True)
    a = result["args"]
    written = []
    models = list(result["models"])
    # training curves
    fig, axes = plt.subplots(1, len(models), figsize=(7 * len(models), 5), squeeze=False)
    for ax, model in zip(axes[0], models):
        for name, r in result["models"][model].get(f"k{a['k_train']}", {}).items():
            c = r.get("curve")
            if not c:
                continue
            steps = sorted(int(s) for s in c)
            lib = name.split(":")[0]
            ax.plot(
                steps,
                [c[str(s)] if str(s) in c else c[s] for s in steps],
                label=name,
                linestyle={"vaekit": "-", "floor": ":", "pyro": "--", "storch": "-."}.get(lib, "-"),
            )
        ax.set_title(f"{model} SBN, K={a['k_train']}: validation IWAE bound (K={a['curve_k']})")
        ax.set_xlabel("training step")
        ax.set_ylabel("nats")
        firsts = [
            min(v for s, v in r["curve"].items() if int(s) > 0)
            for r in result["models"][model].get(f"k{a['k_train']}", {}).values()
            if r.get("curve")
        ]
        if firsts:
            ax.set_ylim(bottom=min(firsts) - 5)
        ax.legend(fontsize=6, ncol=2)
    fig.tight_layout()
    fig.savefig(os.path.join(docs, "training_curves.png"), dpi=110)
    plt.close(fig)
    written.append("training_curves.png")
    # time per step
    fig, axes = plt.subplots(len(models), 2, figsize=(14, 5 * len(models)), squeeze=False)
    for row, model in zip(axes, models):
        for ax, kkey in zip(row, (f"k{a['k_train']}", f"k{a['k_time']}")):
            ph = result["models"][model].get(kkey, {})
            names = [n for n in ph if ph[n].get("timing")]
            med = [ph[n]["timing"]["median_ms"] for n in names]
            lo = [m - ph[n]["timing"]["min_ms"] for n, m in zip(names, med)]
            hi = [ph[n]["timing"]["max_ms"] - m for n, m in zip(names, med)]
            colors = [
                {
                    "vaekit": "C0",
                    "vaekit_compiled": "C9",
                    "vaekit_noval": "C2",
                    "floor": "C7",
                    "pyro": "C3",
                    "storch": "C1",
                }[n.split(":")[0]]
                for n in names
            ]
            ax.barh(range(len(names)), med, xerr=[lo, hi], color=colors, error_kw={"lw": 0.6})
            ax.set_yticks(range(len(names)))
            ax.set_yticklabels(names, fontsize=6)
            ax.set_xscale("log")
            ax.set_xlabel("ms per training step (median; bars min-max)")
            ax.set_title(f"{model} SBN, {kkey.upper()}, batch {a['batch_size']}")
            ax.invert_yaxis()
    fig.tight_layout()
    fig.savefig(os.path.join(docs, "time_per_step.png"), dpi=110)
    plt.close(fig)
    written.append("time_per_step.png")
    # SNR and variance
    fig, axes = plt.subplots(2, len(models), figsize=(7 * len(models), 8), squeeze=False)
    for col, model in enumerate(models):
        res = (result["models"][model].get("snr") or {}).get("results", {})
        ks = sorted({int(k.split("@K=")[1]) for k in res})
        width = 0.8 / max(len(ks), 1)
        for row, (key, ylabel) in enumerate(
            (("snr_enc", "mean element-wise SNR, q(z|x) gradient"), ("var_enc", "total variance, q(z|x) gradient"))
        ):
            ax = axes[row][col]
            for i, k in enumerate(ks):
                vals = [res.get(f"vaekit:{e}@K={k}", {}).get(key, float("nan")) for e in ESTIMATORS]
                ax.bar([j + i * width for j in range(len(ESTIMATORS))], vals, width, label=f"K={k}")
            ax.set_xticks([j + 0.4 - width / 2 for j in range(len(ESTIMATORS))])
            ax.set_xticklabels([LABEL[e] for e in ESTIMATORS], rotation=30, ha="right", fontsize=7)
            ax.set_yscale("log")
            ax.set_ylabel(ylabel, fontsize=8)
            ax.set_title(
                f"{model} SBN: {'SNR' if row == 0 else 'variance'} of the inference-network gradient", fontsize=9
            )
            ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(os.path.join(docs, "snr.png"), dpi=110)
    plt.close(fig)
    written.append("snr.png")
    return written


def tables(result):
    a = result["args"]
    v = result["versions"]
    parts = [
        f"Run `{a['name']}` started {result['started']}, wall time {result.get('wall_s', 0) / 60:.1f} min. "
        f"torch {v['torch']}, pyro-ppl {v.get('pyro-ppl')}, storchastic {v.get('storchastic')}, "
        f"Python {v['python']}, {v['cpu_count']} CPU cores shared with other jobs, 1 torch thread per contender "
        f"process. Batch {a['batch_size']}, Adam lr {a['lr']}, seed {a['seed']}; "
        f"{a['budget']} training steps at K={a['k_train']}; {a['time_steps']} timing steps at K={a['k_time']}; "
        f"first {a['warmup']} steps of each contender untimed; timed in round-robin turns of {a['chunk']} steps. "
        f"Test bound: IWAE K={a['eval_k']} on {_test_set(result)}, one shared evaluator. "
        f"Git commit {v.get('git_commit', '')[:10]}."
    ]
    for model, m in result["models"].items():
        parts.append(f"\n## {model} SBN\n")
        for kkey in (f"k{a['k_train']}", f"k{a['k_time']}"):
            parts.append(f"\n### ms per training step, {kkey.upper()}: vaekit vs the hand-written floor\n")
            parts.append(timing_table(m, kkey))
            if any(peer in m.get(kkey, {}) for peer in result["peer_map"]):  # else: not in this run's contenders
                parts.append(f"\n### ms per training step, {kkey.upper()}: peers\n")
                parts.append(peer_table(m, kkey, result["peer_map"]))
        parts.append(f"\n### Test bound after the step budget, memory (K={a['k_train']} phase)\n")
        parts.append(
            f"Test bound: IWAE K={a['eval_k']} on {_test_set(result)} (nats, higher is better). "
            "Max RSS includes the interpreter, torch and the packed data (about 250 MiB common to all). "
            "RSS growth: from the end of warm-up to the last step.\n"
        )
        parts.append(f"Initial weights: {_f(m.get('init_bound_test'))} nats.\n")
        parts.append(bound_table(m, f"k{a['k_train']}", result["peer_map"]))
        kt = m.get(f"k{a['k_time']}", {})
        parts.append(
            f"\nMemory in the K={a['k_time']} phase (max RSS MiB / RSS growth MiB over its timed steps; growth "
            "over so few steps is allocator noise of a few MiB unless it is large): "
            + ", ".join(f"{n} {_f(r.get('max_rss_mib'), 0)}/{_f(r.get('rss_growth_mib'), 1)}" for n, r in kt.items())
        )
        if m.get("snr"):
            s = m["snr"]
            parts.append(
                f"\n### Gradient SNR ({s['definition']}; {s['draws']} draws; fixed training batch; "
                f"model state: {s.get('state')})\n"
            )
            parts.append(snr_table(m))
        comp = m.get(f"k{a['k_train']}", {})
        cw = [
            f"{n}: {r['first_step_ms'] / 1e3:.1f} s"
            for n, r in comp.items()
            if n.startswith("vaekit_compiled") and r.get("first_step_ms")
        ]
        if cw:
            parts.append("\nFirst (compiling) call of the compiled losses, excluded from the timings: " + "; ".join(cw))
        fails = [(n, r["error"]) for ph in ("k5", "k50") for n, r in m.get(ph, {}).items() if r["status"] != "ok"]
        if fails:
            parts.append("\nFailed contenders: " + "; ".join(f"{n}: {e}" for n, e in fails))
    parts.append("\n## Targets\n")
    parts += targets(result)
    return "\n".join(parts) + "\n"


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("results", help="a results JSON written by run.py")
    p.add_argument("--docs", default=str(REPO / "docs" / "benchmarks"))
    p.add_argument("--readme", default=str(HERE / "results" / "README.md"))
    p.add_argument("--page", default=str(REPO / "docs" / "benchmarks.md"))
    a = p.parse_args(argv)
    result = json.load(open(a.results))
    body = tables(result)
    figs = plots(result, a.docs)
    intro = open(HERE / "PAGE.md").read() if (HERE / "PAGE.md").exists() else "# Benchmarks\n"
    rel = os.path.relpath(a.docs, os.path.dirname(os.path.abspath(a.page)))
    extra = ""
    sections = (
        ("ratios.md", "CPU-time ratios (`benchmarks/ratios.py`)"),
        ("peers.md", "Peers: CPU-time ratios (`benchmarks/peers.py`)"),
        ("gpu.md", "GPU (`benchmarks/gpu.py`)"),
    )
    for name, title in sections:
        path = HERE / "results" / name
        if path.exists():  # the file's own H1 becomes this section's heading
            text = path.read_text().split("\n", 1)[1]
            extra += f"\n## {title}\n" + text.replace("\n## ", "\n### ")
    if not (HERE / "results" / "gpu.md").exists():
        extra += (
            "\n## GPU (`benchmarks/gpu.py`)\n\nNot measured: the machine of the committed run has no CUDA "
            "device. `python benchmarks/gpu.py` runs the section where one is present.\n"
        )
    with open(a.readme, "w") as f:
        f.write(
            "# Benchmark results\n\nGenerated by `benchmarks/report.py` from "
            f"`{os.path.relpath(a.results, REPO)}` (the training runs) and the CPU-time tables "
            "`ratios.md` and `peers.md` (the measurements of record for speed). Method and caveats: "
            "`docs/benchmarks.md`.\n" + extra + "\n## Results of the training runs (`benchmarks/run.py`)\n\n" + body
        )
    with open(a.page, "w") as f:
        f.write(
            intro
            + extra
            + "\n## Results of the training runs (`benchmarks/run.py`)\n\n"
            + body
            + "\n## Figures\n\n"
            + "\n".join(f"![{x[:-4].replace('_', ' ')}]({rel}/{x})\n" for x in figs)
        )
    print(f"wrote {a.readme}, {a.page}, {', '.join(figs)}")


if __name__ == "__main__":
    main()
