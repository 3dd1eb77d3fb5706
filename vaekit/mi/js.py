"""JS: train the critic on the Jensen-Shannon objective, report the NWJ estimate."""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor

from vaekit._math import with_grad
from vaekit.mi._scores import check_matrix, offdiag_mean


def js(scores: Tensor) -> Tensor:
    """NWJ value of a critic trained with the Jensen-Shannon (f-GAN) objective.

    Training objective (Nowozin et al. 2016; Poole et al. 2019, section 2.3), a logistic
    classifier of joint against marginal pairs:

        L_JS = E_p(x,y)[-softplus(-f)] - E_p(x)p(y)[softplus(f)]

    whose maximiser is f = log r, r = p(x, y) / (p(x)p(y)). Value: the NWJ estimate in vaekit's
    form ``1 + E_p f - E_q e^f`` (see :func:`vaekit.mi.nwj`), which at f = log r is exactly
    I(X; Y) in expectation. (Plugging the JS critic unshifted into the ``E_p g - e^-1 E_q e^g``
    form would report ``I - 1/e``: a value 1/e low.)
    Lower bound in expectation for any critic; no log N cap; variance grows like e^I.

    Shapes:
        scores: ``[N, N]`` with ``scores[i, j] = f(x_i, y_j)``; returns a scalar (nats).

    Args:
        scores: critic values, joint pairs on the diagonal.

    Returns:
        The NWJ estimate carrying the JS objective's gradient.

    References:
        Nowozin, Cseke, Tomioka (2016). f-GAN. NeurIPS.
        Hjelm et al. (2019). Learning deep representations by mutual information estimation and
        maximization. ICLR.
        Poole, Ozair, van den Oord, Alemi, Tucker (2019). On variational bounds of mutual information. ICML.

    Example:
        >>> import torch
        >>> js(torch.zeros(3, 3)).item()
        0.0
    """
    check_matrix(scores, "js")
    return with_grad(nwj_value(scores), js_objective(scores))


def nwj_value(scores: Tensor) -> Tensor:
    """``1 + mean diag f - mean_{i != j} exp f`` (the NWJ estimate, no validation)."""
    return 1 + scores.diagonal().mean() - offdiag_mean(scores.exp())


def js_objective(scores: Tensor) -> Tensor:
    """``mean_i -softplus(-f_ii) - mean_{i != j} softplus(f_ij)`` (no validation)."""
    return -F.softplus(-scores.diagonal()).mean() - offdiag_mean(F.softplus(scores))
