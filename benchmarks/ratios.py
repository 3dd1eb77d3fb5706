"""CPU-time ratios vaekit / floor per training step, and memory growth over a long loop.

``python benchmarks/ratios.py`` (about 15 min on 2 busy cores; ``--quick`` about 2 min) writes
``benchmarks/results/ratios.json`` and ``benchmarks/results/ratios.md``.

Timing: one torch thread, every contender built from the same initial weights
(``common.initial_state``) and fed the same MNIST batches. For each model and K, each
estimator's contenders (floor, vaekit, vaekit compiled) run in a fresh process of their own
(``--shared-process``: all in one; compiled losses in one process share dynamo's caches, and
every call then checks every loss's guards) and take turns of ``--turn`` steps in a shuffled
order, ``--turns`` turns per repeat; a contender's time for a repeat is the CPU time (``time.process_time``) of its steps in
that repeat, so load from other jobs on the machine inflates wall time but hardly CPU time,
and it hits every contender alike. The ratio vaekit / floor is taken per repeat (same repeat,
same estimator); the table gives the median and the min-max over repeats.

Contenders: ``floor`` (``floor.py``, the fastest plain PyTorch for each piece), ``vaekit`` (the
loss module on the built-in latents, eager, stepped by a plain ``zero_grad/backward/step``
loop), and ``vaekit compiled`` (``vaekit.make_train_step``: loss, backward and Adam compiled
together with Inductor; only for ``--compiled`` estimators: a CPU Inductor compile takes minutes
on the shared machine).

Memory (``--memory-steps``, default 20000): a plain loop of ``loss_fn(x).backward(); opt.step()``
over that many steps without reading the loss history, resident set size (RSS, from /proc)
after 1000 warm-up steps and at the end, for vaekit VIMCO and the floor, each in a fresh process,
on a small SBN (784-20, batch 20, K=5): what could leak per step does not depend on the model size.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import platform
import random
import resource
import statistics
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
os.environ.setdefault("OMP_NUM_THREADS", "1")

import common  # noqa: E402
import torch  # noqa: E402
from contenders import vaekit_loss  # noqa: E402
from floor import FloorTrainer  # noqa: E402

ESTIMATORS = ["vimco", "iwae", "reinforce_ma", "reinforce_nvil", "reinforce_loo", "rws", "wake_sleep"]


class VaekitStep:
    """vaekit's loss on the built-in latents, eager or through ``make_train_step``."""

    def __init__(self, est, model, state, k, lr, compiled=False):
        import vaekit
        from vaekit.latents import BernoulliEncoder, SigmoidBeliefNet

        h = common.hidden_of(model)
        self.inf = BernoulliEncoder(common.DATA_DIM, common.LATENT_DIM, hidden=h)
        self.gen = SigmoidBeliefNet(common.LATENT_DIM, common.DATA_DIM, hidden=h)
        self.inf.load_state_dict(state["enc"])
        self.gen.load_state_dict(state["dec"])
        self.loss_fn = vaekit_loss(est, self.inf, self.gen, k)
        self.opt = torch.optim.Adam(self.loss_fn.parameters(), lr=lr)
        self.train_step = vaekit.make_train_step(self.loss_fn, self.opt) if compiled else None

    def step(self, x):
        if self.train_step is not None:
            self.train_step(x)
            return
        self.opt.zero_grad(set_to_none=True)
        self.loss_fn(x).backward()
        self.opt.step()


def build(kind, est, model, state, k, lr):
    if kind == "floor":
        enc, dec = common.plain_models(model, state)
        return FloorTrainer(est, enc, dec, k, lr)
    return VaekitStep(est, model, state, k, lr, compiled=kind == "vaekit compiled")


def time_config(model, k, args, batches, log):
    """CPU-time measurement of every contender at one (model, K): rows, one per estimator.

    Each estimator's contenders (floor, vaekit, vaekit compiled) are timed interleaved in a fresh
    process of their own (``--shared-process``: all estimators' contenders interleaved in this
    one). Compiled losses in one process share dynamo's cache of ``Loss.forward`` and of the
    train step: with seven of them every call checks up to seven sets of guards, which no user
    who trains one loss pays.
    """
    if args.shared_process:
        return time_estimators(model, k, args.estimators, args, batches, log)
    ctx = mp.get_context("spawn")
    rows = []
    for est in args.estimators:
        parent, child = ctx.Pipe()
        p = ctx.Process(target=estimator_worker, args=(child, model, k, est, args))
        p.start()
        while True:
            kind, payload = parent.recv()
            if kind == "log":
                log(payload)
            else:
                rows += payload
                break
        p.join()
    return rows


