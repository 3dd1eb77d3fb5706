"""Baseline state: it follows the models' dtype, and it changes only when the loss is training with
gradients on; the composition builds no neutral tensors and runs eagerly without the compile guard."""

from __future__ import annotations

import pytest
import torch

import vaekit.baselines.base as baselines_base
from vaekit import InputDependentBaseline, LeaveOneOut, MovingAverage, Reinforce, VarianceNormalization
from vaekit.baselines import apply_baselines
from vaekit.testing import loo_baseline_reference, tiny_sbn


def _running():
    return [MovingAverage(), VarianceNormalization()]


def test_state_follows_float64_models_without_calling_double():
    """MovingAverage and VarianceNormalization used to keep float32 state next to float64 models."""
    q, p, x = tiny_sbn(batch=4, seed=1)  # float64 models
    ma, vn = _running()
    loss_fn = Reinforce(q, p, n_samples=2, baselines=[ma, vn])
    assert loss_fn.baselines[0].value.dtype == torch.float64
    assert loss_fn.baselines[1].variance.dtype == torch.float64
    loss_fn(x)
    signal = loss_fn.log_p_ - loss_fn.log_q_
    assert loss_fn.baselines[0].value.dtype == torch.float64
    assert loss_fn.baselines[0].value.item() == signal.mean().item()  # exact: no float32 rounding
    assert "baselines.0.value" in loss_fn.state_dict()


def test_state_follows_the_signal_when_used_on_its_own():
    ma = MovingAverage()
    ma.update(torch.full((2, 3), 1 / 3, dtype=torch.float64))
    assert ma.value.dtype == torch.float64 and ma.value.item() == 1 / 3
    vn = VarianceNormalization()
    assert vn.transform(torch.zeros(2, 2, dtype=torch.float64), None)[1].dtype == torch.float64


@pytest.mark.parametrize("mode", ["eval", "no_grad", "inference_mode"])
def test_running_baselines_do_not_update_outside_training(mode):
    q, p, x = tiny_sbn(batch=4, seed=1)
    loss_fn = Reinforce(q, p, n_samples=2, baselines=_running())
    loss_fn(x)  # one training update
    before = {k: v.clone() for k, v in loss_fn.state_dict().items() if k.startswith("baselines.")}
    if mode == "eval":
        loss_fn.eval()
        loss_fn(x)
        loss_fn.train()
    elif mode == "no_grad":
        with torch.no_grad():
            loss_fn(x)
    else:
        with torch.inference_mode():
            loss_fn(x)
    for k, v in loss_fn.state_dict().items():
        if k in before:
            assert torch.equal(v, before[k]), k
    loss_fn(x)
    assert int(loss_fn.baselines[0].n_updates) == 2  # training again: it updates


def test_leave_one_out_matches_loop_and_composition_is_affine():
    g = torch.Generator().manual_seed(2)
    signal = torch.randn(4, 5, generator=g, dtype=torch.float64)
    torch.testing.assert_close(LeaveOneOut()(signal, None), loo_baseline_reference(signal))
    ma = MovingAverage().double()
    ma.value.fill_(0.7)
    vn = VarianceNormalization().double()
    vn.variance.fill_(9.0)
    out = apply_baselines([ma, vn, LeaveOneOut()], signal, torch.zeros(4, 1))
    # (s - 0.7) / 3, then minus the leave-one-out mean of that
    step = (signal - 0.7) / 3
    expected = step - loo_baseline_reference(step)
    torch.testing.assert_close(out.signal, expected)
    torch.testing.assert_close((signal - out.shift) / out.scale, expected)


def test_composition_builds_no_neutral_tensors():
    signal = torch.randn(3, 4, dtype=torch.float64)
    shift_only = apply_baselines([LeaveOneOut()], signal, torch.zeros(3, 2))
    assert shift_only.scale is None and shift_only.shift is not None
    scale_only = apply_baselines([VarianceNormalization()], signal, torch.zeros(3, 2))
    assert scale_only.shift is None and scale_only.scale is not None
    empty = apply_baselines([], signal, torch.zeros(3, 2))
    assert empty.shift is None and empty.scale is None and torch.equal(empty.signal, signal)


def test_eager_mode_calls_baselines_directly_not_through_the_compile_guard(monkeypatch):
    calls = []
    monkeypatch.setattr(baselines_base, "_read_outside_graph", lambda *a: calls.append(a) or (None, None))
    net = torch.nn.Linear(3, 1).double()
    apply_baselines(
        [MovingAverage(), InputDependentBaseline(net)],
        torch.zeros(2, 4, dtype=torch.float64),
        torch.zeros(2, 3, dtype=torch.float64),
    )
    assert calls == []
