"""Tests for vaekit.fit (vaekit/training.py): batch order, exact resume, checkpoints that know what
they hold, the global RNG, data as tensor/Dataset/DataLoader, validation, clipping, logger, errors."""

import sys
import warnings

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset, TensorDataset

import vaekit
from vaekit.training import CheckpointMismatchError, FitResult, fit


def _sbn_loss(d=8, h=4, k=3, cls=vaekit.VIMCO):
    torch.manual_seed(0)
    return cls(vaekit.BernoulliEncoder(d, h), vaekit.SigmoidBeliefNet(h, d), n_samples=k)


def _data(n=30, d=8):
    return torch.bernoulli(torch.full((n, d), 0.3), generator=torch.Generator().manual_seed(1))


class _Recorder(nn.Module):
    """A 'loss' that records the rows it was called on: sum of a parameter times the batch."""

    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(torch.zeros(1))
        self.seen = []
        self.targets = []

    def forward(self, x, target=None):
        self.seen.append(x[:, 0].long().tolist())
        self.targets.append(None if target is None else target.tolist())
        return (self.w * x[:, 0]).mean()


def test_each_epoch_visits_every_row_once_and_drops_the_remainder():
    data = torch.arange(10.0).unsqueeze(1)  # [10, 1]: row i holds i
    rec = _Recorder()
    result = fit(rec, data, steps=9, batch_size=3, seed=0, progress=False)
    assert isinstance(result, FitResult) and result.step == 9
    assert len(result.history) == 9 and all(len(b) == 3 for b in rec.seen)
    for epoch in range(3):  # 10 rows, batches of 3: three batches per permutation, one row dropped
        rows = [r for batch in rec.seen[3 * epoch : 3 * epoch + 3] for r in batch]
        assert len(set(rows)) == 9 and set(rows) <= set(range(10))
    # The order comes from the seed: same seed, same batches; another seed, others.
    again, other = _Recorder(), _Recorder()
    fit(again, data, steps=9, batch_size=3, seed=0, progress=False)
    fit(other, data, steps=9, batch_size=3, progress=False, seed=1)
    assert again.seen == rec.seen and other.seen != rec.seen


def test_fit_does_not_reseed_the_global_generator():
    # Before: fit called torch.manual_seed(seed=0) on every call, so two successive calls (training
    # continued in a second call) replayed the same latent noise, and the user's RNG state was lost.
    class Noise(_Recorder):
        def forward(self, x, target=None):
            self.seen.append(torch.rand(()).item())
            return (self.w * x[:, 0]).mean()

    data = torch.arange(10.0).unsqueeze(1)
    rec = Noise()
    fit(rec, data, steps=3, batch_size=2, progress=False)
    first = list(rec.seen)
    fit(rec, data, steps=3, batch_size=2, progress=False)
    assert rec.seen[3:] != first
    # Without a seed, the global stream continues from where the user left it.
    torch.manual_seed(42)
    expected = torch.rand(5)
    torch.manual_seed(42)
    fit(_Recorder(), data, steps=2, batch_size=2, generator=torch.Generator().manual_seed(0), progress=False)
    assert torch.equal(torch.rand(5), expected)  # the recorder draws nothing: the stream is untouched
    # An explicit seed seeds it once, at the start of the call.
    fit(rec, data, steps=3, batch_size=2, seed=5, progress=False)
    fit(rec, data, steps=3, batch_size=2, seed=5, progress=False)
    assert rec.seen[-6:-3] == rec.seen[-3:]


def test_resume_reproduces_an_uninterrupted_run_exactly(tmp_path):
    data = _data()
    straight = _sbn_loss()
    h_straight = fit(straight, data, steps=12, batch_size=7, lr=1e-2, seed=5, progress=False).history

    ck = tmp_path / "ck.pt"
    first = _sbn_loss()
    fit(first, data, steps=5, batch_size=7, lr=1e-2, seed=5, progress=False, checkpoint=ck)
    resumed = _sbn_loss()  # fresh parameters and optimizer; all state comes from the file
    torch.manual_seed(123)  # a different global RNG state, which resume must overwrite
    h_resumed = fit(resumed, data, steps=12, batch_size=7, lr=1e-2, seed=5, progress=False, resume=ck).history

    assert h_resumed == h_straight
    for (name, a), b in zip(straight.state_dict().items(), resumed.state_dict().values()):
        assert torch.equal(a, b), name


