"""REBAR (Tucker et al. 2017) and RELAX (Grathwohl et al. 2018): control variates through the continuous relaxation.

RELAX is REBAR's control eta f(sigmoid(z / lambda)) plus a learned network r_psi; the two share
every step but the control, so they live in one file (RELAX subclasses REBAR).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from vaekit._math import with_grad
from vaekit.latents.discrete import check_temperature, discrete_logits, is_one_hot, possible, score_latents
from vaekit.latents.noise import conditional_logistic, uniform_noise
from vaekit.losses.base import Loss
from vaekit.models import GenModel, InfNet

__all__ = ["REBAR", "RELAX", "rebar_logit_gradient"]


def rebar_logit_gradient(logits: Tensor, b: Tensor, f: Tensor, c_z: Tensor, c_zt: Tensor) -> Tensor:
    """The REBAR estimate of d/da E_q[f(b)] per data point, differentiable in the control's parameters.

    g = (f(b) - c(z~)) grad_a log q(b) + grad_a c(z) - grad_a c(z~),
    z = a + L (b = 1[z > 0]), z~ ~ p(z | b) reparameterised (``conditional_logistic``), c any
    differentiable control. ``logits`` must be a leaf the controls were computed from; the result
    keeps the graph (``create_graph``) so its square can be minimised over the control's parameters.

    Shapes:
        logits, b: ``[B, *z_shape]``; f, c_z, c_zt: ``[B]``; returns ``[B, *z_shape]``.

    References:
        Grathwohl, Choi, Wu, Roeder & Duvenaud, "Backpropagation through the void", ICLR 2018, eq. (7);
        Tucker et al., "REBAR", NeurIPS 2017.
    """
    (path,) = torch.autograd.grad((c_z - c_zt).sum(), logits, create_graph=True)  # [B, *z_shape]
    signal = (f.detach() - c_zt).reshape(-1, *([1] * (logits.dim() - 1)))  # [B, 1, ...]
    return signal * (b - torch.sigmoid(logits.detach())) + path


class REBAR(Loss):
    """Negative ELBO with the REBAR gradient: control c(z) = eta f(sigmoid(z / lambda)).

    f is scored through both models at the relaxed latents (the decoder must accept values in
    (0, 1)). The scale eta and temperature lambda are trained by the same backward pass to
    minimise the squared logit-gradient estimate sum_b |g_b|^2 / B (whose expectation differs from
    the variance by a constant: the estimator is unbiased for any control), as in the paper.
    Three model evaluations per step (b, and the relaxed z, z~) plus a double backward.

    Shapes:
        x: ``[B, *x_shape]``; returns a scalar; ``log_p_``, ``log_q_``: ``[B, 1]`` at b.

    Args:
        inf_net: q(z|x) exposing Bernoulli ``params_["logits"]``.
        gen_model: p(x, z), accepting relaxed latents in (0, 1).
        eta, temperature: initial scale and temperature of the REBAR term (temperature > 0).

    References:
        Tucker, Mnih, Maddison, Lawson & Sohl-Dickstein, "REBAR: low-variance, unbiased gradient
        estimates for discrete latent variable models", NeurIPS 2017.

    Example:
        >>> import torch
        >>> from vaekit.latents import BernoulliEncoder, SigmoidBeliefNet
        >>> loss_fn = REBAR(BernoulliEncoder(6, 3), SigmoidBeliefNet(3, 6))
        >>> loss_fn(torch.ones(4, 6)).backward(); loss_fn.log_temperature.grad is not None
        True
    """

    unbiased = True

    def __init__(
        self,
        inf_net: InfNet,
        gen_model: GenModel,
        *,
        eta: float = 1.0,
        temperature: float = 0.5,
        check_finite: bool = True,
    ):
        super().__init__(inf_net, gen_model, n_samples=1, check_finite=check_finite)
        temperature = check_temperature(temperature, type(self).__name__)
        dtype = next(iter(inf_net.parameters())).dtype
        self.eta = nn.Parameter(torch.tensor(float(eta), dtype=dtype))
        self.log_temperature = nn.Parameter(torch.tensor(math.log(temperature), dtype=dtype))

    def estimate(self, x: Tensor, target: Tensor) -> Tensor:
        inf = self.inf_net(x)
        name = type(self).__name__
        logits = discrete_logits(inf, name)  # [B, *z_shape]
        if is_one_hot(inf):
            raise ValueError(f"{name} is for Bernoulli latents; got an InfNet with one_hot = True")
        u = uniform_noise(logits.shape, dtype=logits.dtype, device=logits.device)  # [B, *z_shape]
        b = (logits.detach() + torch.log(u) - torch.log1p(-u) > 0).to(logits.dtype)  # [B, *z_shape]
        log_p, log_q = score_latents(inf, self.gen_model, target, b.unsqueeze(1), name, detach_q=True)  # [B, 1]
        self.keep_log_weights(log_p, log_q)
        f = (log_p - log_q).sum(dim=1)  # [B]; a sum, not a squeeze: no view crosses the compiled-graph break
        if not torch.is_grad_enabled():
            return f
        f_possible = possible(f)  # an impossible latent (-inf) adds no term to the surrogate
        g, fit = self._control_terms(inf, target, logits.detach().clone(), u, b, f_possible.detach().clone())
        surrogate = f_possible + (g * logits).flatten(1).sum(-1) - fit  # [B]; -fit: the loss descends |g|^2
        return with_grad(f, surrogate)

    @torch._disable_dynamo  # torch.compiler.disable, importing torch._dynamo (1.5 s) only at the first call
    def _control_terms(
        self, inf: InfNet, target: Tensor, logits: Tensor, u: Tensor, b: Tensor, f: Tensor
    ) -> tuple[Tensor, Tensor]:
        """The logit-gradient estimate g (detached) and the fitting term of the control's parameters.

        Runs eagerly under torch.compile: it differentiates a graph of its own (a double backward).
        """
        a = logits.detach().requires_grad_()  # leaf of the control graph  [B, *z_shape]
        z = a + torch.log(u) - torch.log1p(-u)  # [B, *z_shape]: a + logistic noise, so 1[z > 0] = b
        zt = conditional_logistic(a, b, uniform_noise(a.shape, dtype=a.dtype, device=a.device))  # [B, *z_shape]
        relaxed = torch.sigmoid(torch.stack([z, zt], dim=1) / self.log_temperature.exp())  # [B, 2, *z_shape]
        name = type(self).__name__
        lp_r, lq_r = score_latents(inf, self.gen_model, target, relaxed, name, detach_q=True, relaxed=True)
        c = self.eta * possible(lp_r - lq_r) + self.network_control(relaxed)  # [B, 2]; -inf: no term, no NaN
        g = rebar_logit_gradient(a, b, f, c[:, 0], c[:, 1])  # [B, *z_shape]
        ctrl = [p for p in self.parameters_of_control() if p.requires_grad]
        grads = torch.autograd.grad(g.pow(2).flatten(1).sum(-1).mean(), ctrl, allow_unused=True)
        fit = sum(((gr.detach() * p).sum() for gr, p in zip(grads, ctrl) if gr is not None), torch.zeros_like(f[0]))
        return g.detach(), fit

    def network_control(self, relaxed: Tensor) -> Tensor | float:
        """The learned part of the control at the relaxed latents ``[B, 2, *z_shape]``: none in REBAR."""
        return 0.0

    def parameters_of_control(self) -> list[Tensor]:
        """eta and log(temperature) (trained to minimise |g|^2)."""
        return [self.eta, self.log_temperature]


class RELAX(REBAR):
    """Negative ELBO with the RELAX gradient: control c(z) = eta f(sigmoid(z / lambda)) + r_psi(sigmoid(z / lambda)).

    The REBAR term (scale eta, temperature lambda, f scored through both models at the relaxed
    latents) plus a user network r_psi. eta, lambda and psi are trained by the same backward pass to
    minimise the squared logit-gradient estimate sum_b |g_b|^2 / B (whose expectation differs from
    the variance by a constant: the estimator is unbiased for any control), as in the paper. The
    logit gradient is ``rebar_logit_gradient`` with this control (Grathwohl et al. eq. 7).
    Three model evaluations per step (b, and the relaxed z, z~) plus a double backward.

    Shapes:
        x: ``[B, *x_shape]``; returns a scalar; ``log_p_``, ``log_q_``: ``[B, 1]`` at b.

    Args:
        inf_net: q(z|x) exposing Bernoulli ``params_["logits"]``.
        gen_model: p(x, z), accepting relaxed latents in (0, 1).
        control: r_psi, a module mapping relaxed latents flattened to ``[..., n]`` to ``[..., 1]``.
        eta, temperature: initial scale and temperature of the REBAR term (temperature > 0).

    References:
        Grathwohl, Choi, Wu, Roeder & Duvenaud, "Backpropagation through the void: optimizing control
        variates for black-box gradient estimation", ICLR 2018.

    Example:
        >>> import torch
        >>> from vaekit.latents import BernoulliEncoder, SigmoidBeliefNet
        >>> loss_fn = RELAX(BernoulliEncoder(6, 3), SigmoidBeliefNet(3, 6), control=torch.nn.Linear(3, 1))
        >>> loss_fn(torch.ones(4, 6)).backward(); loss_fn.log_temperature.grad is not None
        True
    """

    def __init__(
        self,
        inf_net: InfNet,
        gen_model: GenModel,
        *,
        control: nn.Module,
        eta: float = 1.0,
        temperature: float = 0.5,
        check_finite: bool = True,
    ):
        if not isinstance(control, nn.Module):
            raise TypeError(f"RELAX: control must be an nn.Module; got {type(control).__name__}")
        super().__init__(inf_net, gen_model, eta=eta, temperature=temperature, check_finite=check_finite)
        self.control = control

    def network_control(self, relaxed: Tensor) -> Tensor:
        """r_psi at the relaxed latents ``[B, 2, *z_shape]`` (flattened per latent): ``[B, 2]``."""
        return self.control(relaxed.flatten(2)).squeeze(-1)

    def parameters_of_control(self) -> list[Tensor]:
        """eta, log(temperature) and the control network's parameters (trained to minimise |g|^2)."""
        return [*super().parameters_of_control(), *self.control.parameters()]