def estimator_worker(conn, model, k, est, args):
    """One estimator's contenders at one (model, K), timed in this (fresh) process."""
    os.environ["OMP_NUM_THREADS"] = "1"
    torch.set_num_threads(1)
    if args.steady_heap:
        common.steady_heap()
    train = common.load_packed(args.data, "train")
    batches = [common.unpack(train[i * 50 : (i + 1) * 50]) for i in range(40)]
    rows = time_estimators(model, k, [est], args, batches, lambda msg: conn.send(("log", msg)))
    conn.send(("rows", rows))


def time_estimators(model, k, estimators, args, batches, log):
    """Interleaved CPU-time measurement of the contenders of ``estimators`` at one (model, K)."""
    state = common.initial_state(model, args.seed)
    cont = {}
    for est in estimators:
        compiled = est in args.compiled and f"{model}:{k}" in args.compiled_configs
        kinds = ["floor", "vaekit"] + (["vaekit compiled"] if compiled else [])
        for kind in kinds:
            torch.manual_seed(args.seed)
            t0 = time.time()
            c = build(kind, est, model, state, k, args.lr)
            for i in range(args.warmup):  # untimed: first-call costs, the compile of compiled ones
                c.step(batches[i % len(batches)])
            cont[(est, kind)] = c
            if kind == "vaekit compiled":
                log(f"  {model} K={k} {est}: compiled and warmed up in {time.time() - t0:.0f} s")
    per_repeat = {key: [] for key in cont}
    faults = dict.fromkeys(cont, 0)  # minor page faults, summed over the run
    sys_s = dict.fromkeys(cont, 0.0)  # system CPU time (inside process_time), summed over the run
    rng = random.Random(args.seed)
    n = 0
    for r in range(args.repeats):
        spent = dict.fromkeys(cont, 0.0)
        for _ in range(args.turns):
            order = list(cont)
            rng.shuffle(order)
            for key in order:
                c = cont[key]
                u0 = resource.getrusage(resource.RUSAGE_SELF)
                t0 = time.process_time()
                for _ in range(args.turn):
                    c.step(batches[n % len(batches)])
                    n += 1
                spent[key] += time.process_time() - t0
                u1 = resource.getrusage(resource.RUSAGE_SELF)
                faults[key] += u1.ru_minflt - u0.ru_minflt
                sys_s[key] += u1.ru_stime - u0.ru_stime
        for key in cont:
            per_repeat[key].append(1e3 * spent[key] / (args.turns * args.turn))  # ms per step
        log(f"  {model} K={k}: repeat {r + 1}/{args.repeats} done")
    steps = args.repeats * args.turns * args.turn
    rows = []
    for est in estimators:
        floor = per_repeat[(est, "floor")]
        row = {
            "estimator": est,
            "floor_ms": floor,
            "page_faults_per_step": {kind: faults[(e, kind)] / steps for (e, kind) in cont if e == est},
            "system_ms_per_step": {kind: 1e3 * sys_s[(e, kind)] / steps for (e, kind) in cont if e == est},
        }
        for kind in ("vaekit", "vaekit compiled"):
            if (est, kind) in per_repeat:
                ms = per_repeat[(est, kind)]
                ratios = [a / b for a, b in zip(ms, floor)]
                row[kind] = {
                    "ms": ms,
                    "ratio_per_repeat": ratios,
                    "ratio_median": statistics.median(ratios),
                    "ratio_min": min(ratios),
                    "ratio_max": max(ratios),
                }
        rows.append(row)
    return rows


