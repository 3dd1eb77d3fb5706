"""CPU-time ratios peer / vaekit for the algorithms vaekit shares with Pyro and Storchastic.

``python benchmarks/peers.py`` (run it with a Python that has pyro-ppl and storchastic, e.g. a
venv made with ``--system-site-packages``) writes ``benchmarks/results/peers.json`` and
``benchmarks/results/peers.md``. A peer that is not installed is recorded as failed, not dropped.

Protocol: linear SBN 784-200, batch 50, Adam lr 1e-3, the same initial weights
(``common.initial_state``) and the same batch order for every contender. Each contender runs in
its own process (``worker.py``; Storchastic patches torch on import, Pyro switches torch's
argument validation off process-wide), one torch thread. After ``--warmup`` untimed steps the
contenders take turns of ``--turn`` steps in a shuffled order, one process at a time, for
``--rounds`` rounds; a step's time is its process's CPU time (``time.process_time``), so load
from other jobs on the machine hardly counts and hits every contender alike. The ratio
peer / vaekit is taken per round (the same round, the vaekit estimator the peer implements);
the table gives the median and the min-max over rounds. The contenders and which vaekit
estimator each peer is compared with: ``contenders.PEERS``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
os.environ.setdefault("OMP_NUM_THREADS", "1")

import common  # noqa: E402
import contenders  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
import worker  # noqa: E402
from report import PEER_LABEL  # noqa: E402  (one table of peer names)
from run import _context, _recv  # noqa: E402

# Steps per turn at K=5 relative to --turn: Pyro's per-data-point RWS makes one call per data point.
SLOW = {"pyro:rws_point": 0.1}


def _versions():
    import importlib.metadata as md

    out = {"python": platform.python_version(), "torch": torch.__version__, "cpu_count": os.cpu_count()}
    for pkg in ("pyro-ppl", "storchastic"):
        try:
            out[pkg] = md.version(pkg)
        except md.PackageNotFoundError:
            out[pkg] = None
    return out


def time_k(k, args, state_path, order_path, log):
    """Interleaved CPU time of every contender at one K; per-round ms per step."""
    names = list(dict.fromkeys([f"vaekit:{v}" for v in args.peers.values()] + list(args.peers)))
    ctx = _context()
    procs, status = {}, {}
    for name in names:
        parent, child = ctx.Pipe()
        spec = dict(
            name=name, model="linear", k=k, lr=args.lr, seed=args.seed, data=args.data,
            state_path=state_path, order_path=order_path,
        )  # fmt: skip
        p = ctx.Process(target=worker.main, args=(child, spec), daemon=True)
        p.start()
        child.close()
        procs[name] = (p, parent)
    for name, (p, conn) in procs.items():
        r = _recv(p, conn)
        status[name] = "ok" if r["ok"] else f"failed to build: {r['error']}"
        if not r["ok"]:
            log(f"  K={k} {name}: {status[name]}")

    def run(name, n):
        p, conn = procs[name]
        conn.send(("steps", n))
        r = _recv(p, conn)
        if not r["ok"]:
            status[name] = f"failed: {r['error']}"
            log(f"  K={k} {name}: {status[name]}")
            return None
        return r

    turn = max(1, args.turn * 5 // k)
    for name in names:  # untimed warm-up: first-call costs (Pyro traces its model on the first step)
        if status[name] == "ok":
            run(name, max(1, round(args.warmup * SLOW.get(name, 1.0))))
    per_round = {name: [] for name in names}
    wall = {name: [] for name in names}
    rng = random.Random(args.seed)
    for rnd in range(args.rounds):
        order = [n for n in names if status[n] == "ok"]
        rng.shuffle(order)
        for name in order:
            r = run(name, max(1, round(turn * SLOW.get(name, 1.0))))
            if r is not None:
                per_round[name].append(1e3 * statistics.fmean(r["cpu_times"]))
                wall[name].append(1e3 * statistics.fmean(r["times"]))
        log(f"  K={k}: round {rnd + 1}/{args.rounds} done")
    for p, conn in procs.values():
        if p.is_alive():
            try:
                conn.send(("close", None))
                _recv(p, conn, timeout_s=60)
            except (OSError, EOFError):
                pass
        p.join(timeout=10)
    rows = []
    for peer, est in args.peers.items():
        v, pr = per_round[f"vaekit:{est}"], per_round[peer]
        row = {"peer": peer, "vaekit": est, "status": status[peer], "vaekit_status": status[f"vaekit:{est}"]}
        if v and pr and len(v) == len(pr):
            ratios = [a / b for a, b in zip(pr, v)]
            row.update(
                peer_ms=pr, vaekit_ms=v, peer_wall_ms=wall[peer], vaekit_wall_ms=wall[f"vaekit:{est}"],
                ratio_per_round=ratios, ratio_median=statistics.median(ratios),
                ratio_min=min(ratios), ratio_max=max(ratios),
            )  # fmt: skip
        rows.append(row)
    return {"k": k, "turn": turn, "rows": rows}


def markdown(res):
    a = res["args"]
    v = res["versions"]
    lines = [
        "# CPU-time ratios peer / vaekit",
        "",
        f"Run {res['started']}, {res['wall_s'] / 60:.1f} min; torch {v['torch']}, pyro-ppl {v['pyro-ppl']}, "
        f"storchastic {v['storchastic']}, Python {v['python']}; {v['cpu_count']} CPU cores shared with other jobs "
        f"(load average at start {res['load_at_start']}), 1 torch thread per contender process. Linear SBN "
        f"784-200, batch 50, Adam lr {a['lr']}. Per K: {a['warmup']} untimed warm-up steps, then {a['rounds']} "
        "shuffled rounds of one turn per contender (steps per turn below; Pyro's per-data-point RWS a tenth "
        "of them); CPU time (process_time) of each contender's process. Ratio = peer / vaekit CPU time per step "
        "in the same round: median (min-max over rounds); above 1, vaekit is faster. Pyro runs with its "
        "argument validation off (its faster setting).",
        "",
    ]
    for cfg in res["timing"]:
        lines += [
            f"## K={cfg['k']} ({cfg['turn']} steps per turn)",
            "",
            "| peer | compared with | peer ms/step | vaekit ms/step | peer / vaekit | status |",
            "|---|---|---|---|---|---|",
        ]
        for row in cfg["rows"]:
            label = PEER_LABEL.get(row["peer"], row["peer"])
            if "ratio_median" in row:
                lines.append(
                    f"| {label} | vaekit {row['vaekit']} | {statistics.median(row['peer_ms']):.2f} | "
                    f"{statistics.median(row['vaekit_ms']):.2f} | {row['ratio_median']:.2f} "
                    f"({row['ratio_min']:.2f}-{row['ratio_max']:.2f}) | {row['status']} |"
                )
            else:
                lines.append(f"| {label} | vaekit {row['vaekit']} | - | - | - | {row['status']} |")
        lines.append("")
    return "\n".join(lines)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default=str(common.DEFAULT_DATA))
    p.add_argument("--out", default=str(HERE / "results"))
    p.add_argument("--name", default="peers")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--ks", type=int, nargs="+", default=[5, 50])
    p.add_argument("--peers", nargs="+", default=list(contenders.PEERS), help="peer contenders (default: all)")
    p.add_argument("--rounds", type=int, default=6)
    p.add_argument("--turn", type=int, default=20, help="steps per turn at K=5, divided by K/5 above")
    p.add_argument("--warmup", type=int, default=10)
    a = p.parse_args(argv)
    a.peers = {name: contenders.PEERS[name] for name in a.peers}
    torch.set_num_threads(1)
    t0 = time.time()

    def log(msg):
        print(f"[{time.time() - t0:7.1f}s] {msg}", flush=True)

    res = {
        "args": {**vars(a)},
        "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "load_at_start": " ".join(f"{x:.1f}" for x in os.getloadavg()),
        "versions": _versions(),
        "timing": [],
    }
    train_n = len(common.load_packed(a.data, "train"))
    os.makedirs(a.out, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="vaekit_peers_") as tmp:
        order_path = os.path.join(tmp, "order.npy")
        np.save(order_path, common.batch_order(train_n, 50, 1000, a.seed))
        state_path = os.path.join(tmp, "linear_init.pt")
        torch.save(common.initial_state("linear", a.seed), state_path)
        for k in a.ks:
            log(f"K={k}: {len(a.peers)} peers and their vaekit estimators")
            res["timing"].append(time_k(k, a, state_path, order_path, log))
            res["wall_s"] = time.time() - t0
            with open(Path(a.out) / f"{a.name}.json", "w") as f:  # after every K: a partial run is kept
                json.dump(res, f, indent=1)
    md = markdown(res)
    (Path(a.out) / f"{a.name}.md").write_text(md)
    print(md)


if __name__ == "__main__":
    main()
