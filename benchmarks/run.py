"""Run the whole benchmark end to end: ``python benchmarks/run.py`` (add ``--quick`` for a smoke run).

For each model (linear SBN 784-200, nonlinear SBN with one 200-unit tanh layer each way):
  1. K=5 phase: every contender (vaekit, the hand-written floor, vaekit compiled, Pyro, Storchastic)
     starts in its own process from the same initial weights and walks the same batch order with
     Adam. Steps run round-robin in short chunks, one process at a time, so machine load hits
     all contenders alike. Each step is timed (zero_grad + loss + backward + optimizer step);
     checkpoints are saved for the training curves and the final state for the test bound.
  2. K=50 phase: the same, for timing only.
  3. Gradient SNR of every estimator on one fixed batch and model state (``snr.py``).
  4. The one shared evaluator (``common.iwae_bound``) scores every checkpoint and final state.
Results: ``benchmarks/results/<run>.json``, the tables ``benchmarks/results/README.md`` and
plots in ``docs/benchmarks/`` (``report.py``).
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import multiprocessing as mp
import os
import platform
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


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default=str(common.DEFAULT_DATA), help="binarized MNIST npz (default: %(default)s)")
    p.add_argument(
        "--out", default=None, help="results folder (default benchmarks/results; with --quick benchmarks/results/quick)"
    )
    p.add_argument(
        "--docs",
        default=None,
        help="plots folder; the page goes beside it as <folder>.md (default docs/benchmarks; with "
        "--quick <out>/benchmarks), so a quick run never overwrites the committed results",
    )
    p.add_argument("--name", default=None, help="result file stem (default: full or quick)")
    p.add_argument("--quick", action="store_true", help="a smoke run: few steps, small evaluation")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--models", nargs="+", default=["linear", "nonlinear"], choices=["linear", "nonlinear"])
    p.add_argument("--contenders", nargs="+", default=["*"], help="glob patterns over contender names")
    p.add_argument("--no-compiled", action="store_true", help="skip the compiled vaekit contenders")
    p.add_argument(
        "--no-gpu",
        dest="gpu",
        action="store_false",
        help="skip the GPU section (benchmarks/gpu.py), which runs at the end when CUDA is present",
    )
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--batch-size", type=int, default=50)
    p.add_argument("--k-train", type=int, default=5, help="K of the training phase (bound and timing)")
    p.add_argument("--k-time", type=int, default=50, help="K of the timing-only phase")
    p.add_argument("--budget", type=int, default=None, help="training steps for the bound (full 600, quick 40)")
    p.add_argument("--time-steps", type=int, default=None, help="steps in the timing-only phase (full 60, quick 12)")
    p.add_argument(
        "--slow-steps",
        type=int,
        default=None,
        help="step cap for the timing-only vaekit variants (compiled, validation off) (full 150, quick 12)",
    )
    p.add_argument("--warmup", type=int, default=None, help="untimed first steps (full 10, quick 3)")
    p.add_argument(
        "--chunk",
        type=int,
        default=None,
        help="steps per round-robin turn, halved in the timing-only phase (full 20, quick 4)",
    )
    p.add_argument("--curve-every", type=int, default=None, help="checkpoint every N steps (full 100)")
    p.add_argument("--eval-k", type=int, default=None, help="K of the final test bound (full 1000)")
    p.add_argument(
        "--eval-n",
        type=int,
        default=None,
        help="test images scored: a seeded random subset of the test split (0: the whole split, 10000 "
        "images; full 1000, quick 100)",
    )
    p.add_argument("--curve-k", type=int, default=None, help="K of the curve bound (full 50)")
    p.add_argument(
        "--curve-n", type=int, default=None, help="validation images per curve point, a seeded random subset (full 200)"
    )
    p.add_argument("--snr-draws", type=int, default=None, help="gradient draws for the SNR (full 100)")
    a = p.parse_args(argv)
    full = dict(
        budget=600,
        time_steps=60,
        slow_steps=150,
        warmup=10,
        chunk=20,
        curve_every=100,
        eval_k=1000,
        eval_n=1000,
        curve_k=50,
        curve_n=200,
        snr_draws=100,
    )
    quick = dict(
        budget=40,
        time_steps=12,
        slow_steps=12,
        warmup=3,
        chunk=4,
        curve_every=20,
        eval_k=100,
        eval_n=100,
        curve_k=20,
        curve_n=100,
        snr_draws=20,
    )
    for k, v in (quick if a.quick else full).items():
        if getattr(a, k) is None:
            setattr(a, k, v)
    a.name = a.name or ("quick" if a.quick else "full")
    if a.out is None:
        a.out = str(HERE / "results" / "quick") if a.quick else str(HERE / "results")
    if a.docs is None:
        a.docs = str(Path(a.out) / "benchmarks") if a.quick else str(common.REPO_ROOT / "docs" / "benchmarks")
    return a


def summarize(times_s):
    ms = [t * 1e3 for t in times_s]
    if not ms:
        return None
    q = statistics.quantiles(ms, n=10) if len(ms) > 1 else [ms[0]] * 9
    return {
        "median_ms": statistics.median(ms),
        "min_ms": min(ms),
        "max_ms": max(ms),
        "mean_ms": statistics.fmean(ms),
        "p10_ms": q[0],
        "p90_ms": q[-1],
        "n": len(ms),
    }


def round_robin(names, args, model, k, n_steps, state_path, order_path, ckpt_dir, curve_every, rng, log):
    """Run every contender for its step count, interleaved; return per-contender records."""
    ctx = _context()
    procs = {}
    for name in names:
        parent, child = ctx.Pipe()
        spec = dict(
            name=name,
            model=model,
            k=k,
            lr=args.lr,
            seed=args.seed,
            data=args.data,
            state_path=state_path,
            order_path=order_path,
        )
        p = ctx.Process(target=worker.main, args=(child, spec), daemon=True)
        p.start()
        child.close()  # so that a dead worker shows up as EOF here instead of a hang
        procs[name] = (p, parent)
    rec = {}
    for name, (p, conn) in procs.items():
        r = _recv(p, conn)
        rec[name] = {
            "status": "ok" if r["ok"] else "failed",
            "error": r.get("error"),
            "traceback": r.get("traceback"),
            "rss_after_build_mib": r.get("rss_mib"),
            "steps": 0,
            "times": [],
            "warmup_times": [],
            "rss_trace": [],
            "checkpoints": {},
            "planned_steps": n_steps[name],
        }
        if not r["ok"]:
            log(f"  {name}: FAILED to build: {r['error']}")

    def send(name, cmd, arg):
        p, conn = procs[name]
        try:
            conn.send((cmd, arg))
        except OSError as e:
            r = {"ok": False, "error": f"worker process unreachable: {e} (exit code {p.exitcode})"}
        else:
            r = _recv(p, conn)
        if not r["ok"]:
            rec[name].update(status="failed", error=r["error"], traceback=r.get("traceback"))
            log(f"  {name}: FAILED at step {r.get('step')}: {r['error']}")
        return r

    def active(name):
        return rec[name]["status"] == "ok" and rec[name]["steps"] < n_steps[name]

    def maybe_checkpoint(name):
        s = rec[name]["steps"]
        if name.startswith(("vaekit_compiled", "vaekit_noval")):
            return  # the same estimator as vaekit's default one: timed only
        if ckpt_dir is not None and (s % curve_every == 0 or s == n_steps[name]):
            path = os.path.join(ckpt_dir, f"{model}_{name.replace(':', '__')}_{s}.pt")
            r = send(name, "save", path)
            if r["ok"]:
                rec[name]["checkpoints"][s] = path
                rec[name]["info"] = r["info"]

    t_start = time.time()
    # Warm-up: untimed first steps (graph tracing, torch.compile, allocator), one contender at a time.
    for name in names:
        if active(name):
            r = send(name, "steps", min(args.warmup, n_steps[name]))
            if r["ok"]:
                rec[name]["warmup_times"] = r["times"]
                rec[name]["steps"] = r["step"]
                rec[name]["rss_after_warmup_mib"] = r["rss_mib"]
    n_round = 0
    while any(active(n) for n in names):
        order = [n for n in names if active(n)]
        rng.shuffle(order)
        for name in order:
            s = rec[name]["steps"]
            # Shorter turns in the timing-only phase: more interleaving over fewer steps.
            todo = min(args.chunk if ckpt_dir is not None else max(1, args.chunk // 2), n_steps[name] - s)
            if ckpt_dir is not None:
                todo = min(todo, curve_every - s % curve_every)
            r = send(name, "steps", todo)
            if r["ok"]:
                rec[name]["times"] += r["times"]
                rec[name]["steps"] = r["step"]
                rec[name]["rss_trace"].append((r["step"], r["rss_mib"]))
                maybe_checkpoint(name)
        n_round += 1
        if n_round % 10 == 0:
            done = sum(rec[n]["steps"] for n in names)
            log(f"  round {n_round}: {done}/{sum(n_steps.values())} steps, {time.time() - t_start:.0f}s")
    for name, (p, conn) in procs.items():
        try:
            conn.send(("close", None))
        except OSError:
            continue
        r = _recv(p, conn)
        rec[name]["max_rss_mib"] = r.get("max_rss_mib")
        rec[name]["rss_end_mib"] = r.get("rss_mib")
        p.join(timeout=30)
    for name in names:
        r = rec[name]
        r["timing"] = summarize(r.pop("times"))
        r["first_step_ms"] = r["warmup_times"][0] * 1e3 if r["warmup_times"] else None
        r["warmup_ms"] = [t * 1e3 for t in r.pop("warmup_times")]
        if r.get("rss_after_warmup_mib") is not None and r.get("rss_end_mib") is not None:
            timed_steps = r["steps"] - len(r["warmup_ms"])
            r["rss_growth_mib"] = r["rss_end_mib"] - r["rss_after_warmup_mib"]
            r["rss_growth_mib_per_1000_steps"] = 1000 * r["rss_growth_mib"] / max(timed_steps, 1)
    return rec


def _recv(p, conn, timeout_s=1800):
    """The worker's reply, or a failure record if it died or went silent."""
    waited = 0.0
    while not conn.poll(1.0):
        waited += 1.0
        if not p.is_alive():
            return {"ok": False, "error": f"worker process died (exit code {p.exitcode})"}
        if waited > timeout_s:
            p.kill()
            return {"ok": False, "error": f"worker gave no reply in {timeout_s} s; killed"}
    try:
        return conn.recv()
    except EOFError:
        p.join(timeout=5)
        return {"ok": False, "error": f"worker process died (exit code {p.exitcode})"}


