"""Denoising attention: multi-head attention over an NVIB mixture latent, a drop-in for nn.MultiheadAttention.

Training form (per head of width E; q_t = W_q x_t + b_q, k_i = W_k z_i + b_k, v_i = W_v z_i + b_v):

    a_ti = softmax_i( q_t . k_i / sqrt(E) + log pi_i - ||z_i||^2 / (2 sqrt(E)) ),   out_t = sum_i a_ti v_i,

written as an additive bias to ``F.scaled_dot_product_attention`` (components with pi_i = 0 or
padding get -inf). Evaluation form (``var`` given; z_i = mu_i): integrate over each component's
variance, with u_t = W_k^T q_t the query mapped back to the latent space and
sigma~^2_i = sigma^2_i + sqrt(E):

    logits_ti = u_t . (mu_i / sigma~^2_i) + log pi_i - 1/2 ||mu_i / sigma~_i||^2 - 1/2 sum_p log sigma~^2_ip,
    out_t = W_v sum_i a_ti ( (sigma^2_i / sigma~^2_i) u_t + (sqrt(E) / sigma~^2_i) mu_i ) + b_v,

again one SDPA call (keys mu / sigma~^2, values [sigma^2 / sigma~^2, sqrt(E) mu / sigma~^2], scale 1).
As sigma^2 -> 0 the evaluation form tends to the training form with z = mu.

References:
    Henderson & Fehr, "A VAE for Transformers with Nonparametric Variational Information
    Bottleneck", ICLR 2023. Fehr & Henderson, COLM 2024.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["DenoisingAttention"]


class DenoisingAttention(nn.Module):
    """Multi-head denoising attention with ``nn.MultiheadAttention``'s constructor and call (batch first).

    Shapes:
        query: ``[B, T, embed_dim]``; key: ``[B, S, kdim]`` (the latent z, or mu in the
        evaluation form); value: ``[B, S, vdim]`` (the same tensor as key in the evaluation form);
        key_padding_mask: ``[B, S]`` (bool, True = padding, or additive float);
        attn_mask: ``[T, S]`` or ``[B * num_heads, T, S]`` (bool, True = not allowed, or additive);
        log_pi: ``[B, S]`` log mixture weights (None: uniform); var: ``[B, S, kdim]`` sigma^2 (selects
        the evaluation form). Returns ``(out [B, T, embed_dim], weights)``, weights ``[B, T, S]``
        (``[B, num_heads, T, S]`` if not ``average_attn_weights``) or None if not ``need_weights``.

    Args:
        embed_dim, num_heads, dropout, bias, kdim, vdim, device, dtype: as ``nn.MultiheadAttention``.
        batch_first: must be True (vaekit is batch-first throughout).

    References:
        Henderson & Fehr, ICLR 2023; Fehr & Henderson, COLM 2024.

    Example:
        >>> import torch
        >>> from vaekit.latents.nvib.layer import NVIB
        >>> nvib, attn = NVIB(8, num_heads=2), DenoisingAttention(8, 2)
        >>> lat = nvib(torch.randn(3, 5, 8))
        >>> out, w = attn(torch.randn(3, 4, 8), lat.z, lat.z, **lat.attention_kwargs())
        >>> tuple(out.shape), tuple(w.shape)
        ((3, 4, 8), (3, 4, 6))
    """

    def __init__(
        self,
        embed_dim: int,
        num_heads: int,
        dropout: float = 0.0,
        bias: bool = True,
        kdim: int | None = None,
        vdim: int | None = None,
        batch_first: bool = True,
        device: torch.device | None = None,
        dtype: torch.dtype | None = None,
    ):
        super().__init__()
        for name, v in (("embed_dim", embed_dim), ("num_heads", num_heads)):
            if isinstance(v, bool) or not isinstance(v, int):
                raise TypeError(f"DenoisingAttention: {name} must be an int; got {type(v).__name__}")
            if v < 1:
                raise ValueError(f"DenoisingAttention: {name} must be >= 1; got {v}")
        if embed_dim % num_heads:
            raise ValueError(
                f"DenoisingAttention: embed_dim ({embed_dim}) must be divisible by num_heads ({num_heads})"
            )
        if not batch_first:
            raise ValueError("DenoisingAttention: only batch_first=True is supported; got batch_first=False")
        if not 0 <= dropout < 1:
            raise ValueError(f"DenoisingAttention: dropout must be in [0, 1); got {dropout!r}")
        kw = {"device": device, "dtype": dtype}
        self.embed_dim, self.num_heads, self.head_dim = embed_dim, num_heads, embed_dim // num_heads
        self.kdim, self.vdim = kdim or embed_dim, vdim or embed_dim
        self.dropout, self.batch_first = dropout, True
        self.q_proj = nn.Linear(embed_dim, embed_dim, bias=bias, **kw)
        self.k_proj = nn.Linear(self.kdim, embed_dim, bias=bias, **kw)
        self.v_proj = nn.Linear(self.vdim, embed_dim, bias=bias, **kw)
        self.out_proj = nn.Linear(embed_dim, embed_dim, bias=bias, **kw)

    @classmethod
    def from_multihead_attention(cls, mha: nn.MultiheadAttention) -> DenoisingAttention:
        """A DenoisingAttention with the projection weights of a (e.g. pretrained) MultiheadAttention."""
        if mha.bias_k is not None or mha.add_zero_attn:
            raise ValueError(
                "DenoisingAttention.from_multihead_attention: add_bias_kv / add_zero_attn are not supported"
            )
        has_bias = mha.in_proj_bias is not None
        new = cls(
            mha.embed_dim,
            mha.num_heads,
            mha.dropout,
            has_bias,
            mha.kdim,
            mha.vdim,
            device=mha.out_proj.weight.device,
            dtype=mha.out_proj.weight.dtype,
        )
        with torch.no_grad():
            if mha.in_proj_weight is not None:
                weights = mha.in_proj_weight.chunk(3, dim=0)
            else:
                weights = (mha.q_proj_weight, mha.k_proj_weight, mha.v_proj_weight)
            biases = mha.in_proj_bias.chunk(3) if has_bias else (None,) * 3
            for lin, w, b in zip((new.q_proj, new.k_proj, new.v_proj), weights, biases):
                lin.weight.copy_(w)
                if b is not None:
                    lin.bias.copy_(b)
            new.out_proj.load_state_dict(mha.out_proj.state_dict())
        return new

    def forward(
        self,
        query: Tensor,
        key: Tensor,
        value: Tensor,
        key_padding_mask: Tensor | None = None,
        need_weights: bool = True,
        attn_mask: Tensor | None = None,
        average_attn_weights: bool = True,
        is_causal: bool = False,
        *,
        log_pi: Tensor | None = None,
        var: Tensor | None = None,
    ) -> tuple[Tensor, Tensor | None]:
        b, t, s = self._check(query, key, value, log_pi, var)
        h, e = self.num_heads, self.head_dim
        bias = self._bias(key, key_padding_mask, attn_mask, is_causal, log_pi, var, b, t, s)  # [B, 1|H, 1|T, S]
        q = self.q_proj(query).view(b, t, h, e).transpose(1, 2)  # [B, H, T, E]
        if var is None:
            k = self.k_proj(key).view(b, s, h, e).transpose(1, 2)  # [B, H, S, E]
            v = self.v_proj(value).view(b, s, h, e).transpose(1, 2)  # [B, H, S, E]
            out, weights = self._attend(q, k, v, bias, need_weights, scale=None)  # [B, H, T, E]
        else:
            p, root = self.kdim, math.sqrt(e)
            w_k = self.k_proj.weight.view(h, e, p)  # [H, E, P]
            u = torch.einsum("bhte,hep->bhtp", q, w_k)  # [B, H, T, P]: the query in latent space
            var_t = var + root  # [B, S, P]: sigma~^2
            keys = (key / var_t).unsqueeze(1)  # [B, 1, S, P]
            vals = torch.cat([var / var_t, root * key / var_t], dim=-1).unsqueeze(1)  # [B, 1, S, 2P]
            mix, weights = self._attend(u, keys, vals, bias, need_weights, scale=1.0)  # [B, H, T, 2P]
            r = u * mix[..., :p] + mix[..., p:]  # [B, H, T, P]
            out = torch.einsum("bhtp,hep->bhte", r, self.v_proj.weight.view(h, e, p))  # [B, H, T, E]
            if self.v_proj.bias is not None:
                out = out + self.v_proj.bias.view(1, h, 1, e)
        out = self.out_proj(out.transpose(1, 2).reshape(b, t, h * e))  # [B, T, D]
        if weights is not None and average_attn_weights:
            weights = weights.mean(dim=1)  # [B, T, S]
        return out, weights

    def _attend(
        self, q: Tensor, k: Tensor, v: Tensor, bias: Tensor, need_weights: bool, scale: float | None
    ) -> tuple[Tensor, Tensor | None]:
        p_drop = self.dropout if self.training else 0.0
        if not need_weights:
            return F.scaled_dot_product_attention(q, k, v, attn_mask=bias, dropout_p=p_drop, scale=scale), None
        scale = 1 / math.sqrt(q.shape[-1]) if scale is None else scale
        weights = torch.softmax(q @ k.transpose(-2, -1) * scale + bias, dim=-1)  # [B, H, T, S]
        dropped = F.dropout(weights, p_drop) if p_drop > 0 else weights
        return dropped @ v, weights

    def _bias(
        self,
        key: Tensor,
        key_padding_mask: Tensor | None,
        attn_mask: Tensor | None,
        is_causal: bool,
        log_pi: Tensor | None,
        var: Tensor | None,
        b: int,
        t: int,
        s: int,
    ) -> Tensor:
        """The additive attention bias ``[B, 1|H, 1|T, S]``: denoising term, log pi and every mask."""
        root = math.sqrt(self.head_dim)
        if var is None:
            per_key = -(key * key).sum(-1) / (2 * root)  # [B, S]
        else:
            var_t = var + root
            per_key = -0.5 * (key * key / var_t).sum(-1) - 0.5 * var_t.log().sum(-1)  # [B, S]
        if log_pi is not None:
            per_key = per_key + log_pi  # -inf where pi_i = 0 masks the component
        bias = per_key[:, None, None, :]  # [B, 1, 1, S]
        neg_inf = per_key.new_full((), -math.inf)
        if key_padding_mask is not None:
            kpm = _as_additive(key_padding_mask, per_key, "key_padding_mask", (b, s))
            bias = bias + kpm[:, None, None, :]
        if attn_mask is not None:
            am = _as_additive(attn_mask, per_key, "attn_mask", None)
            if tuple(am.shape) == (t, s):
                bias = bias + am  # [B, 1, T, S]
            elif tuple(am.shape) == (b * self.num_heads, t, s):
                bias = bias + am.view(b, self.num_heads, t, s)  # [B, H, T, S]
            else:
                raise ValueError(
                    f"DenoisingAttention: attn_mask must have shape {(t, s)} or {(b * self.num_heads, t, s)}; "
                    f"got {tuple(am.shape)}"
                )
        if is_causal:
            causal = torch.ones(t, s, dtype=torch.bool, device=per_key.device).triu(1)
            bias = bias + torch.where(causal, neg_inf, per_key.new_zeros(()))  # [.., T, S]
        return bias

    def _check(
        self, query: Tensor, key: Tensor, value: Tensor, log_pi: Tensor | None, var: Tensor | None
    ) -> tuple[int, int, int]:
        def shape(x: object) -> object:
            return tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__

        given = {"query": query, "key": key, "value": value, "log_pi": log_pi, "var": var}
        for name, arg in given.items():
            if not isinstance(arg, Tensor) and not (arg is None and name in ("log_pi", "var")):
                raise TypeError(f"DenoisingAttention: {name} must be a tensor; got {type(arg).__name__}")
        if not isinstance(query, Tensor) or query.dim() != 3 or query.shape[-1] != self.embed_dim:
            raise ValueError(
                f"DenoisingAttention: query must be [B, T, embed_dim={self.embed_dim}]; got {shape(query)}"
            )
        b, t = query.shape[:2]
        if not isinstance(key, Tensor) or key.dim() != 3 or key.shape[0] != b or key.shape[-1] != self.kdim:
            raise ValueError(f"DenoisingAttention: key must be [B={b}, S, kdim={self.kdim}]; got {shape(key)}")
        s = key.shape[1]
        if not isinstance(value, Tensor) or tuple(value.shape) != (b, s, self.vdim):
            raise ValueError(
                f"DenoisingAttention: value must be [B, S, vdim] = {(b, s, self.vdim)}; got {shape(value)}"
            )
        if log_pi is not None and (not isinstance(log_pi, Tensor) or tuple(log_pi.shape) != (b, s)):
            raise ValueError(f"DenoisingAttention: log_pi must be [B, S] = {(b, s)}; got {shape(log_pi)}")
        if var is not None:
            if not isinstance(var, Tensor) or tuple(var.shape) != tuple(key.shape):
                raise ValueError(f"DenoisingAttention: var must be [B, S, kdim] = {tuple(key.shape)}; got {shape(var)}")
            if value is not key or self.kdim != self.vdim:
                raise ValueError(
                    "DenoisingAttention: the evaluation form (var given) reads the means as both key and value: "
                    f"pass the same tensor twice with kdim == vdim; got kdim={self.kdim}, vdim={self.vdim}"
                )
        return b, t, s


def _as_additive(mask: Tensor, like: Tensor, name: str, expected: tuple[int, ...] | None) -> Tensor:
    if not isinstance(mask, Tensor):
        raise TypeError(f"DenoisingAttention: {name} must be a tensor; got {type(mask).__name__}")
    if expected is not None and tuple(mask.shape) != expected:
        raise ValueError(f"DenoisingAttention: {name} must have shape {expected}; got {tuple(mask.shape)}")
    if mask.dtype == torch.bool:
        return torch.where(mask, like.new_full((), -math.inf), like.new_zeros(()))
    return mask.to(like.dtype)
