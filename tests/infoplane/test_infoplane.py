"""Information-plane estimators against exact values, and the tracker's hygiene (hooks, modes, parameters)."""

import math

import pytest
import torch
from torch import nn

from vaekit.hsic import gaussian_gram, linear_gram, nhsic
from vaekit.infoplane import (
    KDE,
    Binning,
    HSICMeasure,
    InformationPlaneTracker,
    binned_mi,
    discrete_entropy,
    kde_mi,
    plot_information_plane,
)

D = torch.float64


def _identity_layer():
    """A deterministic 1-unit layer T = X (weight 1, bias 0), so the bin of every input is known."""
    layer = nn.Linear(1, 1)
    with torch.no_grad():
        layer.weight.fill_(1.0)
        layer.bias.zero_()
    return layer


# ----------------------------------------------------------------------------------------- binning


def test_binned_mi_exact_values_on_a_hand_built_layer():
    n = 16
    x = torch.arange(n, dtype=D)[:, None]  # inputs 0..15
    y = torch.arange(n) % 2
    t = _identity_layer().double()(x).detach()
    ixt, ity = binned_mi(t, y, n_bins=n)  # range [0, 15] in 16 bins: each input its own bin
    assert ixt.item() == pytest.approx(math.log(n), abs=1e-12)
    assert ity.item() == pytest.approx(math.log(2), abs=1e-12)  # T determines Y: I(T;Y) = H(Y)
    ixt, ity = binned_mi(t, y, n_bins=4)  # four inputs per bin: H(T) = log 4
    assert ixt.item() == pytest.approx(math.log(4), abs=1e-12)
    ixt, ity = binned_mi(t, y, n_bins=30, lo=-1000.0, hi=1000.0)  # every input in one bin
    assert ixt.item() == 0.0 and ity.item() == pytest.approx(0.0, abs=1e-15)
    ixt, _ = binned_mi(torch.zeros(n, 3), y)  # a constant layer
    assert ixt.item() == 0.0


def test_binned_ity_at_most_hy_with_equality_for_label_pure_bins():
    y = torch.randint(0, 3, (200,))
    h_y = discrete_entropy(y).item()
    assert h_y == pytest.approx(-sum(p * math.log(p) for p in (torch.bincount(y).double() / 200.0).tolist()), rel=1e-12)
    for _ in range(5):
        _, ity = binned_mi(torch.randn(200, 2), y, n_bins=4)
        assert ity.item() <= h_y + 1e-12
    pure = (y.double() * 10.0 + torch.rand(200, dtype=D))[:, None]  # class c in [10c, 10c + 1): pure bins
    _, ity = binned_mi(pure, y, n_bins=30)
    assert ity.item() == pytest.approx(h_y, abs=1e-12)


# --------------------------------------------------------------------------------------------- KDE


def _kde_loop(t, y, s2):
    n = t.shape[0]

    def bound(idx):
        tot = 0.0
        for i in idx:
            tot -= math.log(sum(math.exp(-((t[i] - t[j]) ** 2).sum().item() / (2 * s2)) for j in idx) / len(idx))
        return tot / len(idx)

    ixt = bound(range(n))
    cond = sum(len(c) / n * bound(c) for c in ([i for i in range(n) if y[i] == k] for k in set(y.tolist())))
    return ixt, ixt - cond


def test_kde_matches_a_float64_loop_and_its_limits():
    t, y = torch.randn(12, 3, dtype=D) * 0.05, torch.randint(0, 3, (12,))
    ixt, ity = kde_mi(t, y, noise_var=1e-2)
    ref = _kde_loop(t, y, 1e-2)
    assert ixt.item() == pytest.approx(ref[0], rel=1e-10) and ity.item() == pytest.approx(ref[1], rel=1e-10)
    far = torch.arange(10, dtype=D)[:, None] * 5.0
    assert kde_mi(far, torch.arange(10) % 2, noise_var=1e-3)[0].item() == pytest.approx(math.log(10), abs=1e-12)
    assert kde_mi(torch.ones(10, 4), torch.arange(10) % 2)[0].item() == 0.0
    near = kde_mi(far, torch.arange(10) % 2, noise_var=1e6)[0].item()  # noise swamps the spread
    assert 0.0 <= near < 1e-2


# ------------------------------------------------------------------------------------------ tracker


def _net():
    return nn.Sequential(nn.Linear(5, 6), nn.Tanh(), nn.Dropout(0.5), nn.Linear(6, 4), nn.ReLU(), nn.Linear(4, 3))


def _hooks(model):
    return sum(len(m._forward_hooks) + len(m._forward_pre_hooks) for m in model.modules())


