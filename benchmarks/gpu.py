"""The GPU section of the benchmark: ``python benchmarks/gpu.py`` (about 5 min on one GPU).

Without a CUDA device it prints that the section is skipped and exits with status 0 (``run.py``
calls it at its end the same way), so the CPU benchmark never depends on a GPU.

Per batch size B in {50, 1000} and K in {5, 50, 1000} (linear SBN 784-200, MNIST training batches,
Adam lr 1e-3), milliseconds per training step of:

- ``floor eager``: the hand-written step of ``floor.py``;
- ``floor compiled``: the same step under ``torch.compile(mode="reduce-overhead")`` (CUDA graphs):
  the best a user could write by hand;
- ``vaekit eager``: the vaekit loss on the built-in latents in a plain zero_grad/backward/step loop;
- ``vaekit captured``: ``vaekit.make_train_step(loss_fn, opt)`` (compiled, CUDA graphs).

Timing: the contenders take turns of ``--turn`` steps, ``--repeats`` times, in a shuffled order;
each turn is timed with CUDA events around the whole turn (so launch overhead and any host
synchronisation count) after ``--warmup`` untimed steps (which include the compiles). The table
gives the median ms per step over the turns and ratios to the eager floor. ``syncs/step``: host
synchronisations per step that ``torch.cuda.set_sync_debug_mode("warn")`` reports for the
captured vaekit step (0 is the target). Output: ``benchmarks/results/gpu.json`` and ``gpu.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import time
import warnings
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import common  # noqa: E402
import torch  # noqa: E402


def build(kind, est, state, k, lr, device):
    from contenders import vaekit_loss
    from floor import FloorTrainer

    import vaekit
    from vaekit.latents import BernoulliEncoder, SigmoidBeliefNet

    if kind.startswith("floor"):
        enc, dec = common.plain_models("linear", state)
        return FloorTrainer(est, enc.to(device), dec.to(device), k, lr, compile=kind == "floor compiled")
    q = BernoulliEncoder(common.DATA_DIM, common.LATENT_DIM)
    p = SigmoidBeliefNet(common.LATENT_DIM, common.DATA_DIM)
    q.load_state_dict(state["enc"])
    p.load_state_dict(state["dec"])
    loss_fn = vaekit_loss(est, q, p, k).to(device)
    opt = torch.optim.Adam(loss_fn.parameters(), lr=lr)
    if kind == "vaekit captured":
        step = vaekit.make_train_step(loss_fn, opt)
    else:

        def step(x):
            opt.zero_grad(set_to_none=True)
            loss = loss_fn(x)
            loss.backward()
            opt.step()
            return loss.detach()

    return _Trainer(step, loss_fn)


class _Trainer:
    def __init__(self, step, loss_fn):
        self.step, self.loss_fn = step, loss_fn


def count_syncs(trainer, batches, n=5):
    """Host synchronisations per step reported by torch's sync debug mode."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        torch.cuda.set_sync_debug_mode("warn")
        try:
            for i in range(n):
                trainer.step(batches[i % len(batches)])
        finally:
            torch.cuda.set_sync_debug_mode("default")
    return sum("synchroniz" in str(w.message) for w in caught) / n


def run_config(b, k, args, train, log):
    device = torch.device("cuda")
    batches = [common.unpack(train[i * b : (i + 1) * b]).to(device) for i in range(8)]
    state = common.initial_state("linear", args.seed)
    kinds = ["floor eager", "floor compiled", "vaekit eager", "vaekit captured"]
    conts = {}
    for kind in kinds:
        torch.manual_seed(args.seed)
        t0 = time.time()
        try:
            c = build(kind, args.estimator, state, k, args.lr, device)
            for i in range(args.warmup):
                c.step(batches[i % len(batches)])
            torch.cuda.synchronize()
            conts[kind] = c
        except Exception as e:  # recorded, not dropped
            log(f"  B={b} K={k} {kind}: FAILED: {type(e).__name__}: {e}")
            conts[kind] = e
        log(f"  B={b} K={k} {kind}: built and warmed up in {time.time() - t0:.1f} s")
    times = {kind: [] for kind in kinds}
    rng = random.Random(args.seed)
    n = 0
    for _ in range(args.repeats):
        order = [kd for kd in kinds if not isinstance(conts[kd], Exception)]
        rng.shuffle(order)
        for kind in order:
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            for _ in range(args.turn):
                conts[kind].step(batches[n % len(batches)])
                n += 1
            end.record()
            end.synchronize()
            times[kind].append(start.elapsed_time(end) / args.turn)
    row = {"B": b, "K": k, "ms": {}, "errors": {}}
    for kind in kinds:
        if isinstance(conts[kind], Exception):
            row["errors"][kind] = f"{type(conts[kind]).__name__}: {conts[kind]}"
        else:
            row["ms"][kind] = {
                "median": statistics.median(times[kind]),
                "min": min(times[kind]),
                "max": max(times[kind]),
            }
    if not isinstance(conts["vaekit captured"], Exception):
        row["vaekit_captured_syncs_per_step"] = count_syncs(conts["vaekit captured"], batches)
    if not isinstance(conts["vaekit eager"], Exception):
        row["vaekit_eager_syncs_per_step"] = count_syncs(conts["vaekit eager"], batches)
    del conts
    torch.cuda.empty_cache()
    return row


