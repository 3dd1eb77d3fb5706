"""Lightning integration: any vaekit loss as a ``lightning.LightningModule``.

``LossModule(loss_fn)`` trains with the loss's own estimator (``training_step`` returns
``loss_fn(x)``), logs ``train/loss`` and ``train/bound`` (minus the loss), validates with the
IWAE_K bound (``val/iwae_bound``, K = ``val_samples``, averaged over the validation set by
Lightning), and checkpoints through Lightning (the loss's ``state_dict`` holds both models and
any baseline). Batches are ``x`` or ``(x, target)``; targets go to the loss as ``target=``.

Lightning is optional (``pip install torch==2.13.0 'vaekit[lightning]'``): this module imports
it only when ``LossModule`` is first used, so ``import vaekit`` never needs it.

Shapes:
    A batch: ``x [B, *x_shape]`` or ``(x, target [B, *y_shape])``.

Example:
    >>> import vaekit
    >>> loss_fn = vaekit.VIMCO(vaekit.BernoulliEncoder(64, 16), vaekit.SigmoidBeliefNet(16, 64), n_samples=5)
    >>> import lightning  # doctest: +SKIP
    >>> from vaekit.lightning import LossModule  # doctest: +SKIP
    >>> module = LossModule(loss_fn, lr=3e-3, val_samples=1000)  # doctest: +SKIP
    >>> lightning.Trainer(max_steps=1000).fit(module, train_loader, val_loader)  # doctest: +SKIP
"""

from __future__ import annotations

from typing import Any

__all__ = ["LossModule"]  # noqa: F822 (built on first access by the module __getattr__)


def _build() -> type:
    try:
        import lightning
    except ImportError as err:
        raise ImportError(
            "vaekit.lightning needs Lightning: pip install torch==2.13.0 'vaekit[lightning]' (or lightning)"
        ) from err
    import torch
    from torch import Tensor

    from vaekit.evaluate import iwae_bound

    class LossModule(lightning.LightningModule):
        """Wraps a vaekit loss as a ``LightningModule``.

        Args:
            loss_fn: a vaekit ``Loss`` (it owns ``inf_net`` and ``gen_model``).
            lr: learning rate of the default Adam optimizer.
            val_samples: K of the validation IWAE bound.
            optimizer: optional ``optimizer(parameters) -> torch.optim.Optimizer`` replacing Adam.

        A checkpoint is read back with ``LossModule.load_from_checkpoint(path, loss_fn=a_fresh_loss)``:
        the loss object is not a hyperparameter, its state is.
        """

        def __init__(
            self, loss_fn: torch.nn.Module, *, lr: float = 1e-3, val_samples: int = 1000, optimizer: Any = None
        ):
            super().__init__()
            if not (hasattr(loss_fn, "inf_net") and hasattr(loss_fn, "gen_model")):
                raise TypeError(f"LossModule: loss_fn must be a vaekit Loss; got {type(loss_fn).__name__}")
            if isinstance(val_samples, bool) or not isinstance(val_samples, int) or val_samples < 1:
                raise ValueError(f"LossModule: val_samples must be a positive int; got {val_samples!r}")
            self.loss_fn = loss_fn
            self.optimizer_factory = optimizer
            self.save_hyperparameters(ignore=["loss_fn", "optimizer"])

        def forward(self, x: Tensor, target: Tensor | None = None) -> Tensor:
            return self.loss_fn(x, target)

        def training_step(self, batch: Any, batch_idx: int) -> Tensor:
            x, y = _split(batch)
            loss = self.loss_fn(x, y)  # scalar: minus the bound, mean over the batch
            self.log("train/loss", loss, prog_bar=True, batch_size=x.shape[0])
            self.log("train/bound", -loss.detach(), batch_size=x.shape[0])
            return loss

        def validation_step(self, batch: Any, batch_idx: int) -> Tensor:
            x, y = _split(batch)
            q, p = self.loss_fn.inf_net, self.loss_fn.gen_model
            bound = iwae_bound(q, p, x, n_samples=self.hparams["val_samples"], target=y).mean()  # type: ignore[arg-type]
            self.log("val/iwae_bound", bound, prog_bar=True, batch_size=x.shape[0])
            return bound

        def on_train_epoch_end(self) -> None:
            # Reading the loss's history raises any error its deferred finiteness check recorded.
            getattr(self.loss_fn, "loss_history_", None)

        def configure_optimizers(self) -> torch.optim.Optimizer:
            if self.optimizer_factory is not None:
                return self.optimizer_factory(self.parameters())
            return torch.optim.Adam(self.parameters(), lr=self.hparams["lr"])

    def _split(batch: Any) -> tuple[Tensor, Tensor | None]:
        if isinstance(batch, Tensor):
            return batch, None
        if isinstance(batch, (tuple, list)) and len(batch) in (1, 2) and all(isinstance(b, Tensor) for b in batch):
            return batch[0], (batch[1] if len(batch) == 2 else None)
        raise TypeError(f"LossModule: a batch must be a tensor x or a pair (x, target); got {type(batch).__name__}")

    LossModule.__module__ = __name__
    return LossModule


def __getattr__(name: str) -> Any:
    # The class is built (and Lightning imported) on first access, then cached as a module global.
    if name == "LossModule":
        cls = _build()
        globals()[name] = cls
        return cls
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
