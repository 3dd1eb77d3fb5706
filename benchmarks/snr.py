"""Gradient signal-to-noise ratio of every estimator on one fixed batch and one model state.

For each estimator, N independent gradient draws g_1..g_N on the same batch and weights;
per parameter element SNR = |mean(g)| / std(g) (Rainforth et al. 2018, "Tighter variational
bounds are not necessarily better"); reported as the mean over the elements of the encoder
(phi) and of the decoder (theta). Stateful baselines (moving average, NVIL's net) are first
adapted for a few hundred steps with the model frozen, then restored before every draw so all
N draws see the same state. Uses ``vaekit.diagnostics`` where it exists; the hand-written floor
estimators are measured too, as a check that floor and vaekit are the same estimator.
"""

from __future__ import annotations

import copy
import os
import sys
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))


def _snr(grads):
    """grads: [N, P] -> mean over elements with std > 0 of |mean| / std (as vaekit.diagnostics)."""
    mean = grads.mean(0)
    std = grads.std(0)
    ok = std > 0
    return float((mean[ok].abs() / std[ok]).mean())


def main(conn, spec):
    os.environ["OMP_NUM_THREADS"] = "1"
    sys.path.insert(0, HERE)
    import torch

    torch.set_num_threads(1)
    import floor
    from common import load_packed, plain_models, unpack
    from contenders import VAEKIT_ESTIMATORS, VaekitTrainer

    out = {
        "definition": "mean over parameter elements of |mean|/std of N gradient draws",
        "draws": spec["draws"],
        "results": {},
    }
    try:
        import vaekit.diagnostics  # noqa: F401

        has_diag = True
    except ImportError:
        has_diag = False
    out["vaekit_diagnostics"] = has_diag
    train = load_packed(spec["data"], "train")
    state = torch.load(spec["state_path"], weights_only=True)
    x = unpack(train[: spec["batch_size"]])  # the fixed batch
    for k in spec["ks"]:
        for est in VAEKIT_ESTIMATORS:
            for lib in ("vaekit", "floor"):
                key = f"{lib}:{est}@K={k}"
                torch.manual_seed(spec["seed"])
                try:
                    if lib == "vaekit":
                        t = VaekitTrainer(est, spec["model"], state, k, spec["lr"])
                        enc, dec, fn = t.inf, t.gen, t.loss_fn
                        extra = [p for n, p in fn.named_parameters() if not n.startswith(("inf_net.", "gen_model."))]
                        stateful = extra or len(list(fn.buffers())) > 0
                        call = lambda: fn(x)  # noqa: E731
                        snap = lambda: copy.deepcopy(fn.state_dict())  # noqa: E731
                        restore = lambda s: fn.load_state_dict(s)  # noqa: E731
                    else:
                        enc, dec = plain_models(spec["model"], state)
                        ft = floor.FloorTrainer(est, enc, dec, k, spec["lr"])
                        extra = list(ft.st["net"].parameters()) if "net" in ft.st else []
                        stateful = est in ("reinforce_ma", "reinforce_nvil")
                        call = lambda: ft.fn(enc, dec, x, k, ft.st)  # noqa: E731
                        snap = lambda: copy.deepcopy(ft.st)  # noqa: E731
                        restore = lambda s: ft.st.update(copy.deepcopy(s))  # noqa: E731
                    model_params = list(enc.parameters()) + list(dec.parameters())
                    if stateful:  # adapt the baseline with the model frozen
                        opt = torch.optim.Adam(extra, lr=spec["lr"]) if extra else None
                        for i in range(spec["adapt_steps"]):
                            xb = unpack(train[(i * 50 + 50) % 49950 : (i * 50 + 50) % 49950 + 50])
                            for p in model_params + extra:
                                p.grad = None
                            call_x = fn(xb) if lib == "vaekit" else ft.fn(enc, dec, xb, k, ft.st)
                            call_x.backward()
                            if opt is not None:
                                opt.step()
                    if lib == "vaekit" and has_diag:
                        from vaekit.diagnostics import compare_estimators

                        rows = {r["parameter"]: r for r in compare_estimators({key: fn}, x, n_draws=spec["draws"])}
                        out["results"][key] = {
                            "snr_enc": rows["inf_net (all)"]["mean_snr"],
                            "snr_dec": rows["gen_model (all)"]["mean_snr"],
                            "var_enc": rows["inf_net (all)"]["total_variance"],
                            "var_dec": rows["gen_model (all)"]["total_variance"],
                            "mean_norm_enc": rows["inf_net (all)"]["mean_norm"],
                            "mean_norm_dec": rows["gen_model (all)"]["mean_norm"],
                            "via": "vaekit.diagnostics.compare_estimators",
                        }
                        continue
                    s0 = snap()
                    g_enc, g_dec = [], []
                    for _ in range(spec["draws"]):
                        restore(s0)
                        for p in model_params + extra:
                            p.grad = None
                        call().backward()
                        g_enc.append(torch.cat([p.grad.flatten() for p in enc.parameters()]))
                        g_dec.append(torch.cat([p.grad.flatten() for p in dec.parameters()]))
                    ge, gd = torch.stack(g_enc).double(), torch.stack(g_dec).double()
                    out["results"][key] = {
                        "snr_enc": _snr(ge),
                        "snr_dec": _snr(gd),
                        "var_enc": float(ge.var(0).sum()),
                        "var_dec": float(gd.var(0).sum()),
                        "mean_norm_enc": float(ge.mean(0).norm()),
                        "mean_norm_dec": float(gd.mean(0).norm()),
                        "via": "benchmarks/snr.py",
                    }
                except Exception as e:
                    out["results"][key] = {
                        "error": f"{type(e).__name__}: {e}",
                        "traceback": traceback.format_exc(limit=4),
                    }
    conn.send(out)
