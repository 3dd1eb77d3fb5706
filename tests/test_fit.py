"""Tests for vaekit.fit: batch order, exact resume, weights_only checkpoints, errors."""
import sys

import pytest
import torch
from torch import nn

import vaekit
from vaekit.fit import fit


def _sbn_loss(d=8, h=4, k=3):
    torch.manual_seed(0)
    return vaekit.VIMCO(vaekit.BernoulliEncoder(d, h), vaekit.SigmoidBeliefNet(h, d), n_samples=k)


def _data(n=30, d=8):
    return torch.bernoulli(torch.full((n, d), 0.3), generator=torch.Generator().manual_seed(1))


class _Recorder(nn.Module):
    """A 'loss' that records the rows it was called on: sum of a parameter times the batch."""

    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(torch.zeros(1))
        self.seen = []

    def forward(self, x):
        self.seen.append(x[:, 0].long().tolist())
        return (self.w * x[:, 0]).mean()


def test_each_epoch_visits_every_row_once_and_drops_the_remainder():
    data = torch.arange(10.0).unsqueeze(1)  # [10, 1]: row i holds i
    rec = _Recorder()
    history = fit(rec, data, steps=9, batch_size=3, progress=False)
    assert len(history) == 9 and all(len(b) == 3 for b in rec.seen)
    for epoch in range(3):  # 10 rows, batches of 3: three batches per permutation, one row dropped
        rows = [r for batch in rec.seen[3 * epoch: 3 * epoch + 3] for r in batch]
        assert len(set(rows)) == 9 and set(rows) <= set(range(10))
    # The order comes from the seed: same seed, same batches; another seed, others.
    again, other = _Recorder(), _Recorder()
    fit(again, data, steps=9, batch_size=3, progress=False)
    fit(other, data, steps=9, batch_size=3, progress=False, seed=1)
    assert again.seen == rec.seen and other.seen != rec.seen


def test_resume_reproduces_an_uninterrupted_run_exactly(tmp_path):
    data = _data()
    straight = _sbn_loss()
    h_straight = fit(straight, data, steps=12, batch_size=7, lr=1e-2, seed=5, progress=False)

    ck = tmp_path / "ck.pt"
    first = _sbn_loss()
    fit(first, data, steps=5, batch_size=7, lr=1e-2, seed=5, progress=False, checkpoint=ck)
    resumed = _sbn_loss()  # fresh parameters and optimizer; all state comes from the file
    torch.manual_seed(123)  # a different global RNG state, which resume must overwrite
    h_resumed = fit(resumed, data, steps=12, batch_size=7, lr=1e-2, seed=5, progress=False, resume=ck)

    assert h_resumed == h_straight
    for (name, a), b in zip(straight.state_dict().items(), resumed.state_dict().values()):
        assert torch.equal(a, b), name


def test_checkpoint_is_weights_only_loadable_and_complete(tmp_path):
    ck = tmp_path / "ck.pt"
    loss_fn = _sbn_loss()
    history = fit(loss_fn, _data(), steps=6, batch_size=5, progress=False, checkpoint=ck, checkpoint_every=4)
    state = torch.load(ck, weights_only=True)
    assert set(state) == {"model", "optimizer", "step", "history", "generator", "perm", "pos", "torch_rng"}
    assert state["step"] == 6 and state["history"] == history and len(history) == 6
    assert all(isinstance(v, float) for v in history)
    assert state["model"].keys() == loss_fn.state_dict().keys()
    assert len(state["optimizer"]["state"]) == len(list(loss_fn.parameters()))
    assert not (tmp_path / "ck.pt.tmp").exists()


def test_training_lowers_the_loss_on_digits():
    pytest.importorskip("sklearn")
    train, _ = vaekit.load_digits_binarized()
    loss_fn = vaekit.VIMCO(vaekit.BernoulliEncoder(64, 16), vaekit.SigmoidBeliefNet(16, 64), n_samples=4)
    history = fit(loss_fn, train, steps=300, batch_size=50, lr=1e-2, progress=False)
    # Start: about 64 * log 2 = 44 nats per image. Measured once (seed 0): first-30 mean 31.4,
    # last-30 mean 21.2 with a per-step sd of 0.4, so the mean of the last 30 has a standard error
    # of about 0.1 nats; a 5-nat margin fails only if the loop does not train.
    first, last = sum(history[:30]) / 30, sum(history[-30:]) / 30
    assert last < first - 5.0, (first, last)


def test_callback_sees_every_step():
    seen = []
    fit(_sbn_loss(), _data(), steps=7, batch_size=5, progress=False,
        callback=lambda step, loss: seen.append((step, loss.requires_grad, loss.dim())))
    assert seen == [(s, False, 0) for s in range(1, 8)]


def test_progress_bar_runs_and_missing_tqdm_is_explained(monkeypatch, capsys):
    pytest.importorskip("tqdm")
    fit(_sbn_loss(), _data(), steps=3, batch_size=5, progress=True, desc="t", log_every=1)
    err = capsys.readouterr().err
    assert "3/3" in err and "loss=" in err
    fit(_sbn_loss(), _data(), steps=3, batch_size=5, progress=True, log_every=1, show_bound=True)
    assert "bound=-" in capsys.readouterr().err  # minus a positive loss
    monkeypatch.setitem(sys.modules, "tqdm.auto", None)  # makes `from tqdm.auto import ...` fail
    with pytest.raises(ImportError, match="needs tqdm"):
        fit(_sbn_loss(), _data(), steps=3, batch_size=5, progress=True)
    fit(_sbn_loss(), _data(), steps=3, batch_size=5, progress=False)  # no tqdm needed


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"steps": 0}, "steps must be a positive int"),
        ({"steps": 2, "batch_size": 31}, "N >= batch_size"),
        ({"steps": 2, "checkpoint_every": 1}, "needs a checkpoint path"),
        ({"steps": 2, "log_every": 0}, "log_every"),
    ],
)
def test_bad_arguments(kwargs, match):
    kwargs.setdefault("batch_size", 5)
    with pytest.raises(ValueError, match=match):
        fit(_sbn_loss(), _data(), progress=False, **kwargs)
