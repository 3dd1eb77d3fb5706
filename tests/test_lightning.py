"""vaekit.lightning: a vaekit loss trained, validated and checkpointed by a real lightning.Trainer.

Lightning is in the test extra, so CI runs this; without it the module is skipped.
"""

import warnings

import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

import vaekit

lightning = pytest.importorskip("lightning")


def _trainer(tmp_path, **kwargs):
    return lightning.Trainer(
        accelerator="cpu",
        devices=1,
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        default_root_dir=tmp_path,
        **kwargs,
    )


@pytest.fixture
def digits():
    train, test = vaekit.load_digits_binarized()  # [1438, 64], [359, 64]
    return (
        DataLoader(TensorDataset(train), batch_size=50, shuffle=True),
        DataLoader(TensorDataset(test[:200]), batch_size=100),
    )


def _loss():
    return vaekit.VIMCO(vaekit.BernoulliEncoder(64, 16), vaekit.SigmoidBeliefNet(16, 64), n_samples=4)


def test_trainer_trains_validates_and_checkpoints_a_vaekit_loss(digits, tmp_path):
    from vaekit.lightning import LossModule

    train_loader, val_loader = digits
    module = LossModule(_loss(), lr=1e-2, val_samples=50)
    trainer = _trainer(
        tmp_path, max_steps=120, val_check_interval=60, check_val_every_n_epoch=None, num_sanity_val_steps=0
    )
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*does not have many workers.*")
        before = trainer.validate(module, val_loader, verbose=False)[0]["val/iwae_bound"]
        trainer.fit(module, train_loader, val_loader)
    metrics = trainer.callback_metrics
    assert {"train/loss", "train/bound", "val/iwae_bound"} <= set(metrics)
    assert metrics["train/bound"].item() == pytest.approx(-metrics["train/loss"].item())
    after = metrics["val/iwae_bound"].item()
    # 64 binary pixels: a uniform model scores -44.4 nats. Measured once (seed 0): -45.7 before and
    # -23.5 after 120 steps; requiring a gain of 5 of those 22 nats fails only if nothing trained.
    assert -44.4 - 10 < before < after - 5.0 and after < 0, (before, after)

    # Lightning wrote a checkpoint; a fresh module reads it back with a fresh loss object.
    ckpts = list(tmp_path.rglob("*.ckpt"))
    assert len(ckpts) == 1
    restored = LossModule.load_from_checkpoint(ckpts[0], loss_fn=_loss())
    assert restored.hparams.lr == 1e-2 and restored.hparams.val_samples == 50
    for (name, a), b in zip(module.state_dict().items(), restored.state_dict().values()):
        assert torch.equal(a, b), name


def test_targets_and_bad_inputs(tmp_path):
    from vaekit.lightning import LossModule

    class Seen(vaekit.SigmoidBeliefNet):
        def log_prob(self, x, z):
            self.last_target = x
            return super().log_prob(x, z)

    x = torch.bernoulli(torch.full((20, 6), 0.5))
    y = torch.bernoulli(torch.full((20, 6), 0.5))
    p = Seen(3, 6)
    module = LossModule(vaekit.IWAE(vaekit.BernoulliEncoder(6, 3), p, n_samples=2), lr=1e-3, val_samples=3)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*does not have many workers.*")
        _trainer(tmp_path, max_steps=1, enable_checkpointing=False).fit(
            module, DataLoader(TensorDataset(x, y), batch_size=20)
        )
    assert torch.equal(p.last_target, y)  # the target, not x, was scored
    with pytest.raises(TypeError, match="must be a vaekit Loss"):
        LossModule(torch.nn.Linear(2, 2))
    with pytest.raises(ValueError, match="val_samples must be a positive int"):
        LossModule(_loss(), val_samples=0)