def test_checkpoint_is_weights_only_loadable_and_complete(tmp_path):
    ck = tmp_path / "ck.pt"
    loss_fn = _sbn_loss()
    history = fit(loss_fn, _data(), steps=6, batch_size=5, progress=False, checkpoint=ck, checkpoint_every=4).history
    state = torch.load(ck, weights_only=True)
    assert set(state) == {
        "model",
        "optimizer",
        "step",
        "history",
        "val_history",
        "generator",
        "perm",
        "pos",
        "torch_rng",
        "meta",
    }
    assert state["step"] == 6 and state["history"] == history and len(history) == 6
    assert all(isinstance(v, float) for v in history)
    assert state["model"].keys() == loss_fn.state_dict().keys()
    assert len(state["optimizer"]["state"]) == len(list(loss_fn.parameters()))
    assert not (tmp_path / "ck.pt.tmp").exists()
    meta = state["meta"]
    assert meta["estimator"] == "vaekit.losses.vimco.VIMCO" and meta["settings"]["n_samples"] == 3
    assert meta["vaekit_version"] == vaekit.__version__
    assert meta["shapes"] == {k: list(v.shape) for k, v in loss_fn.state_dict().items()}
    assert meta["modules"]["inf_net"] == "vaekit.latents.sbn.BernoulliEncoder"
    group = meta["optimizer"]["param_groups"][0]
    assert meta["optimizer"]["class"] == "torch.optim.adam.Adam" and group["lr"] == 1e-3
    assert group["betas"] == [0.9, 0.999]


@pytest.fixture
def saved_run(tmp_path):
    """A 3-step VIMCO(K=3) checkpoint with Adam(lr=1e-2)."""
    ck = tmp_path / "ck.pt"
    fit(_sbn_loss(), _data(), steps=3, batch_size=5, lr=1e-2, seed=0, progress=False, checkpoint=ck)
    return ck


@pytest.mark.parametrize(
    "make, match",
    [
        (
            lambda: _sbn_loss(cls=vaekit.RWS),
            "estimator: checkpoint vaekit.losses.vimco.VIMCO, now vaekit.losses.rws.RWS",
        ),
        (lambda: _sbn_loss(k=5), "setting 'n_samples': checkpoint 3, now 5"),
        (lambda: _sbn_loss(h=6), r"tensor shape 'inf_net.*': checkpoint \[4, 8\], now \[6, 8\]"),
    ],
    ids=["other-estimator", "other-K", "other-model-size"],
)
def test_resume_into_a_different_run_is_an_error(saved_run, make, match):
    # Before: a VIMCO checkpoint loaded into RWS and a different K were accepted silently.
    with pytest.raises(CheckpointMismatchError, match=match):
        fit(make(), _data(), steps=6, batch_size=5, lr=1e-2, progress=False, resume=saved_run)


def test_resume_with_another_optimizer_setting_is_an_error(saved_run):
    loss_fn = _sbn_loss()
    opt = torch.optim.Adam(loss_fn.parameters(), lr=1e-2, betas=(0.5, 0.999))
    with pytest.raises(CheckpointMismatchError, match="optimizer group 0 setting 'betas'"):
        fit(loss_fn, _data(), steps=6, batch_size=5, optimizer=opt, progress=False, resume=saved_run)
    sgd = torch.optim.SGD(loss_fn.parameters(), lr=1e-2)
    with pytest.raises(
        CheckpointMismatchError, match="optimizer: checkpoint torch.optim.adam.Adam, now torch.optim.sgd.SGD"
    ):
        fit(loss_fn, _data(), steps=6, batch_size=5, optimizer=sgd, progress=False, resume=saved_run)


def test_resume_with_a_new_learning_rate_applies_it_and_says_so(saved_run):
    # Before: the checkpoint's learning rate silently replaced the new one.
    loss_fn = _sbn_loss()
    opt = torch.optim.Adam(loss_fn.parameters(), lr=3e-2)
    with pytest.warns(UserWarning, match=r"learning rate 0.03 .* \(the checkpoint's was 0.01\)"):
        fit(loss_fn, _data(), steps=5, batch_size=5, optimizer=opt, progress=False, resume=saved_run)
    assert opt.param_groups[0]["lr"] == 3e-2
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the same learning rate resumes without a word
        fit(_sbn_loss(), _data(), steps=5, batch_size=5, lr=1e-2, progress=False, resume=saved_run)


def test_resume_from_a_missing_or_foreign_file_is_an_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="no checkpoint to continue from"):
        fit(_sbn_loss(), _data(), steps=3, batch_size=5, progress=False, resume=tmp_path / "typo" / "ck.pt")
    foreign = tmp_path / "foreign.pt"
    torch.save({"model": {}, "step": 1}, foreign)
    with pytest.raises(CheckpointMismatchError, match="no run description"):
        fit(_sbn_loss(), _data(), steps=3, batch_size=5, progress=False, resume=foreign)


