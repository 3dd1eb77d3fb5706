"""vaekit.mi against torch-mist on the same tasks, data, critics, optimiser and step budget.

Run from the repository root with the interpreter that has torch-mist (its own venv):

    /work/venvs/i14/bin/python benchmarks/mi/run.py            # the committed results
    /work/venvs/i14/bin/python benchmarks/mi/run.py --quick    # a smoke run

For every task and estimator both libraries train in lockstep on the same minibatches (same
seeded training set, same batch order), each with Adam at the same learning rate, for the same
number of steps; the critic architectures are the same (see ``critics`` below). After training,
each library's own estimate is evaluated on the same held-out test set, in batches of the
training size, and compared with the closed-form MI. The CPU time (``time.process_time``) of each
training step is accumulated per library, interleaved step by step within one process, so the
ratio torch-mist / vaekit is free of machine-load drift. One thread (``torch.set_num_threads(1)``).
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from vaekit import mi  # noqa: E402
from vaekit.mi.tasks import get_task  # noqa: E402

ESTIMATORS = ["infonce", "nwj", "mine", "js", "smile", "tuba", "alpha_tuba", "flo", "ba", "doe", "club", "l1out"]
SEPARABLE = {"infonce", "flo"}  # the others use a joint critic (they need f = log r exactly)
TASKS = [
    "1v1-normal-0.75",
    "multinormal-dense-5-5-0.5",
    "multinormal-sparse-3-3-2-0.8-0.1",
    "wiggly-1v1-normal-0.75",
    "student-identity-2-2-1",
    "1v1-additive-0.1",
]


def vaekit_estimator(name, dx, dy, hidden, embed, task):
    if name in ("ba", "doe", "club", "l1out"):
        return mi.make_estimator(name, dx, dy, hidden=hidden, entropy_y=getattr(task, "entropy_y", None))
    critic = (
        mi.SeparableCritic(dx, dy, hidden=hidden[:1], embed_dim=embed)
        if name in SEPARABLE
        else mi.JointCritic(dx, dy, hidden=hidden)
    )
    return mi.make_estimator(name, dx, dy, critic=critic, hidden=hidden, alpha=0.01, ema_decay=0.9, tau=5.0)


def torch_mist_estimator(name, dx, dy, hidden, embed, task):
    import torch_mist.estimators as tme

    if name in ("ba", "doe", "club", "l1out"):
        if name == "ba":
            return tme.ba(x_dim=dx, y_dim=dy, hidden_dims=list(hidden), entropy_y=float(task.entropy_y))
        return getattr(tme, name)(x_dim=dx, y_dim=dy, hidden_dims=list(hidden))
    # neg_samples=-1: the N - 1 other pairs of the batch, vaekit's marginal sample. InfoNCE keeps
    # torch-mist's default 0 (the whole batch, joint pair included): with -1 its normaliser drops
    # the joint pair, which is a different estimator (not a bound, no log N cap).
    kw = dict(x_dim=dx, y_dim=dy, neg_samples=0 if name == "infonce" else -1)
    if name in SEPARABLE:
        kw.update(critic_type="separable", hidden_dims=[hidden[0], embed])
    else:
        kw.update(critic_type="joint", hidden_dims=list(hidden))
    if name == "alpha_tuba":
        kw["alpha"] = 0.01
    if name == "mine":
        kw["gamma"] = 0.9
    if name == "smile":
        kw["tau"] = 5.0
    return getattr(tme, name)(**kw)


def evaluate(value_fn, module, x, y, batch):
    module.eval()
    total, count = 0.0, 0
    with torch.no_grad():
        for s in range(0, x.shape[0] - batch + 1, batch):
            v = float(value_fn(x[s : s + batch], y[s : s + batch]))
            total, count = total + v * batch, count + batch
    module.train()
    return total / count


def run_pair(task_name, name, args, seed):
    task = get_task(task_name)
    if name == "ba" and getattr(task, "entropy_y", None) is None:
        return None  # BA needs H(Y) in closed form: Gaussian tasks only
    g = torch.Generator().manual_seed(seed)
    x, y = task.sample(args.n_train + args.n_test, generator=g)
    mx, sx, my, sy = (
        x[: args.n_train].mean(0),
        x[: args.n_train].std(0),
        y[: args.n_train].mean(0),
        y[: args.n_train].std(0),
    )
    x, y = (x - mx) / sx, (y - my) / sy
    # Standardising Y rescales H(Y): BA's entropy must follow (H(aY) = H(Y) + sum log a).
    shift = -float(torch.log(sy).sum()) if name == "ba" else 0.0
    xtr, ytr, xte, yte = x[: args.n_train], y[: args.n_train], x[args.n_train :], y[args.n_train :]
    dx, dy = x.shape[1], y.shape[1]
    torch.manual_seed(seed)
    vk = vaekit_estimator(name, dx, dy, args.hidden, args.embed, task)
    if name == "ba":
        vk = mi.make_estimator("ba", dx, dy, hidden=args.hidden, entropy_y=task.entropy_y + shift)
    torch.manual_seed(seed)

    class _T:  # entropy after standardisation for torch-mist's BA
        entropy_y = (task.entropy_y + shift) if name == "ba" else None

    tm = torch_mist_estimator(name, dx, dy, args.hidden, args.embed, _T)
    opt_vk = torch.optim.Adam(vk.parameters(), lr=args.lr)
    opt_tm = torch.optim.Adam(tm.parameters(), lr=args.lr)
    t_vk = t_tm = 0.0
    failed = {"vk": None, "tm": None}  # a library whose step raised or went non-finite stops there
    order = torch.Generator().manual_seed(seed + 1)
    step = 0
    while step < args.steps:
        perm = torch.randperm(args.n_train, generator=order)
        for s in range(0, args.n_train - args.batch + 1, args.batch):
            if step >= args.steps:
                break
            xb, yb = xtr[perm[s : s + args.batch]], ytr[perm[s : s + args.batch]]
            first_vk = step % 2 == 0  # alternate which library goes first
            for lib in ("vk", "tm") if first_vk else ("tm", "vk"):
                if failed[lib] is not None:
                    continue
                t0 = time.process_time()
                try:
                    if lib == "vk":
                        opt_vk.zero_grad(set_to_none=True)
                        (-vk(xb, yb)).backward()
                        opt_vk.step()
                    else:
                        opt_tm.zero_grad(set_to_none=True)
                        loss = tm.loss(xb, yb)
                        if not torch.isfinite(loss):
                            raise FloatingPointError(f"non-finite loss {float(loss)}")
                        loss.backward()
                        opt_tm.step()
                except Exception as err:  # recorded, not hidden: the row says which library failed and why
                    failed[lib] = f"step {step}: {type(err).__name__}: {str(err)[:120]}"
                if lib == "vk":
                    t_vk += time.process_time() - t0
                else:
                    t_tm += time.process_time() - t0
            step += 1

    def safe_eval(fn, module, lib):
        if failed[lib] is not None:
            return math.nan
        try:
            return evaluate(fn, module, xte, yte, args.batch)
        except Exception as err:
            failed[lib] = f"evaluation: {type(err).__name__}: {str(err)[:120]}"
            return math.nan

    est_vk = safe_eval(vk, vk, "vk")
    est_tm = safe_eval(tm.mutual_information, tm, "tm")
    true = task.mutual_information
    return {
        "task": task_name,
        "estimator": name,
        "true_mi": true,
        "vaekit": est_vk,
        "torch_mist": est_tm,
        "abs_err_vaekit": abs(est_vk - true) if math.isfinite(est_vk) else math.inf,
        "abs_err_torch_mist": abs(est_tm - true) if math.isfinite(est_tm) else math.inf,
        "failed_vaekit": failed["vk"],
        "failed_torch_mist": failed["tm"],
        "ms_per_step_vaekit": 1000 * t_vk / args.steps,
        "ms_per_step_torch_mist": 1000 * t_tm / args.steps,
        "speedup": t_tm / t_vk,
    }


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="2 tasks, 3 estimators, 100 steps")
    p.add_argument("--steps", type=int, default=300)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--n-train", type=int, default=10_000)
    p.add_argument("--n-test", type=int, default=2048)
    p.add_argument("--hidden", type=int, nargs="+", default=[64, 64])
    p.add_argument("--embed", type=int, default=32)
    p.add_argument("--tasks", nargs="+", default=TASKS)
    p.add_argument("--estimators", nargs="+", default=ESTIMATORS)
    p.add_argument("--out", default=str(Path(__file__).parent / "results"))
    p.add_argument("--name", default="results", help="stem of the JSON file written under --out")
    args = p.parse_args()
    args.hidden = tuple(args.hidden)
    if args.quick:
        args.tasks, args.estimators, args.steps = args.tasks[:2], ["infonce", "nwj", "club"], 100
    torch.set_num_threads(1)
    import torch_mist

    rows = []
    cpu0 = time.process_time()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    stem = "quick" if args.quick else args.name

    def write():  # after every row, so an interrupted run keeps what it measured
        meta = {
            "settings": {
                k: (list(v) if isinstance(v, tuple) else v) for k, v in vars(args).items() if k not in ("out", "name")
            },
            "torch": torch.__version__,
            "torch_mist": getattr(torch_mist, "__version__", "0.2.17"),
            "python": platform.python_version(),
            "threads": torch.get_num_threads(),
            "total_cpu_s": time.process_time() - cpu0,
        }
        (out / f"{stem}.json").write_text(json.dumps({"meta": meta, "rows": rows}, indent=1))
        return meta

    for task_name in args.tasks:
        for name in args.estimators:
            row = run_pair(task_name, name, args, seed=0)
            if row is None:
                continue
            rows.append(row)
            meta = write()
            print(
                f"{task_name:34s} {name:10s} I={row['true_mi']:.3f} vaekit={row['vaekit']:.3f} "
                f"torch-mist={row['torch_mist']:.3f} speedup={row['speedup']:.2f}x",
                flush=True,
            )
    meta = write()
    print(f"wrote {out / f'{stem}.json'} ({meta['total_cpu_s']:.0f} s CPU)")


if __name__ == "__main__":
    main()
