"""BMI's neural estimators (JAX, `benchmark-mi` 0.1.3) on the same tasks, sample sizes and budget.

    XLA_FLAGS="--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1" \
        /work/venvs/i14_bmi/bin/python benchmarks/mi/bmi_run.py

BMI trains InfoNCE, NWJ and MINE (DV value, moving-average gradient) with its own loop: a joint
MLP critic on [x, y] (hidden 64, 64, as in run.py), Adam, its own train/test split of the same
number of pairs (10000 train + 2048 test drawn from the same seeded task), standardised. Its
test estimate is compared with the closed-form MI. CPU time per step includes JAX's compilation,
so it is reported for information only (not a like-for-like speed ratio).
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).parent))

import torch  # noqa: E402
from run import TASKS  # noqa: E402

from vaekit.mi.tasks import get_task  # noqa: E402


def main() -> None:
    import bmi

    steps, batch, lr, n_train, n_test, hidden = 300, 64, 1e-3, 10_000, 2048, (64, 64)
    estimators = {
        "infonce": bmi.estimators.InfoNCEEstimator,
        "nwj": bmi.estimators.NWJEstimator,
        "mine": bmi.estimators.MINEEstimator,
    }
    rows = []
    for task_name in TASKS:
        task = get_task(task_name)
        x, y = task.sample(n_train + n_test, generator=torch.Generator().manual_seed(0))
        for name, cls in estimators.items():
            est = cls(
                batch_size=batch,
                max_n_steps=steps,
                learning_rate=lr,
                hidden_layers=hidden,
                train_test_split=n_train / (n_train + n_test),
                test_every_n_steps=steps,
                seed=0,
                verbose=False,
            )
            t0 = time.process_time()
            value = float(est.estimate(x.numpy(), y.numpy()))
            cpu = time.process_time() - t0
            rows.append(
                {
                    "task": task_name,
                    "estimator": name,
                    "true_mi": task.mutual_information,
                    "bmi": value,
                    "abs_err_bmi": abs(value - task.mutual_information),
                    "ms_per_step_bmi_incl_jit": 1000 * cpu / steps,
                }
            )
            print(
                f"{task_name:34s} {name:8s} I={task.mutual_information:.3f} bmi={value:.3f} ({cpu:.1f} s CPU)",
                flush=True,
            )
    meta = {
        "steps": steps,
        "batch": batch,
        "lr": lr,
        "n_train": n_train,
        "n_test": n_test,
        "hidden": list(hidden),
        "benchmark_mi": "0.1.3",
        "jax": __import__("jax").__version__,
    }
    out = Path(__file__).parent / "results" / "bmi.json"
    out.write_text(json.dumps({"meta": meta, "rows": rows}, indent=1))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
