"""``NVIBInfNet``: an encoder followed by an NVIB layer, as an InfNet any vaekit loss can drive."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from vaekit.latents.nvib.layer import NVIB, nvib_log_prob
from vaekit.models import InfNet

__all__ = ["NVIBInfNet"]


class NVIBInfNet(InfNet):
    """q(z, pi | x) of NVIB over an encoder's vectors, packed as one latent tensor per draw.

    A draw is the mixture (z_1..z_K0, pi_1..pi_K0) of ``NVIB.draw`` (reparameterised:
    Gaussian z, Gamma-normalised Dirichlet pi), packed as ``[z_i, log pi_i]`` along the last
    axis; padded components have log pi = -inf (the value ``DenoisingAttention`` masks). The
    encoder returns u ``[B, N, P]`` or ``(u, key_padding_mask)``. ``log_prob`` is
    ``nvib_log_prob``: sum_i log N(z_i; mu_i, sigma^2_i) + log Dir(pi; alpha) over unmasked
    components. Draws are always training-form draws (this is q itself), whatever the mode.

    Shapes:
        x: ``[B, *x_shape]``; latent: ``[B, K, K0, P + 1]`` (``[..., :P]`` = z, ``[..., P]`` = log pi),
        K0 = kappa * (N + 1); log_prob: ``[B, K]``.

    Args:
        encoder: any module mapping x to u ``[B, N, P]`` or ``(u, key_padding_mask [B, N])``.
        nvib: the ``NVIB`` layer (its embed_dim is P).

    References:
        Henderson & Fehr, "A VAE for Transformers with Nonparametric Variational Information
        Bottleneck", ICLR 2023.

    Example:
        >>> import torch
        >>> q = NVIBInfNet(torch.nn.Identity(), NVIB(4))
        >>> z = q(torch.randn(2, 3, 4)).rsample(5)
        >>> tuple(z.shape), tuple(q.log_prob(z).shape)
        ((2, 5, 4, 5), (2, 5))
    """

    has_rsample = True

    def __init__(self, encoder: nn.Module, nvib: NVIB):
        super().__init__()
        if not isinstance(nvib, NVIB):
            raise TypeError(f"NVIBInfNet: nvib must be an NVIB layer; got {type(nvib).__name__}")
        self.encoder, self.nvib = encoder, nvib

    def forward(self, x: Tensor) -> NVIBInfNet:
        out = self.encoder(x)
        u, pad = out if isinstance(out, tuple) else (out, None)
        mu, logvar, log_alpha, pad, _ = self.nvib.components(u, pad)
        self.params_ = {"mu": mu, "logvar": logvar, "log_alpha": log_alpha, "key_padding_mask": pad}
        return self

    def _expanded(self, n_samples: int) -> tuple[Tensor, ...]:
        if not hasattr(self, "params_"):
            raise RuntimeError("call NVIBInfNet(x) before sample/rsample/log_prob")
        p = self.params_
        b = p["mu"].shape[0]
        return tuple(
            t.unsqueeze(1).expand(b, n_samples, *t.shape[1:])  # [B, K, K0, ...]
            for t in (p["mu"], p["logvar"], p["log_alpha"], p["key_padding_mask"])
        )

    def rsample(self, n_samples: int) -> Tensor:
        z, log_pi = self.nvib.draw(*self._expanded(n_samples))  # [B, K, K0, P], [B, K, K0]
        return torch.cat([z, log_pi.unsqueeze(-1)], dim=-1)  # [B, K, K0, P+1]

    def sample(self, n_samples: int) -> Tensor:
        with torch.no_grad():
            return self.rsample(n_samples)

    def log_prob(self, z: Tensor) -> Tensor:
        p = self.params_
        k0, width = p["mu"].shape[1:]
        if z.dim() != 4 or tuple(z.shape[2:]) != (k0, width + 1):
            raise ValueError(
                f"NVIBInfNet.log_prob: z must be [B, K, K0, P+1] with (K0, P+1) = {(k0, width + 1)}; "
                f"got {tuple(z.shape)}"
            )
        return nvib_log_prob(
            z[..., :-1],
            z[..., -1],
            p["mu"].unsqueeze(1),
            p["logvar"].unsqueeze(1),
            p["log_alpha"].unsqueeze(1),
            p["key_padding_mask"].unsqueeze(1),
        )  # [B, K]