def test_training_lowers_the_loss_on_digits():
    train, _ = vaekit.load_digits_binarized()
    loss_fn = vaekit.VIMCO(vaekit.BernoulliEncoder(64, 16), vaekit.SigmoidBeliefNet(16, 64), n_samples=4)
    history = fit(loss_fn, train, steps=300, batch_size=50, lr=1e-2, seed=0, progress=False).history
    # Start: about 64 * log 2 = 44 nats per image. Measured once (seed 0): first-30 mean 31.4,
    # last-30 mean 21.2 with a per-step sd of 0.4, so the mean of the last 30 has a standard error
    # of about 0.1 nats; a 5-nat margin fails only if the loop does not train.
    first, last = sum(history[:30]) / 30, sum(history[-30:]) / 30
    assert last < first - 5.0, (first, last)


def test_history_is_the_loss_s_own_history():
    loss_fn = _sbn_loss()
    loss_fn(_data()[:5])  # a call before fit is not part of fit's history
    result = fit(loss_fn, _data(), steps=4, batch_size=5, progress=False)
    assert result.history == loss_fn.loss_history_[1:] and len(result.history) == 4


def test_deferred_finiteness_errors_surface_by_the_end_of_fit():
    class NaNGen(vaekit.SigmoidBeliefNet):
        def log_prob(self, x, z):
            return super().log_prob(x, z) * torch.nan

    loss_fn = vaekit.VIMCO(vaekit.BernoulliEncoder(8, 4), NaNGen(4, 8), n_samples=3)
    with pytest.raises(FloatingPointError, match="NaNGen"):
        fit(loss_fn, _data(), steps=2, batch_size=5, progress=False)


def test_callback_sees_every_step():
    seen = []
    fit(
        _sbn_loss(),
        _data(),
        steps=7,
        batch_size=5,
        progress=False,
        callback=lambda step, loss: seen.append((step, loss.requires_grad, loss.dim())),
    )
    assert seen == [(s, False, 0) for s in range(1, 8)]


def test_tensor_dataset_and_dataloader_with_targets():
    data, labels = torch.arange(12.0).unsqueeze(1), torch.arange(12) * 10
    rec = _Recorder()
    fit(rec, data, target=labels, steps=4, batch_size=3, seed=0, progress=False)
    assert all([10 * r for r in rows] == t for rows, t in zip(rec.seen, rec.targets))

    class Pairs(Dataset):  # a plain map-style Dataset of (x, y) pairs
        def __len__(self):
            return 12

        def __getitem__(self, i):
            return data[i], labels[i]

    ds = _Recorder()
    fit(ds, Pairs(), steps=4, batch_size=3, seed=0, progress=False)
    assert ds.seen == rec.seen and ds.targets == rec.targets  # same seeded order as the tensor
    dl = _Recorder()
    loader = DataLoader(TensorDataset(data, labels), batch_size=4, shuffle=False)
    fit(dl, loader, steps=5, progress=False)  # 3 batches per epoch, then a new epoch
    assert dl.seen == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9, 10, 11], [0, 1, 2, 3], [4, 5, 6, 7]]
    assert dl.targets[1] == [40, 50, 60, 70]


class _FakeWriter:
    """The part of torch.utils.tensorboard.SummaryWriter that fit uses."""

    def __init__(self):
        self.scalars = []

    def add_scalar(self, tag, scalar_value, global_step):
        self.scalars.append((tag, scalar_value, global_step))


def test_validation_logger_and_clipping():
    data = _data(40)
    writer = _FakeWriter()
    result = fit(
        _sbn_loss(),
        data[:30],
        steps=6,
        batch_size=5,
        val_data=data[30:],
        val_every=4,
        val_samples=7,
        logger=writer,
        log_every=3,
        clip_grad_norm=1.0,
        progress=False,
    )
    assert [s for s, _ in result.val_history] == [4, 6]
    assert [(t, s) for t, _, s in writer.scalars] == [
        ("train/loss", 3),
        ("val/iwae_bound", 4),
        ("train/loss", 6),
        ("val/iwae_bound", 6),
    ]
    mean = lambda h: sum(h) / len(h)
    assert writer.scalars[0][1] == pytest.approx(mean(result.history[:3]))
    # The validation bound is the mean IWAE_K bound of the validation set under the final model. It
    # draws under torch.random.fork_rng, so the training stream is untouched and the same draws
    # are made again right after fit returns.
    loss_fn = _sbn_loss()
    final = fit(loss_fn, data[:30], steps=6, batch_size=5, seed=0, val_data=data[30:], val_samples=7, progress=False)
    expected = vaekit.iwae_bound(loss_fn.inf_net, loss_fn.gen_model, data[30:], n_samples=7, batch_size=5).mean().item()
    assert final.val_history == [(6, pytest.approx(expected, rel=1e-6))]
    again = _sbn_loss()
    plain = fit(again, data[:30], steps=6, batch_size=5, seed=0, progress=False)
    assert plain.history == final.history  # validating did not change training


