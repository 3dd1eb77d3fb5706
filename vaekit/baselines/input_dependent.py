"""A learned, input-dependent baseline: NVIL's C_psi(x) (Mnih & Gregor 2014)."""

from __future__ import annotations

from torch import Tensor, nn

from vaekit._math import detach_if_grad
from vaekit.baselines.base import Baseline

__all__ = ["InputDependentBaseline"]


class InputDependentBaseline(Baseline):
    """b(x) = net(x), fitted by least squares to the signal it sees: min_psi E[(l - b_psi(x))^2].

    b depends on x only, not on the latents, so the estimator stays unbiased whatever the fit.
    ``fit_loss`` returns mean_{b,k} (l_bk - b_psi(x_b))^2, which a loss such as ``Reinforce`` adds
    to its gradient (not its value); the network is a submodule of the baseline and hence of the
    loss, so ``loss_fn.parameters()``, ``state_dict()`` and ``.to()`` include it, and one optimizer
    over ``loss_fn.parameters()`` trains models and baseline together.

    Shapes:
        x: ``[B, *x_shape]``; ``net(x)`` must be ``[B]`` or ``[B, 1]``; returns ``[B, 1]``.

    Args:
        net: any module mapping x to one number per data point.

    References:
        Mnih & Gregor, "Neural Variational Inference and Learning in Belief Networks", ICML 2014.

    Example:
        >>> import torch
        >>> net = torch.nn.Sequential(torch.nn.Linear(5, 16), torch.nn.Tanh(), torch.nn.Linear(16, 1))
        >>> bl = InputDependentBaseline(net)
        >>> tuple(bl(torch.zeros(3, 4), torch.zeros(3, 5)).shape)
        (3, 1)
    """

    def __init__(self, net: nn.Module):
        super().__init__()
        if not isinstance(net, nn.Module):
            raise ValueError(f"InputDependentBaseline: net must be a torch.nn.Module; got {type(net).__name__}")
        self.net = net

    def forward(self, signal: Tensor, x: Tensor) -> Tensor:
        b = self.net(x)
        n = signal.shape[0]
        if b.shape not in ((n,), (n, 1)):
            raise ValueError(
                f"InputDependentBaseline: {type(self.net).__name__}(x) returned shape {tuple(b.shape)}; "
                f"expected [B] or [B, 1] with B = {n}"
            )
        return b.reshape(n, 1).to(signal.dtype)  # [B, 1]

    def fit_loss(self, signal: Tensor, baseline: Tensor) -> Tensor:
        return (detach_if_grad(signal) - baseline).pow(2).mean()