def markdown(res):
    a = res["args"]
    lines = [
        "# GPU: ms per training step",
        "",
        f"{res['device']}, torch {res['torch']}, run {res['started']}. Linear SBN 784-200, {a['estimator']}, "
        f"Adam lr {a['lr']}; {a['warmup']} untimed warm-up steps, then {a['repeats']} shuffled turns of "
        f"{a['turn']} steps per contender, CUDA-event timed; median ms per step (ratio to the eager floor).",
        "",
        "| B | K | floor eager | floor compiled | vaekit eager | vaekit captured | captured speed-up vs eager floor "
        "| syncs/step (eager, captured) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in res["rows"]:
        fl = r["ms"].get("floor eager", {}).get("median")

        def cell(kind, r=r, fl=fl):
            m = r["ms"].get(kind)
            if m is None:
                return "failed"
            return f"{m['median']:.3f} ({m['median'] / fl:.2f}x)" if fl else f"{m['median']:.3f}"

        cap = r["ms"].get("vaekit captured", {}).get("median")
        speed = f"{fl / cap:.2f}x" if fl and cap else "-"
        lines.append(
            f"| {r['B']} | {r['K']} | {cell('floor eager')} | {cell('floor compiled')} | {cell('vaekit eager')} "
            f"| {cell('vaekit captured')} | {speed} | {r.get('vaekit_eager_syncs_per_step', '-')}, "
            f"{r.get('vaekit_captured_syncs_per_step', '-')} |"
        )
    errs = [f"- B={r['B']} K={r['K']} {k}: {e}" for r in res["rows"] for k, e in r["errors"].items()]
    if errs:
        lines += ["", "Failures:", *errs]
    return "\n".join(lines) + "\n"


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default=str(common.DEFAULT_DATA))
    p.add_argument("--out", default=str(HERE / "results"))
    p.add_argument("--estimator", default="vimco", choices=["vimco", "iwae", "reinforce_loo", "rws"])
    p.add_argument("--batch-sizes", type=int, nargs="+", default=[50, 1000])
    p.add_argument("--ks", type=int, nargs="+", default=[5, 50, 1000])
    p.add_argument("--warmup", type=int, default=10)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--turn", type=int, default=50)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--lr", type=float, default=1e-3)
    a = p.parse_args(argv)
    if not torch.cuda.is_available():
        print("benchmarks/gpu.py: no CUDA device (torch.cuda.is_available() is False): GPU section skipped.")
        return None
    t0 = time.time()

    def log(msg):
        print(f"[{time.time() - t0:7.1f}s] {msg}", flush=True)

    train = common.load_packed(a.data, "train")
    res = {
        "args": vars(a),
        "device": torch.cuda.get_device_name(),
        "torch": torch.__version__,
        "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "rows": [],
    }
    os.makedirs(a.out, exist_ok=True)
    for b in a.batch_sizes:
        for k in a.ks:
            res["rows"].append(run_config(b, k, a, train, log))
            with open(Path(a.out) / "gpu.json", "w") as f:
                json.dump(res, f, indent=1)
    res["wall_s"] = time.time() - t0
    with open(Path(a.out) / "gpu.json", "w") as f:
        json.dump(res, f, indent=1)
    md = markdown(res)
    (Path(a.out) / "gpu.md").write_text(md)
    print(md)
    return res


if __name__ == "__main__":
    main()