def _context():
    """Fork-server processes: torch is imported once in the server, so a fresh contender process
    costs a fork, not a torch import; every library under test is imported only in its child."""
    ctx = mp.get_context("forkserver")
    ctx.set_forkserver_preload(["torch", "numpy"])
    return ctx


def versions():
    import importlib.metadata as md

    out = {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "torch": torch.__version__,
        "numpy": np.__version__,
        "cpu_count": os.cpu_count(),
        "torch_threads_per_worker": 1,
    }
    for pkg in ("vaekit", "pyro-ppl", "storchastic", "entmax"):
        try:
            out[pkg] = md.version(pkg)
        except md.PackageNotFoundError:
            out[pkg] = None
    try:
        import subprocess

        out["git_commit"] = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=common.REPO_ROOT, capture_output=True, text=True
        ).stdout.strip()
    except OSError:
        out["git_commit"] = None
    return out


def main(argv=None):
    args = parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    out_json = Path(args.out) / f"{args.name}.json"
    t0 = time.time()

    def log(msg):
        print(f"[{time.time() - t0:7.1f}s] {msg}", flush=True)

    names = [
        n
        for n in contenders.all_contenders(compiled=not args.no_compiled)
        if any(fnmatch.fnmatch(n, pat) for pat in args.contenders)
    ]
    result = {
        "args": vars(args),
        "versions": versions(),
        "contenders": names,
        "peer_map": contenders.PEERS,
        "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "models": {},
    }
    rng = np.random.RandomState(args.seed)
    train_n = len(common.load_packed(args.data, "train"))
    # Seeded random subsets (never "the first N": a split stored in label order would score one digit).
    test_all = common.load_packed(args.data, "test")
    test_rows = common.subset_rows(len(test_all), args.eval_n, seed=args.seed + 101)
    test_x = common.unpack(test_all[test_rows])
    valid_all = common.load_packed(args.data, "valid")
    valid_x = common.unpack(valid_all[common.subset_rows(len(valid_all), args.curve_n, seed=args.seed + 102)])
    result["test_set"] = {
        "split": "test",
        "n": len(test_rows),
        "of": len(test_all),
        "rows": "all"
        if len(test_rows) == len(test_all)
        else f"numpy RandomState({args.seed + 101}).choice({len(test_all)}, {len(test_rows)}, replace=False)",
    }
    result["curve_set"] = {
        "split": "valid",
        "n": len(valid_x),
        "of": len(valid_all),
        "rows": f"numpy RandomState({args.seed + 102}).choice({len(valid_all)}, {len(valid_x)}, replace=False)",
    }
    with tempfile.TemporaryDirectory(prefix="vaekit_bench_") as tmp:
        order_path = os.path.join(tmp, "order.npy")
        np.save(order_path, common.batch_order(train_n, args.batch_size, args.budget, args.seed))
        for model in args.models:
            res = result["models"].setdefault(model, {})
            state_path = os.path.join(tmp, f"{model}_init.pt")
            init = common.initial_state(model, args.seed)
            torch.save(init, state_path)

            def steps_for(name, base):
                slow = name.startswith(("vaekit_compiled", "vaekit_noval"))
                return min(base, args.slow_steps) if slow else base

            log(f"{model}: K={args.k_train} phase (training {args.budget} steps + timing) over {len(names)} contenders")
            train = round_robin(
                names,
                args,
                model,
                args.k_train,
                {n: steps_for(n, args.budget) for n in names},
                state_path,
                order_path,
                tmp,
                args.curve_every,
                rng,
                log,
            )
            res[f"k{args.k_train}"] = train
            _dump(result, out_json)
            log(f"{model}: K={args.k_time} phase (timing {args.time_steps} steps)")
            res[f"k{args.k_time}"] = round_robin(
                names,
                args,
                model,
                args.k_time,
                {n: steps_for(n, args.time_steps) for n in names},
                state_path,
                order_path,
                None,
                args.curve_every,
                rng,
                log,
            )
            _dump(result, out_json)

            log(f"{model}: gradient SNR")
            res["snr"] = run_snr(args, model, train, tmp)
            _dump(result, out_json)

            log(
                f"{model}: evaluating (test K={args.eval_k} on {args.eval_n} images; curves K={args.curve_k} "
                f"on {args.curve_n} validation images)"
            )
            res["init_bound_test"] = common.iwae_bound(model, init, test_x, k=args.eval_k, seed=args.seed + 1)
            for name, r in train.items():
                if not r["checkpoints"]:
                    continue
                r["curve"] = {0: common.iwae_bound(model, init, valid_x, k=args.curve_k, seed=args.seed + 2)}
                for s, path in sorted(r["checkpoints"].items()):
                    st = torch.load(path, weights_only=True)
                    r["curve"][s] = common.iwae_bound(model, st, valid_x, k=args.curve_k, seed=args.seed + 2)
                last = max(r["checkpoints"])
                r["final_step"] = last
                r["test_bound"] = common.iwae_bound(
                    model,
                    torch.load(r["checkpoints"][last], weights_only=True),
                    test_x,
                    k=args.eval_k,
                    seed=args.seed + 1,
                )
                log(f"  {name}: test bound {r['test_bound']:.2f} after {last} steps")
            for r in train.values():
                r.pop("checkpoints", None)
            _dump(result, out_json)
    result["finished"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    result["wall_s"] = time.time() - t0
    _dump(result, out_json)
    log(f"wrote {out_json}")
    import report

    report.main(
        [
            str(out_json),
            "--docs",
            args.docs,
            "--readme",
            str(Path(args.out) / "README.md"),
            "--page",
            str(Path(args.docs).parent / (Path(args.docs).name + ".md")),
        ]
    )
    log("report written")
    if args.gpu:
        import gpu

        if torch.cuda.is_available():
            log("GPU section (benchmarks/gpu.py)")
            gpu.main(["--data", args.data, "--out", args.out])
        else:
            log("no CUDA device: GPU section skipped (python benchmarks/gpu.py runs it where one is present)")


def run_snr(args, model, train_rec, tmp):
    """Gradient SNR in a separate process (vaekit + floor), on vaekit VIMCO's final state."""
    ref = train_rec.get("vaekit:vimco") or {}
    ckpts = ref.get("checkpoints") or {}
    state_path = ckpts[max(ckpts)] if ckpts else os.path.join(tmp, f"{model}_init.pt")
    ctx = _context()
    parent, child = ctx.Pipe()
    import snr

    p = ctx.Process(
        target=snr.main,
        args=(
            child,
            dict(
                model=model,
                state_path=state_path,
                data=args.data,
                seed=args.seed,
                ks=[args.k_train, args.k_time],
                draws=args.snr_draws,
                batch_size=args.batch_size,
                adapt_steps=args.budget // 4,
                lr=args.lr,
            ),
        ),
        daemon=True,
    )
    p.start()
    child.close()
    out = _recv(p, parent)
    p.join(timeout=30)
    if "results" not in out:
        out = {"error": out.get("error"), "results": {}, "definition": "", "draws": args.snr_draws}
    out["state"] = "vaekit:vimco after its training budget" if ckpts else "initial weights"
    return out


def _dump(result, path):
    tmp = str(path) + ".tmp"
    with open(tmp, "w") as f:
        json.dump(result, f, indent=1, default=str)
    os.replace(tmp, path)


if __name__ == "__main__":
    main()