def test_gradient_clipping_bounds_the_update():
    class Big(nn.Module):
        def __init__(self):
            super().__init__()
            self.w = nn.Parameter(torch.zeros(3))

        def forward(self, x):
            return (1000.0 * self.w * x).sum()  # gradient 1000 * sum(x) per coordinate

    model = Big()
    fit(
        model,
        torch.ones(4, 3),
        steps=1,
        batch_size=4,
        optimizer=torch.optim.SGD(model.parameters(), lr=1.0),
        clip_grad_norm=0.5,
        progress=False,
    )
    assert model.w.detach().norm().item() == pytest.approx(0.5)


def test_device_placement_moves_the_loss_and_batches():
    seen = []
    loss_fn = _sbn_loss()
    fit(
        loss_fn,
        _data(),
        steps=2,
        batch_size=5,
        device="cpu",
        progress=False,
        callback=lambda step, loss: seen.append(loss.device.type),
    )
    assert seen == ["cpu", "cpu"] and all(p.device.type == "cpu" for p in loss_fn.parameters())


def test_train_step_slot_replaces_the_eager_step():
    loss_fn = _sbn_loss()
    opt = torch.optim.Adam(loss_fn.parameters(), lr=1e-2)
    calls = []

    def step(x, target):
        calls.append(x.shape[0])
        opt.zero_grad()
        loss = loss_fn(x)
        loss.backward()
        opt.step()
        return loss.detach()

    result = fit(loss_fn, _data(), steps=3, batch_size=5, optimizer=opt, train_step=step, progress=False)
    assert calls == [5, 5, 5] and len(result.history) == 3


def test_progress_bar_runs_and_missing_tqdm_degrades_to_a_warning(monkeypatch, capsys):
    fit(_sbn_loss(), _data(), steps=3, batch_size=5, progress=True, desc="t", log_every=1)
    err = capsys.readouterr().err
    assert "3/3" in err and "loss=" in err
    fit(_sbn_loss(), _data(), steps=3, batch_size=5, progress=True, log_every=1, show_bound=True)
    assert "bound=-" in capsys.readouterr().err  # minus a positive loss
    # Before: ImportError. Now: a warning, and the run goes on without a bar.
    monkeypatch.setitem(sys.modules, "tqdm.auto", None)  # makes `from tqdm.auto import ...` fail
    with pytest.warns(UserWarning, match="tqdm is not installed"):
        result = fit(_sbn_loss(), _data(), steps=3, batch_size=5, progress=True)
    assert len(result.history) == 3


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"steps": 0}, ValueError, "steps must be a positive int"),
        ({"steps": 2, "batch_size": 31}, ValueError, "N >= batch_size"),
        ({"steps": 2, "checkpoint_every": 1}, ValueError, "needs a checkpoint path"),
        ({"steps": 2, "log_every": 0}, ValueError, "log_every"),
        ({"steps": 2, "val_every": 0}, ValueError, "val_every"),
        ({"steps": 2, "clip_grad_norm": -1.0}, ValueError, "clip_grad_norm"),
        ({"steps": 2, "target": torch.zeros(3)}, ValueError, "target must be a tensor with data's 30 rows"),
    ],
)
def test_bad_arguments(kwargs, error, match):
    kwargs.setdefault("batch_size", 5)
    with pytest.raises(error, match=match):
        fit(_sbn_loss(), _data(), progress=False, **kwargs)


def test_bad_data_types():
    with pytest.raises(TypeError, match="a tensor, a map-style Dataset or a DataLoader; got list"):
        fit(_sbn_loss(), [[0.0] * 8] * 10, steps=1, batch_size=5, progress=False)
    with pytest.raises(TypeError, match="val_data needs a loss with inf_net and gen_model"):
        fit(_Recorder(), torch.ones(4, 1), steps=1, batch_size=2, val_data=torch.ones(2, 1), progress=False)
    loader = DataLoader(TensorDataset(torch.ones(4, 8), torch.ones(4, 8), torch.ones(4, 8)), batch_size=2)
    with pytest.raises(TypeError, match="a pair \\(x, target\\) of tensors; got list of 3"):
        fit(_sbn_loss(), loader, steps=1, progress=False)


def test_the_function_fit_does_not_shadow_a_module():
    # Before: vaekit/fit.py defined fit, so `vaekit.fit` was the function while
    # importlib.import_module("vaekit.fit") was a module of the same dotted name.
    import importlib

    import vaekit.training

    assert vaekit.fit is vaekit.training.fit and callable(vaekit.fit)
    with pytest.raises(ModuleNotFoundError):
        importlib.import_module("vaekit.fit")