def memory_worker(conn, kind, steps, seed, data):
    """A long plain loop on a small SBN (784-20, batch 20, VIMCO K=5): the per-step bookkeeping that
    could leak does not depend on the model size, and the small model keeps 20000 steps affordable."""
    os.environ["OMP_NUM_THREADS"] = "1"
    torch.set_num_threads(1)
    from torch import nn

    train = common.load_packed(data, "train")
    batches = [common.unpack(train[i * 20 : (i + 1) * 20]) for i in range(100)]
    torch.manual_seed(seed)
    enc = nn.Linear(common.DATA_DIM, 20)
    dec = common.PlainSBN(None)
    dec.prior_logits = nn.Parameter(torch.zeros(20))
    dec.net = nn.Linear(20, common.DATA_DIM)
    if kind == "floor":
        c = FloorTrainer("vimco", enc, dec, 5, 1e-3)
    else:
        import vaekit

        q, p = vaekit.BernoulliEncoder(common.DATA_DIM, 20), vaekit.SigmoidBeliefNet(20, common.DATA_DIM)
        q.net.load_state_dict(enc.state_dict())
        p.load_state_dict(dec.state_dict())
        loss_fn = vaekit.VIMCO(q, p, n_samples=5)
        opt = torch.optim.Adam(loss_fn.parameters(), lr=1e-3)
    trace = []
    for s in range(steps):
        x = batches[s % len(batches)]
        if kind == "floor":
            c.step(x)
        else:
            opt.zero_grad(set_to_none=True)
            loss_fn(x).backward()
            opt.step()
        if (s + 1) in (1000, 5000, 10000, 15000, steps):
            trace.append((s + 1, common.rss_mib()))
    conn.send(
        {
            "kind": kind,
            "rss_trace": trace,
            "growth_mib": trace[-1][1] - trace[0][1],
            "history_len": len(loss_fn.loss_history_) if kind == "vaekit" else None,
        }
    )


def memory(args, log):
    ctx = mp.get_context("spawn")
    out = {}
    for kind in ("floor", "vaekit"):
        parent, child = ctx.Pipe()
        t0 = time.time()
        p = ctx.Process(target=memory_worker, args=(child, kind, args.memory_steps, args.seed, args.data))
        p.start()
        out[kind] = parent.recv()
        p.join()
        log(
            f"  memory {kind}: {out[kind]['growth_mib']:+.2f} MiB from step 1000 to {args.memory_steps} "
            f"({time.time() - t0:.0f} s)"
        )
    return out


def markdown(res):
    a = res["args"]
    lines = [
        "# CPU-time ratios vaekit / floor",
        "",
        f"Run {res['started']}, {res['wall_s'] / 60:.1f} min; torch {res['versions']['torch']}, "
        f"{res['versions']['cpu_count']} CPU cores shared with other jobs (load average at start "
        f"{res['load_at_start']}, at the end {res.get('load_at_end', '?')}), 1 torch thread; git commit "
        f"{res.get('git_commit')}. Batch 50, Adam lr {a['lr']}, MNIST training batches. "
        + (
            "All contenders interleaved in one process. "
            if a.get("shared_process")
            else "Each estimator's contenders (floor, vaekit, compiled) interleaved in a fresh process of their own. "
        )
        + f"Per (model, K): {a['warmup']} untimed warm-up steps, then {a['repeats']} repeats of "
        f"{a['turns']} shuffled turns per contender ({a['turn']} steps per turn at K=5, fewer at larger K: "
        "see each table); CPU time (process_time). "
        "Ratio = vaekit / floor CPU time in the same repeat: median (min-max over repeats). "
        "Compiled: `vaekit.make_train_step` (Inductor, loss + backward + Adam). "
        + (
            "Heap: glibc malloc thresholds fixed (`common.steady_heap`: no trimming, no per-step mmap), so no "
            "step pays page faults for regrowing a heap another contender shrank."
            if res.get("steady_heap")
            else "Heap: glibc defaults (page faults from heap trimming land on whichever contender regrows it)."
        ),
        "",
    ]
    for cfg in res["timing"]:
        lines += [
            f"## {cfg['model']} SBN, K={cfg['k']} ({cfg['turn']} steps per turn)",
            "",
            "| estimator | floor ms/step | vaekit ms/step | vaekit / floor | compiled / floor "
            "| page faults per step (floor / vaekit) |",
            "|---|---|---|---|---|---|",
        ]
        for row in cfg["rows"]:
            v = row["vaekit"]
            c = row.get("vaekit compiled")
            cc = f"{c['ratio_median']:.3f} ({c['ratio_min']:.3f}-{c['ratio_max']:.3f})" if c else "-"
            pf = row.get("page_faults_per_step")
            faults = f"{pf['floor']:.1f} / {pf['vaekit']:.1f}" if pf else "-"
            lines.append(
                f"| {row['estimator']} | {statistics.median(row['floor_ms']):.2f} | "
                f"{statistics.median(v['ms']):.2f} | {v['ratio_median']:.3f} "
                f"({v['ratio_min']:.3f}-{v['ratio_max']:.3f}) | {cc} | {faults} |"
            )
        lines.append("")
    if res.get("memory"):
        m = res["memory"]
        lines += [
            "## Memory over a long loop (SBN 784-20, batch 20, VIMCO, K=5)",
            "",
            "| contender | RSS at step 1000 (MiB) | RSS at the end (MiB) | growth (MiB) |",
            "|---|---|---|---|",
        ]
        for kind, r in m.items():
            lines.append(
                f"| {kind} | {r['rss_trace'][0][1]:.1f} | {r['rss_trace'][-1][1]:.1f} | {r['growth_mib']:+.2f} |"
            )
        lines += ["", f"Steps: {a['memory_steps']}; the loss history was not read during the loop.", ""]
    lines += ["## Targets (issue 9; median over repeats)", ""]
    for cfg in res["timing"]:
        for row in cfg["rows"]:
            for kind, limit in (("vaekit", 1.05), ("vaekit compiled", 1.0)):
                r = row.get(kind)
                if r is not None:
                    ok = "met" if r["ratio_median"] <= limit else "MISSED"
                    lines.append(
                        f"- {cfg['model']} K={cfg['k']} {row['estimator']} {kind}: {r['ratio_median']:.3f} "
                        f"(target <= {limit}): {ok}"
                    )
    if res.get("memory"):
        g = res["memory"]["vaekit"]["growth_mib"]
        lines.append(
            f"- memory growth of vaekit over {a['memory_steps']} steps: {g:+.2f} MiB (target < 5): "
            + ("met" if g < 5 else "MISSED")
        )
    return "\n".join(lines) + "\n"


