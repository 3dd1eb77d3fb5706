"""One contender in its own process: builds its trainer and runs commands sent by ``run.py``.

Commands arrive over a multiprocessing pipe, one at a time, so only one contender runs at any
moment (round-robin timing). Torch uses one thread in every worker.
"""

from __future__ import annotations

import os
import sys
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))


def main(conn, spec: dict) -> None:
    os.environ["OMP_NUM_THREADS"] = "1"
    sys.path.insert(0, HERE)
    import torch

    torch.set_num_threads(1)
    import numpy as np
    from common import load_packed, max_rss_mib, rss_mib, unpack

    reply = {"rss_start_mib": rss_mib()}
    try:
        torch.manual_seed(spec["seed"])
        from contenders import build

        train = load_packed(spec["data"], "train")
        order = np.load(spec["order_path"])
        state = torch.load(spec["state_path"], weights_only=True)
        trainer = build(spec["name"], spec["model"], state, spec["k"], spec["lr"])
        reply.update(ok=True, rss_mib=rss_mib())
    except Exception as e:  # recorded, not dropped
        reply.update(ok=False, error=f"{type(e).__name__}: {e}", traceback=traceback.format_exc(limit=6))
        trainer = None
    conn.send(reply)
    step = 0
    while True:
        cmd, arg = conn.recv()
        if cmd == "close":
            conn.send({"max_rss_mib": max_rss_mib(), "rss_mib": rss_mib()})
            return
        try:
            if trainer is None:
                raise RuntimeError("trainer failed to build")
            if cmd == "steps":
                times, cpu_times = [], []
                for _ in range(arg):
                    x = unpack(train[order[step % len(order)]])  # data prep is outside the timed region
                    t0, c0 = time.perf_counter(), time.process_time()
                    trainer.step(x)
                    cpu_times.append(time.process_time() - c0)  # this process's CPU time: load elsewhere hardly counts
                    times.append(time.perf_counter() - t0)
                    step += 1
                conn.send({"ok": True, "times": times, "cpu_times": cpu_times, "rss_mib": rss_mib(), "step": step})
            elif cmd == "save":
                torch.save(trainer.state(), arg)
                conn.send({"ok": True, "info": trainer.info(), "step": step})
            else:
                raise ValueError(f"unknown command {cmd!r}")
        except Exception as e:
            conn.send(
                {
                    "ok": False,
                    "error": f"{type(e).__name__}: {e}",
                    "traceback": traceback.format_exc(limit=6),
                    "step": step,
                }
            )
