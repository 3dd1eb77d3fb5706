"""HSIC-bottleneck training: layer-local nHSIC objectives, no backpropagation between layers."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence

import torch
from torch import Tensor, nn

from vaekit.hsic.estimators import nhsic_projector, trace_product
from vaekit.hsic.kernels import check_samples, gaussian_gram

__all__ = ["HSICBottleneck"]

OptimizerFactory = Callable[[Iterable[nn.Parameter], float], torch.optim.Optimizer]


class HSICBottleneck(nn.Module):
    """A stack of layers trained by the HSIC bottleneck, then a format layer that outputs classes.

    Each layer ``i`` of ``Z_i = f_i(Z_{i-1})`` (``Z_0 = X``) minimises its own objective

        loss_i = lambda_x nHSIC(Z_i, X) - lambda_y nHSIC(Z_i, Y)

    on the minibatch, with its own optimiser; its input ``Z_{i-1}`` is detached, so no gradient
    crosses layers (no backpropagation). ``nHSIC(A, B) = tr(R_A R_B)`` (``vaekit.hsic.nhsic``)
    with Gaussian kernels of bandwidth ``sigma * sqrt(d)`` for a ``d``-dimensional input (the
    authors' scaling) and ``Y`` one-hot. All layers' Gram matrices are solved in one batched
    call. The hidden units of the last layer carry the label information but are not class
    scores, so the "format" step fits a linear layer ``last width -> n_classes`` by cross-entropy
    on the frozen network's output (the paper's format-trained network); ``predict`` returns labels.

    Defaults follow the authors' published MNIST configuration (general-hsicbt.yaml: Adam,
    lr 1e-4, batch 512, sigma 5, lambda_x 1, lambda_y 50, epsilon 1e-5; the format step: lr 5e-3,
    batch 256).

    Shapes:
        x: ``[B, *x_shape]`` (flattened to ``[B, d]`` for the kernel); y: ``[B]`` integer labels.
        ``layer_losses`` returns ``[n_layers]``; ``forward`` ``[B, n_classes]``; ``predict`` ``[B]``.

    Args:
        layers: the blocks ``f_i`` (each an ``nn.Module`` with parameters, e.g. Linear + ReLU).
        n_classes: number of classes of ``y``.
        lambda_x: weight of the compression term ``nHSIC(Z_i, X)``.
        lambda_y: weight of the relevance term ``nHSIC(Z_i, Y)``.
        sigma: kernel scale ``s``; the bandwidth for a ``d``-dimensional variable is ``s sqrt(d)``.
        epsilon: ridge of the normalised HSIC.
        lr: learning rate of every layer's optimiser.
        format_lr: learning rate of the format layer's optimiser.
        optimizer: ``factory(params, lr) -> Optimizer``, called once per layer (default Adam).

    References:
        Ma, Lewis, Kleijn (2020). The HSIC bottleneck: deep learning without back-propagation. AAAI.

    Example:
        >>> import torch
        >>> from torch import nn
        >>> g = torch.Generator().manual_seed(0)
        >>> y = torch.randint(0, 2, (64,), generator=g)
        >>> x = torch.randn(64, 4, generator=g) + 3.0 * y[:, None]
        >>> net = HSICBottleneck([nn.Sequential(nn.Linear(4, 8), nn.Tanh())], n_classes=2, lr=1e-2, format_lr=0.05)
        >>> net.layer_losses(x, y).shape
        torch.Size([1])
        >>> _ = net.fit(x, y, epochs=3, format_epochs=50, batch_size=64, generator=g)
        >>> bool((net.predict(x) == y).float().mean() > 0.9)
        True
    """

    def __init__(
        self,
        layers: Sequence[nn.Module],
        *,
        n_classes: int,
        lambda_x: float = 1.0,
        lambda_y: float = 50.0,
        sigma: float = 5.0,
        epsilon: float = 1e-5,
        lr: float = 1e-4,
        format_lr: float = 5e-3,
        optimizer: OptimizerFactory | None = None,
    ):
        super().__init__()
        if isinstance(layers, nn.Module) or not all(isinstance(layer, nn.Module) for layer in layers) or not layers:
            raise TypeError(f"HSICBottleneck: layers must be a non-empty sequence of nn.Module; got {layers!r}")
        for i, layer in enumerate(layers):
            if not any(p.requires_grad for p in layer.parameters()):
                raise ValueError(
                    f"HSICBottleneck: layer {i} ({type(layer).__name__}) has no trainable parameters; "
                    "group parameter-free modules (activations) with the layer before them"
                )
        if not isinstance(n_classes, int) or n_classes < 2:
            raise ValueError(f"HSICBottleneck: n_classes must be an int >= 2; got {n_classes!r}")
        for label, value in (("sigma", sigma), ("lr", lr), ("format_lr", format_lr)):
            if not value > 0:
                raise ValueError(f"HSICBottleneck: {label} must be > 0; got {value!r}")
        if epsilon < 0:
            raise ValueError(f"HSICBottleneck: epsilon must be >= 0; got {epsilon!r}")
        self.layers = nn.ModuleList(layers)
        self.head = nn.LazyLinear(n_classes)
        self.n_classes, self.lambda_x, self.lambda_y = n_classes, float(lambda_x), float(lambda_y)
        self.sigma, self.epsilon, self.format_lr = float(sigma), float(epsilon), float(format_lr)
        make = optimizer or (lambda params, lr: torch.optim.Adam(params, lr=lr))
        self._make_optimizer = make
        self.optimizers = [make(layer.parameters(), lr) for layer in self.layers]
        self.format_optimizer: torch.optim.Optimizer | None = None

    def _projector(self, v: Tensor) -> Tensor:
        v = v.flatten(1)  # [B, d]
        return nhsic_projector(gaussian_gram(v, self.sigma * math.sqrt(v.shape[1])), self.epsilon)  # [B, B]

    def _check(self, x: Tensor, y: Tensor) -> None:
        check_samples(x.flatten(1), "HSICBottleneck: x")
        if not isinstance(y, Tensor) or y.dtype in (torch.float16, torch.float32, torch.float64, torch.bfloat16):
            raise TypeError(
                f"HSICBottleneck: y must be an integer tensor of labels; got {getattr(y, 'dtype', type(y))}"
            )
        if y.shape != x.shape[:1]:
            raise ValueError(f"HSICBottleneck: y must have shape [B] = {tuple(x.shape[:1])}; got {tuple(y.shape)}")
        if bool((y < 0).any() | (y >= self.n_classes).any()):
            raise ValueError(f"HSICBottleneck: labels must be in [0, {self.n_classes}); got {y.min()}..{y.max()}")

    def layer_losses(self, x: Tensor, y: Tensor) -> Tensor:
        """Every layer's local objective ``lambda_x nHSIC(Z_i, X) - lambda_y nHSIC(Z_i, Y)``.

        Layer ``i`` sees ``Z_{i-1}`` detached, so entry ``i`` depends on layer ``i``'s
        parameters only. Shapes: x ``[B, *x_shape]``, y ``[B]``; returns ``[n_layers]``.
        """
        self._check(x, y)
        one_hot = nn.functional.one_hot(y, self.n_classes).to(x.dtype)  # [B, C]
        rx, ry = self._projector(x), self._projector(one_hot)  # [B, B] each, constants
        z, grams = x, []
        for layer in self.layers:
            z = layer(z.detach())  # the detach is what makes training layer-local
            v = z.flatten(1)  # [B, d_i]
            grams.append(gaussian_gram(v, self.sigma * math.sqrt(v.shape[1])))
        rz = nhsic_projector(torch.stack(grams), self.epsilon)  # [L, B, B], one batched solve
        return self.lambda_x * trace_product(rz, rx) - self.lambda_y * trace_product(rz, ry)  # [L]

    def hsic_step(self, x: Tensor, y: Tensor) -> Tensor:
        """One step of every layer's optimiser on its own loss; returns the losses ``[n_layers]``."""
        for opt in self.optimizers:
            opt.zero_grad(set_to_none=True)
        losses = self.layer_losses(x, y)  # [L]
        # The sum's gradient w.r.t. layer i's parameters is loss_i's: the other terms do not depend on them.
        losses.sum().backward()
        for opt in self.optimizers:
            opt.step()
        return losses.detach()

    def features(self, x: Tensor) -> Tensor:
        """The last layer's output ``Z_L``, ``[B, d_L]`` (flattened)."""
        for layer in self.layers:
            x = layer(x)
        return x.flatten(1)

    def format_step(self, x: Tensor, y: Tensor) -> Tensor:
        """One cross-entropy step of the format layer on the frozen features; returns the loss."""
        self._check(x, y)
        with torch.no_grad():
            h = self.features(x)  # [B, d_L]
        logits = self.head(h)  # [B, C]; materialises the lazy layer on the first call
        if self.format_optimizer is None:
            self.format_optimizer = self._make_optimizer(self.head.parameters(), self.format_lr)
        loss = nn.functional.cross_entropy(logits, y)
        self.format_optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.format_optimizer.step()
        return loss.detach()

    def forward(self, x: Tensor) -> Tensor:
        """Class scores ``[B, n_classes]`` of the formatted network."""
        return self.head(self.features(x))

    @torch.no_grad()
    def predict(self, x: Tensor) -> Tensor:
        """Predicted labels ``[B]`` (call ``format_step`` or ``fit`` first)."""
        if self.format_optimizer is None:
            raise RuntimeError("HSICBottleneck.predict: the format layer is untrained; call fit() or format_step()")
        return self(x).argmax(-1)

    def fit(
        self,
        x: Tensor,
        y: Tensor,
        *,
        epochs: int = 5,
        format_epochs: int = 5,
        batch_size: int = 512,
        format_batch_size: int = 256,
        generator: torch.Generator | None = None,
        callback: Callable[[str, int, Tensor], None] | None = None,
    ) -> HSICBottleneck:
        """HSIC-train all layers for ``epochs``, then the format layer for ``format_epochs``.

        Minibatches are a fresh permutation per epoch from ``generator``; a last batch smaller
        than 4 points is dropped (the kernels need a few points). ``callback(phase, epoch, loss)``
        is called after each batch, phase ``"hsic"`` or ``"format"``. Returns self.
        """
        self._check(x, y)
        n = x.shape[0]
        for phase, n_epochs, size in (("hsic", epochs, batch_size), ("format", format_epochs, format_batch_size)):
            for epoch in range(n_epochs):
                perm = torch.randperm(n, generator=generator).to(x.device)
                for start in range(0, n, size):
                    idx = perm[start : start + size]
                    if idx.numel() < 4:
                        continue
                    step = self.hsic_step if phase == "hsic" else self.format_step
                    loss = step(x[idx], y[idx])
                    if callback is not None:
                        callback(phase, epoch, loss)
        return self