def figure(res, path):
    """One figure for "how close to the floor": vaekit / floor CPU time per estimator and config."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cfgs = res["timing"]
    ests = [row["estimator"] for row in cfgs[0]["rows"]]
    fig, ax = plt.subplots(figsize=(9, 3.8))
    width = 0.8 / max(len(cfgs), 1)
    for i, cfg in enumerate(cfgs):
        xs = [j + (i - (len(cfgs) - 1) / 2) * width for j in range(len(ests))]
        rows = {row["estimator"]: row["vaekit"] for row in cfg["rows"]}
        med = [rows[e]["ratio_median"] for e in ests]
        lo = [rows[e]["ratio_median"] - rows[e]["ratio_min"] for e in ests]
        hi = [rows[e]["ratio_max"] - rows[e]["ratio_median"] for e in ests]
        ax.errorbar(xs, med, yerr=[lo, hi], fmt="o", capsize=3, label=f"{cfg['model']} K={cfg['k']}")
    ax.axhline(1.0, color="k", lw=0.8)
    ax.axhline(1.05, color="k", lw=0.8, ls="--")
    ax.text(len(ests) - 0.5, 1.052, "target 1.05", ha="right", va="bottom", fontsize=8)
    ax.set_xticks(range(len(ests)))
    ax.set_xticklabels(ests, rotation=20)
    ax.set_ylabel("vaekit / floor (CPU time per step)")
    lo_all = min(r["vaekit"]["ratio_min"] for c in cfgs for r in c["rows"])
    hi_all = max(r["vaekit"]["ratio_max"] for c in cfgs for r in c["rows"])
    ax.set_ylim(min(0.85, lo_all - 0.02), max(1.15, hi_all + 0.02))
    ax.set_title("Eager vaekit step vs the hand-written floor (median, min-max over repeats)")
    ax.legend(fontsize=8, ncol=len(cfgs))
    fig.tight_layout()
    os.makedirs(os.path.dirname(path), exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _git_commit():
    import subprocess

    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=HERE, capture_output=True, text=True, timeout=10)
        return out.stdout.strip()[:10] or None
    except OSError:
        return None


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default=str(common.DEFAULT_DATA))
    p.add_argument("--out", default=str(HERE / "results"))
    p.add_argument("--name", default="ratios")
    p.add_argument("--quick", action="store_true")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument(
        "--configs",
        nargs="+",
        default=["linear:5", "linear:50", "nonlinear:5"],
        help="model:K pairs (default: %(default)s)",
    )
    p.add_argument("--estimators", nargs="+", default=ESTIMATORS)
    p.add_argument("--compiled", nargs="*", default=["vimco"], help="estimators also timed compiled")
    p.add_argument(
        "--compiled-configs",
        nargs="*",
        default=["linear:5", "linear:50"],
        help="model:K pairs where the --compiled estimators are timed",
    )
    p.add_argument("--repeats", type=int, default=None, help="(default 5; quick 2)")
    p.add_argument("--turns", type=int, default=None, help="turns per repeat (default 4; quick 1)")
    p.add_argument("--turn", type=int, default=None, help="steps per turn at K=5, divided by K/5 above (default 10)")
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--memory-steps", type=int, default=None, help="(default 20000; quick 2000; 0 skips)")
    p.add_argument(
        "--figure",
        default=str(common.REPO_ROOT / "docs" / "benchmarks" / "ratios.png"),
        help="where the figure goes (default: %(default)s; with --quick beside the results)",
    )
    p.add_argument("--report", default=None, metavar="JSON", help="only rebuild the table and figure from a JSON")
    p.add_argument(
        "--shared-process",
        action="store_true",
        help="time every estimator's contenders interleaved in one process (default: a process per estimator)",
    )
    p.add_argument(
        "--default-heap",
        action="store_true",
        help="keep glibc's default malloc thresholds (heap trimming: page faults land on whichever contender regrows it)",
    )
    a = p.parse_args(argv)
    if a.report:
        res = json.loads(Path(a.report).read_text())
        Path(a.report).with_suffix(".md").write_text(markdown(res))
        figure(res, a.figure)
        return
    a.repeats = a.repeats or (2 if a.quick else 5)
    a.turns = a.turns or (1 if a.quick else 4)
    a.turn = a.turn or (4 if a.quick else 10)
    if a.memory_steps is None:
        a.memory_steps = 2000 if a.quick else 20000
    if a.quick:
        a.name = a.name + "_quick"
        a.figure = str(Path(a.out) / "ratios_quick.png")
    torch.set_num_threads(1)
    steady = False if a.default_heap else common.steady_heap()  # before the contenders allocate
    a.steady_heap = steady  # the workers do the same
    if a.compiled:
        # Every loss class (and K) compiles its own Loss.forward: more than dynamo's default 8 per code
        # object in one process, after which it would silently run later contenders half-compiled.
        import torch._dynamo as dynamo

        dynamo.config.recompile_limit = 64
    t0 = time.time()

    def log(msg):
        print(f"[{time.time() - t0:7.1f}s] {msg}", flush=True)

    train = common.load_packed(a.data, "train")
    batches = [common.unpack(train[i * 50 : (i + 1) * 50]) for i in range(40)]
    res = {
        "args": vars(a),
        "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "load_at_start": " ".join(f"{v:.1f}" for v in os.getloadavg()),
        "versions": {"torch": torch.__version__, "python": platform.python_version(), "cpu_count": os.cpu_count()},
        "git_commit": _git_commit(),
        "steady_heap": steady,
        "timing": [],
    }
    os.makedirs(a.out, exist_ok=True)

    def save():  # after every config: a partial run is never lost
        res["wall_s"] = time.time() - t0
        res["load_at_end"] = " ".join(f"{v:.1f}" for v in os.getloadavg())
        with open(Path(a.out) / f"{a.name}.json", "w") as f:
            json.dump(res, f, indent=1)

    for cfg in a.configs:
        model, k = cfg.split(":")
        k = int(k)
        base_turn = a.turn
        a.turn = max(3, base_turn * 5 // k) if k > 5 else base_turn
        log(f"{model} K={k}: timing {len(a.estimators)} estimators")
        res["timing"].append({"model": model, "k": k, "turn": a.turn, "rows": time_config(model, k, a, batches, log)})
        a.turn = base_turn
        save()
    if a.memory_steps:
        log(f"memory over {a.memory_steps} steps")
        res["memory"] = memory(a, log)
    save()
    md = markdown(res)
    (Path(a.out) / f"{a.name}.md").write_text(md)
    figure(res, a.figure)
    print(md)


if __name__ == "__main__":
    main()