def test_tracker_leaves_no_hooks_and_changes_no_parameter_or_mode():
    net = _net()
    net.train()
    net[2].eval()  # mixed modes must come back exactly
    modes = [m.training for m in net.modules()]
    state = {k: v.clone() for k, v in net.state_dict().items()}
    x, y = torch.randn(40, 5), torch.randint(0, 3, (40,))
    tracker = InformationPlaneTracker(net, x, y, [Binning(), KDE(), HSICMeasure()], layer_types=(nn.Tanh, nn.ReLU))
    rows = tracker.record(step=3, epoch=1)
    assert tracker.layers == ["1", "4"] and len(rows) == 6 and _hooks(net) == 0
    assert [m.training for m in net.modules()] == modes
    assert all(torch.equal(v, net.state_dict()[k]) for k, v in state.items())
    assert set(rows[0]) == {"step", "epoch", "layer", "estimator", "split", "ixt", "ity", "units", "settings"}
    # Dropout is active in train mode, so an eval-mode probe gives reproducible numbers:
    again = tracker.record(step=4, epoch=1)
    assert [r["ixt"] for r in again] == [r["ixt"] for r in rows]


def test_tracker_cleans_up_after_an_error_in_the_forward():
    net = _net()

    class Boom(nn.Module):
        def forward(self, x):
            raise RuntimeError("boom")

    net.append(Boom())
    tracker = InformationPlaneTracker(
        net, torch.randn(8, 5), torch.zeros(8, dtype=torch.long), [Binning()], layers=["1"]
    )
    with pytest.raises(RuntimeError, match="boom"):
        tracker.record(step=0, epoch=0)
    assert _hooks(net) == 0 and net.training


def test_tracker_rows_equal_the_estimators_and_predictions_as_y():
    net = _net()
    x, y = torch.randn(30, 5), torch.randint(0, 3, (30,))
    tracker = InformationPlaneTracker(
        net, x, y, [Binning(n_bins=10), HSICMeasure()], layers=["1", "3"], use_predictions=True, split="test"
    )
    rows = tracker.record(step=0, epoch=0)
    with torch.no_grad():
        pred = net.eval()(x).argmax(-1)
        t1, t3 = net[1](net[0](x)), net[3](net[2](net[1](net[0](x))))
    assert rows[0]["ixt"] == pytest.approx(binned_mi(t1, pred, n_bins=10)[0].item() / math.log(2), rel=1e-12)
    assert rows[1]["ity"] == pytest.approx(binned_mi(t3, pred, n_bins=10)[1].item() / math.log(2), rel=1e-12)
    ky = linear_gram(nn.functional.one_hot(pred).double())
    ref = nhsic(gaussian_gram(t3.double()), ky)
    assert rows[3]["estimator"] == "nhsic" and rows[3]["ity"] == pytest.approx(ref.item(), rel=1e-8)
    assert all(r["split"] == "test" for r in rows)


def test_maybe_record_at_chosen_steps_and_epochs():
    net = _net()
    tracker = InformationPlaneTracker(
        net, torch.randn(10, 5), torch.zeros(10, dtype=torch.long), [Binning()], layers=["1"], steps=[0, 5], epochs=[2]
    )
    done = [tracker.maybe_record(step=s, epoch=s // 3) for s in range(9)]
    assert done == [True, False, False, False, False, True, True, False, False]
    assert [r["step"] for r in tracker.rows] == [0, 5, 6]


def test_plot_draws_one_trajectory_per_layer(tmp_path):
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    net = _net()
    tracker = InformationPlaneTracker(
        net, torch.randn(20, 5), torch.randint(0, 3, (20,)), [KDE(), Binning()], layer_types=(nn.Tanh, nn.ReLU)
    )
    for s in range(3):
        tracker.record(step=s, epoch=s)
    with pytest.raises(ValueError, match="estimator"):
        plot_information_plane(tracker.rows)
    ax = plot_information_plane(tracker.rows, estimator="kde")
    assert len(ax.lines) == 2 and ax.get_xlabel() == "I(X;T) [bits]"
    ax.figure.savefig(tmp_path / "plane.png")


def test_bad_inputs_raise_value_errors():
    net = _net()
    x, y = torch.randn(10, 5), torch.zeros(10, dtype=torch.long)
    with pytest.raises(ValueError, match="no module named 'nope'"):
        InformationPlaneTracker(net, x, y, [Binning()], layers=["nope"])
    with pytest.raises(ValueError, match="no layer chosen"):
        InformationPlaneTracker(net, x, y, [Binning()], layer_types=(nn.Conv2d,))
    with pytest.raises(ValueError, match="integer labels"):
        InformationPlaneTracker(net, x, y.float(), [Binning()], layers=["1"])
    with torch.no_grad():
        net[0].weight[0, 0] = float("nan")
    tracker = InformationPlaneTracker(net, x, y, [Binning()], layers=["1"])
    with pytest.raises(ValueError, match="non-finite"):
        tracker.record(step=0, epoch=0)
    assert _hooks(net) == 0
    with pytest.raises(ValueError, match="non-finite"):
        kde_mi(torch.tensor([[float("inf")], [0.0]]), torch.tensor([0, 1]))
    with pytest.raises(ValueError, match=r"\[N\]"):
        binned_mi(torch.randn(4, 2), torch.zeros(3, dtype=torch.long))
