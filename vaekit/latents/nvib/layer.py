"""Nonparametric variational information bottleneck (NVIB) for attention-based (set) embeddings.

The latent of N vectors u_1..u_N (batch-first, with a padding mask) is a Dirichlet-process-style
mixture of N + 1 Gaussians: a prior component 0 is prepended, and the mixture weights pi are drawn
from a Dirichlet with pseudo-counts alpha:

    mu_i = W_mu u_i + b_mu,  log sigma^2_i = W_v u_i + b_v,  log alpha_i = W_l u_i + W_q (u_i * u_i) + b_a
    (+ log alpha of the previous layer: the alpha skip),
    component 0: mu_0 = mu_p, sigma^2_0 = sigma^2_p, log alpha_0 = log alpha_p   (buffers).

Training: z_i = mu_i + sigma_i eps_i, gamma_i ~ Gamma(alpha_i, 1) (reparameterised; 0 on padding),
pi_i = gamma_i / sum_j gamma_j; kappa > 1 replicates each component kappa times with alpha / kappa.
Evaluation: z_i = mu_i, pi = Dirichlet mean with pseudo-counts alpha_i <= 0.1 pruned to 0.
The KL terms (``kl_gaussian``, ``kl_dirichlet``) are in ``vaekit.latents.nvib.kl``; the
attention that reads this latent is ``vaekit.latents.DenoisingAttention``.

References:
    Henderson & Fehr, "A VAE for Transformers with Nonparametric Variational Information
    Bottleneck", ICLR 2023. Behjati, Fehr & Henderson, EMNLP 2023 (alpha skip). Fehr & Henderson,
    "Nonparametric Variational Regularisation of Pretrained Transformers", COLM 2024 (identity init).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
from torch import Tensor, nn
from torch.distributions import Gamma, Normal

from vaekit.latents.nvib.kl import kl_dirichlet, kl_gaussian

__all__ = ["NVIB", "NVIBLatent", "nvib_log_prob"]

_LOG_ALPHA_DETERMINISTIC = 30.0


class NVIBLatent(NamedTuple):
    """What an ``NVIB`` layer returns; every tensor has the prior component first.

    Shapes (K0 = kappa * (N + 1) components, P the width):
        z: ``[B, K0, P]`` (a draw in training; the means in evaluation).
        log_pi: ``[B, K0]`` log mixture weights; -inf on padding (and on pruned components in eval).
        mu, logvar: ``[B, K0, P]``. log_alpha: ``[B, K0]`` pseudo-counts (copies carry alpha / kappa),
        -inf on padding. key_padding_mask: ``[B, K0]`` bool, True = padding.
        var: ``[B, K0, P]`` sigma^2 in evaluation (selects DenoisingAttention's evaluation form), None
        in training. alpha_skip: ``[B, N]`` log alpha of the N input vectors, for the next layer.
    """

    z: Tensor
    log_pi: Tensor
    mu: Tensor
    logvar: Tensor
    log_alpha: Tensor
    key_padding_mask: Tensor
    var: Tensor | None
    alpha_skip: Tensor

    @property
    def pi(self) -> Tensor:
        """Mixture weights ``[B, K0]``: sum to 1 over the unmasked components, 0 on padding."""
        return self.log_pi.exp()

    def attention_kwargs(self) -> dict:
        """Keyword arguments for ``DenoisingAttention(query, z, z, **latent.attention_kwargs())``."""
        return {"key_padding_mask": self.key_padding_mask, "log_pi": self.log_pi, "var": self.var}


class NVIB(nn.Module):
    """The NVIB layer: maps N vectors (with padding) to a Dirichlet-weighted Gaussian mixture latent.

    Objective contribution (per batch element, see ``vaekit.latents.nvib.kl``):
    ``lambda_G * KL_G + lambda_D * KL_D``, added by the user to a reconstruction loss.

    Shapes:
        u: ``[B, N, P]``; key_padding_mask: ``[B, N]`` bool (True = padding) or None;
        alpha_skip: ``[B, N]`` or None. Returns an ``NVIBLatent`` with K0 = kappa * (N + 1).

    Args:
        embed_dim: P, the width of the vectors (and of mu, sigma^2).
        num_heads: heads of the attention that reads the latent; sets the identity init's
            d = P / num_heads.
        kappa: number of samples (copies) per component, >= 1.
        prior_mu, prior_var, prior_log_alpha: the prior component (buffers).
        delta: increment of the prior's total mass per extra component (alpha0_p).
        prune_below: in evaluation, pseudo-counts alpha_i <= this are set to 0 (default 0.1).
        identity_init: W_mu = I, b_mu = 0, W_v = 0, b_v = log sigma^2_p, W_l = 0, b_a = 0,
            W_q = 1 / (2 sqrt(d)) (Fehr & Henderson 2024); else torch's default Linear init. Then
            NVIB followed by ``DenoisingAttention`` equals scaled dot-product attention over the
            inputs only under these conditions: evaluation mode (training draws perturb z and
            log pi), and a prior pseudo-count at or below ``prune_below`` (e.g.
            ``prior_log_alpha=math.log(0.05)``; at the default alpha_p = 1 the prior component
            takes part). Its training form (``log_pi`` without ``var``) is then exact; its
            evaluation form (``**latent.attention_kwargs()``, which passes ``var``) only in the
            limit prior_var -> 0, with an error of order prior_var. At the defaults the outputs
            differ (by 0.26 in evaluation and 0.95 in training on the 8-wide test case).

    References:
        Henderson & Fehr, ICLR 2023; Behjati, Fehr & Henderson, EMNLP 2023; Fehr & Henderson, COLM 2024.

    Example:
        >>> import torch
        >>> nvib = NVIB(8, num_heads=2)
        >>> lat = nvib(torch.randn(2, 5, 8), key_padding_mask=torch.tensor([[False] * 5, [False] * 3 + [True] * 2]))
        >>> tuple(lat.z.shape), torch.allclose(lat.pi.sum(-1), torch.ones(2))
        ((2, 6, 8), True)
        >>> kl_g, kl_d = nvib.kl(lat); tuple(kl_g.shape), tuple(kl_d.shape)
        ((2,), (2,))
    """

    # Buffers, declared for the type checker (nn.Module.__getattr__ is typed Tensor | Module).
    prior_mu: Tensor
    prior_var: Tensor
    prior_log_alpha: Tensor

    def __init__(
        self,
        embed_dim: int,
        *,
        num_heads: int = 1,
        kappa: int = 1,
        prior_mu: float = 0.0,
        prior_var: float = 1.0,
        prior_log_alpha: float = 0.0,
        delta: float = 1.0,
        prune_below: float = 0.1,
        identity_init: bool = True,
    ):
        super().__init__()
        for name, v in (("embed_dim", embed_dim), ("num_heads", num_heads), ("kappa", kappa)):
            if isinstance(v, bool) or not isinstance(v, int):
                raise TypeError(f"NVIB: {name} must be an int; got {type(v).__name__}")
            if v < 1:
                raise ValueError(f"NVIB: {name} must be >= 1; got {v}")
        for name, r in (
            ("prior_mu", prior_mu),
            ("prior_var", prior_var),
            ("prior_log_alpha", prior_log_alpha),
            ("delta", delta),
            ("prune_below", prune_below),
        ):
            if isinstance(r, bool) or not isinstance(r, (int, float)):
                raise TypeError(f"NVIB: {name} must be a real number; got {type(r).__name__}")
        if embed_dim % num_heads:
            raise ValueError(f"NVIB: embed_dim ({embed_dim}) must be divisible by num_heads ({num_heads})")
        if not prior_var > 0:
            raise ValueError(f"NVIB: prior_var must be > 0; got {prior_var!r}")
        if not delta >= 0 or not prune_below >= 0:
            raise ValueError(
                f"NVIB: delta and prune_below must be >= 0; got delta={delta!r}, prune_below={prune_below!r}"
            )
        self.embed_dim, self.num_heads, self.kappa = embed_dim, num_heads, kappa
        self.delta, self.prune_below = float(delta), float(prune_below)
        self.mu_proj = nn.Linear(embed_dim, embed_dim)
        self.logvar_proj = nn.Linear(embed_dim, embed_dim)
        self.alpha_proj = nn.Linear(embed_dim, 1)  # W_l u + b_a
        self.alpha_quad = nn.Linear(embed_dim, 1, bias=False)  # W_q (u * u)
        self.register_buffer("prior_mu", torch.full((embed_dim,), float(prior_mu)))
        self.register_buffer("prior_var", torch.full((embed_dim,), float(prior_var)))
        self.register_buffer("prior_log_alpha", torch.tensor(float(prior_log_alpha)))
        if identity_init:
            self.reset_identity()

    def extra_repr(self) -> str:
        return f"embed_dim={self.embed_dim}, num_heads={self.num_heads}, kappa={self.kappa}"

    @torch.no_grad()
    def reset_identity(self) -> None:
        """Identity initialisation (Fehr & Henderson 2024); see the class docstring."""
        d = self.embed_dim // self.num_heads
        self.mu_proj.weight.copy_(torch.eye(self.embed_dim))
        self.mu_proj.bias.zero_()
        self.logvar_proj.weight.zero_()
        self.logvar_proj.bias.copy_(self.prior_var.log())
        self.alpha_proj.weight.zero_()
        self.alpha_proj.bias.zero_()
        self.alpha_quad.weight.fill_(1 / (2 * math.sqrt(d)))

    def components(
        self, u: Tensor, key_padding_mask: Tensor | None = None, *, alpha_skip: Tensor | None = None
    ) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
        """The mixture's parameters: ``(mu, logvar [B, K0, P], log_alpha [B, K0], pad [B, K0], skip [B, N])``."""
        if not isinstance(u, Tensor):
            raise TypeError(f"NVIB: u must be a tensor [B, N, embed_dim={self.embed_dim}]; got {type(u).__name__}")
        if u.dim() != 3 or u.shape[-1] != self.embed_dim:
            got = tuple(u.shape)
            raise ValueError(f"NVIB: u must have shape [B, N, embed_dim={self.embed_dim}]; got {got}")
        b, n, p = u.shape
        pad = _padding(key_padding_mask, (b, n), u.device, "key_padding_mask")
        # Whatever sits in padded slots (even inf) must reach neither outputs nor gradients.
        u = torch.where(pad.unsqueeze(-1), u.new_zeros(()), u)
        mu = self.mu_proj(u)  # [B, N, P]
        logvar = self.logvar_proj(u)  # [B, N, P]
        log_alpha = (self.alpha_proj(u) + self.alpha_quad(u * u)).squeeze(-1)  # [B, N]
        if alpha_skip is not None:
            if not isinstance(alpha_skip, Tensor):
                raise TypeError(f"NVIB: alpha_skip must be a tensor [B, N] = {(b, n)}; got {type(alpha_skip).__name__}")
            if tuple(alpha_skip.shape) != (b, n):
                got = tuple(alpha_skip.shape)
                raise ValueError(f"NVIB: alpha_skip must have shape [B, N] = {(b, n)}; got {got}")
            log_alpha = log_alpha + alpha_skip  # a residual connection in log space
        prior_mu = self.prior_mu.to(u.dtype).expand(b, 1, p)  # [B, 1, P]
        prior_logvar = self.prior_var.to(u.dtype).log().expand(b, 1, p)
        prior_log_alpha = self.prior_log_alpha.to(u.dtype).expand(b, 1)  # [B, 1]
        mu_all = torch.cat([prior_mu, mu], dim=1)  # [B, N+1, P]
        logvar_all = torch.cat([prior_logvar, logvar], dim=1)  # [B, N+1, P]
        la_all = torch.cat([prior_log_alpha, log_alpha], dim=1)  # [B, N+1]
        pad_all = torch.cat([pad.new_zeros(b, 1), pad], dim=1)  # [B, N+1]; the prior is never padding
        if self.kappa > 1:
            mu_all, logvar_all, la_all, pad_all = (
                t.repeat_interleave(self.kappa, dim=1) for t in (mu_all, logvar_all, la_all, pad_all)
            )  # [B, K0, ...]
            la_all = la_all - math.log(self.kappa)
        la_all = torch.where(pad_all, la_all.new_full((), -math.inf), la_all)  # [B, K0]
        return mu_all, logvar_all, la_all, pad_all, log_alpha

    def draw(self, mu: Tensor, logvar: Tensor, log_alpha: Tensor, pad: Tensor) -> tuple[Tensor, Tensor]:
        """Reparameterised draw ``(z, log_pi)``: Gaussian z, Dirichlet pi via normalised Gamma draws.

        Shapes: mu, logvar ``[*S, K0, P]``, log_alpha, pad ``[*S, K0]``; returns the same shapes.
        """
        z = mu + (0.5 * logvar).exp() * torch.randn_like(mu)  # [*S, K0, P]
        tiny = torch.finfo(log_alpha.dtype).tiny
        # Gamma(alpha, 1) has relative spread alpha^-1/2: beyond alpha = e^30 (< 3e-7) a draw equals
        # alpha to working precision, so use log gamma = log alpha there (exp would overflow).
        big = log_alpha > _LOG_ALPHA_DETERMINISTIC
        alpha = torch.where(pad | big, log_alpha.new_ones(()), log_alpha.clamp_max(_LOG_ALPHA_DETERMINISTIC).exp())
        gamma = Gamma(alpha.clamp_min(tiny), torch.ones_like(alpha)).rsample()  # implicit reparameterisation
        log_gamma = torch.where(big, log_alpha, gamma.clamp_min(tiny).log())  # [*S, K0]
        log_gamma = torch.where(pad, log_gamma.new_full((), -math.inf), log_gamma)
        return z, log_gamma - log_gamma.logsumexp(-1, keepdim=True)  # log pi, -inf on padding

    def forward(
        self, u: Tensor, key_padding_mask: Tensor | None = None, *, alpha_skip: Tensor | None = None
    ) -> NVIBLatent:
        mu, logvar, log_alpha, pad, skip = self.components(u, key_padding_mask, alpha_skip=alpha_skip)
        if self.training:
            z, log_pi = self.draw(mu, logvar, log_alpha, pad)
            var = None
        else:
            z, var = mu, logvar.exp()
            # Prune on each component's own pseudo-count (kappa copies share alpha_i / kappa).
            keep = log_alpha + math.log(self.kappa) > math.log(self.prune_below) if self.prune_below > 0 else ~pad
            log_pi = torch.log_softmax(torch.where(keep, log_alpha, log_alpha.new_full((), -math.inf)), dim=-1)
        return NVIBLatent(z, log_pi, mu, logvar, log_alpha, pad, var, skip)

    def kl(self, latent: NVIBLatent) -> tuple[Tensor, Tensor]:
        """``(KL_G, KL_D)``, each ``[B]``, with this layer's prior, delta and kappa."""
        kl_g = kl_gaussian(
            latent.mu,
            latent.logvar,
            latent.log_alpha,
            latent.key_padding_mask,
            prior_mu=self.prior_mu,
            prior_var=self.prior_var,
            kappa=self.kappa,
        )
        kl_d = kl_dirichlet(
            latent.log_alpha,
            latent.key_padding_mask,
            prior_alpha=self.prior_log_alpha.exp(),
            delta=self.delta,
            kappa=self.kappa,
        )
        return kl_g, kl_d

    def log_prob(self, latent: NVIBLatent, z: Tensor | None = None, log_pi: Tensor | None = None) -> Tensor:
        """log q(z, pi) of a draw (default: the latent's own), ``[B]``; see ``nvib_log_prob``."""
        z = latent.z if z is None else z
        log_pi = latent.log_pi if log_pi is None else log_pi
        return nvib_log_prob(z, log_pi, latent.mu, latent.logvar, latent.log_alpha, latent.key_padding_mask)


def nvib_log_prob(z: Tensor, log_pi: Tensor, mu: Tensor, logvar: Tensor, log_alpha: Tensor, pad: Tensor) -> Tensor:
    """log q(z, pi) = sum_i log N(z_i; mu_i, sigma^2_i) + log Dir(pi; alpha), over unmasked components.

    log Dir(pi; alpha) = lgamma(sum_i alpha_i) - sum_i lgamma(alpha_i) + sum_i (alpha_i - 1) log pi_i,
    written out because the number of unmasked components differs across the batch (which
    ``torch.distributions.Dirichlet`` cannot mask). A draw with a pruned (pi_i = 0) component has
    log density -inf: use training-mode draws.

    Shapes:
        z ``[*S, K0, P]``, log_pi ``[*S, K0]``; mu, logvar ``[*S', K0, P]``, log_alpha, pad ``[*S', K0]``
        broadcastable to them (e.g. S = (B, K), S' = (B, 1)); returns ``[*S]``.
    """
    valid = ~pad
    gauss = Normal(mu, (0.5 * logvar).exp()).log_prob(z).sum(-1)  # [*S, K0]
    zero = gauss.new_zeros(())
    alpha = torch.where(valid, log_alpha, zero).exp()  # [*S', K0]; 1 on padding, masked below
    lgam = torch.where(valid, torch.lgamma(alpha), zero).sum(-1)  # [*S']
    alpha0 = torch.where(valid, alpha, zero).sum(-1)  # [*S']
    pi_term = torch.where(valid, (alpha - 1) * torch.where(valid, log_pi, zero), zero).sum(-1)  # [*S]
    return torch.where(valid, gauss, zero).sum(-1) + torch.lgamma(alpha0) - lgam + pi_term


def _padding(mask: Tensor | None, shape: tuple[int, int], device: torch.device, name: str) -> Tensor:
    if mask is None:
        return torch.zeros(shape, dtype=torch.bool, device=device)
    if not isinstance(mask, Tensor) or mask.dtype != torch.bool:
        got = f"a {mask.dtype} tensor" if isinstance(mask, Tensor) else type(mask).__name__
        raise TypeError(f"NVIB: {name} must be a bool tensor [B, N] = {tuple(shape)}; got {got}")
    if tuple(mask.shape) != tuple(shape):
        raise ValueError(f"NVIB: {name} must be a bool tensor [B, N] = {tuple(shape)}; got shape {tuple(mask.shape)}")
    return mask.to(device)
