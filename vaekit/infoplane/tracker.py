"""Information-plane tracking: I(X;T) and I(T;Y) of chosen layers on a fixed probe set during training."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import torch
from torch import Tensor, nn

__all__ = ["InformationPlaneTracker"]


class InformationPlaneTracker:
    """Records the information-plane coordinates of chosen layers of a model at chosen times.

    At each record the tracker attaches forward hooks to the chosen modules, runs the fixed probe
    set through the model in ``eval()`` mode under ``torch.no_grad()``, removes the hooks (in a
    ``finally``, so also on error), restores every module's train/eval flag, and appends one tidy
    row per (layer, estimator) to ``rows``:

        {"step", "epoch", "layer", "estimator", "split", "ixt", "ity", "units", "settings"}

    ``ixt`` and ``ity`` are I(X;T) and I(T;Y) (HSIC(X,T) and HSIC(T,Y) for an HSIC measure).
    Between records the model carries no hook. Memory is bounded by the probe: one record holds
    the chosen layers' activations on the probe set (and, for the KDE and HSIC measures, one
    ``[N, N]`` matrix per layer), never a history of activations.

    Shapes:
        x: ``[N, *x_shape]`` probe inputs; y: ``[N]`` integer labels. A layer's output is flattened
        to ``[N, d]``.

    Args:
        model: the network; ``model(x)`` returns class scores ``[N, C]`` when ``use_predictions``.
        x: probe inputs (moved to the model's device).
        y: probe labels.
        estimators: objects such as ``Binning()``, ``KDE(noise_var=1e-3)``, ``HSICMeasure()``.
        layers: names of modules (as in ``model.named_modules()``) to track.
        layer_types: track every module of these types (e.g. ``(nn.Tanh, nn.ReLU)``); combined
            with ``layers`` when both are given; one of them is required.
        use_predictions: Y is the network's prediction ``argmax model(x)`` instead of ``y``.
        split: label of the probe set in the rows (``"train"``, ``"test"``, ...).
        steps: steps at which ``maybe_record`` records.
        epochs: epochs at which ``maybe_record`` records (once per epoch).

    References:
        Shwartz-Ziv, Tishby (2017). Opening the black box of deep neural networks via information.
        Saxe et al. (2018). On the information bottleneck theory of deep learning. ICLR.

    Example:
        >>> import torch
        >>> from torch import nn
        >>> from vaekit.infoplane import Binning, InformationPlaneTracker
        >>> net = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2))
        >>> x, y = torch.randn(16, 3), torch.randint(0, 2, (16,))
        >>> tracker = InformationPlaneTracker(net, x, y, [Binning()], layer_types=(nn.Tanh,))
        >>> rows = tracker.record(step=0, epoch=0)
        >>> rows[0]["layer"], rows[0]["estimator"], rows[0]["units"]
        ('1', 'binning', 'bits')
    """

    def __init__(
        self,
        model: nn.Module,
        x: Tensor,
        y: Tensor,
        estimators: Sequence[Any],
        *,
        layers: Sequence[str] | None = None,
        layer_types: tuple[type, ...] | None = None,
        use_predictions: bool = False,
        split: str = "probe",
        steps: Iterable[int] | None = None,
        epochs: Iterable[int] | None = None,
    ):
        if not isinstance(model, nn.Module):
            raise TypeError(f"InformationPlaneTracker: model must be an nn.Module; got {type(model).__name__}")
        if not isinstance(x, Tensor) or not isinstance(y, Tensor):
            raise TypeError("InformationPlaneTracker: x and y must be tensors")
        if y.is_floating_point() or y.shape != x.shape[:1]:
            raise ValueError(
                f"InformationPlaneTracker: y must be integer labels [N] = {tuple(x.shape[:1])}; "
                f"got {y.dtype} {tuple(y.shape)}"
            )
        if not estimators:
            raise ValueError("InformationPlaneTracker: give at least one estimator (Binning(), KDE(), HSICMeasure())")
        named = dict(model.named_modules())
        chosen: list[str] = []
        for name in layers or ():
            if name not in named:
                raise ValueError(
                    f"InformationPlaneTracker: no module named {name!r}; the model has {sorted(n for n in named if n)}"
                )
            chosen.append(name)
        if layer_types is not None:
            chosen += [n for n, mod in named.items() if isinstance(mod, layer_types) and n not in chosen]
        if not chosen:
            raise ValueError(
                "InformationPlaneTracker: no layer chosen; pass layers=[names] or layer_types=(types,) "
                f"matching a module of the model; got layers={layers!r}, layer_types={layer_types!r}"
            )
        order = {n: i for i, n in enumerate(named)}
        self.layers = sorted(chosen, key=order.__getitem__)  # forward (registration) order
        self.model, self.estimators, self.split = model, list(estimators), split
        self.use_predictions = bool(use_predictions)
        self.x, self.y = x, y
        self.steps = set(steps) if steps is not None else set()
        self.epochs = set(epochs) if epochs is not None else set()
        self._recorded_epochs: set[int] = set()
        self.rows: list[dict[str, Any]] = []

    def _probe(self) -> tuple[list[Tensor], Tensor, Tensor]:
        model = self.model
        device = next((p.device for p in model.parameters()), self.x.device)
        x = self.x.to(device)
        acts: dict[str, Tensor] = {}

        def hook_for(name: str):
            def hook(module: nn.Module, inputs: Any, output: Any) -> None:
                out = output[0] if isinstance(output, (tuple, list)) else output
                if not isinstance(out, Tensor):
                    raise ValueError(
                        f"InformationPlaneTracker: layer {name!r} returned {type(out).__name__}, not a tensor"
                    )
                acts[name] = out.detach().flatten(1)  # [N, d]

            return hook

        modules = dict(model.named_modules())
        flags = {mod: mod.training for mod in model.modules()}
        handles = []
        try:
            handles = [modules[name].register_forward_hook(hook_for(name)) for name in self.layers]
            model.eval()
            with torch.no_grad():
                out = model(x)
        finally:
            for handle in handles:
                handle.remove()
            for mod, flag in flags.items():
                mod.training = flag  # per module: a model in mixed modes comes back as it was
        missing = [n for n in self.layers if n not in acts]
        if missing:
            raise ValueError(f"InformationPlaneTracker: layers {missing} were not called by model(x)")
        for name in self.layers:
            if not bool(torch.isfinite(acts[name]).all()):
                raise ValueError(f"InformationPlaneTracker: layer {name!r} has non-finite activations (NaN or inf)")
        if self.use_predictions:
            if not isinstance(out, Tensor) or out.dim() != 2:
                raise ValueError(
                    "InformationPlaneTracker: use_predictions needs model(x) to return scores [N, C]; "
                    f"got {getattr(out, 'shape', type(out))}"
                )
            y = out.argmax(-1)  # [N]
        else:
            y = self.y.to(device)
        return [acts[n] for n in self.layers], x, y

    def record(self, *, step: int, epoch: int) -> list[dict[str, Any]]:
        """Run the probe now and append (and return) one row per layer and estimator."""
        acts, x, y = self._probe()
        new = []
        for est in self.estimators:
            for name, (ixt, ity) in zip(self.layers, est(acts, x, y)):
                new.append(
                    {
                        "step": int(step),
                        "epoch": int(epoch),
                        "layer": name,
                        "estimator": est.name,
                        "split": self.split,
                        "ixt": float(ixt),
                        "ity": float(ity),
                        "units": est.units,
                        "settings": est.settings(),
                    }
                )
        self.rows.extend(new)
        return new

    def maybe_record(self, *, step: int, epoch: int) -> bool:
        """Record if ``step`` is in ``steps`` or ``epoch`` is in ``epochs`` (once per epoch)."""
        due = step in self.steps or (epoch in self.epochs and epoch not in self._recorded_epochs)
        if due:
            self.record(step=step, epoch=epoch)
            self._recorded_epochs.add(epoch)
        return due
