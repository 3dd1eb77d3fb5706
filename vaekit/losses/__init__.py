"""Losses: one estimator per file, each a pure function on [B, K] tensors plus a thin Module."""

from vaekit.losses.arm import ARM, arm_estimate
from vaekit.losses.arms import ARMS, arms_estimate, dirichlet_copula_uniforms
from vaekit.losses.base import Loss
from vaekit.losses.categorical_disarm import (
    CategoricalDisARM,
    CategoricalDisARMIW,
    categorical_disarm_estimate,
    categorical_disarm_iw_estimate,
    stick_breaking_coupling,
    stick_breaking_logits,
    stick_breaking_one_hot,
    stick_breaking_pair,
)
from vaekit.losses.disarm import DisARM, disarm_estimate
from vaekit.losses.dreg import DReG, dreg_estimate
from vaekit.losses.elbo import ELBO, elbo_estimate

# discrete-latent estimators (issue 12)
from vaekit.losses.enumerate import Enumerate, all_configurations, enumerate_estimate
from vaekit.losses.gumbel_rao import GumbelRao, gumbel_rao_latents
from vaekit.losses.gumbel_softmax import GumbelSoftmax, gumbel_softmax_latents
from vaekit.losses.indecater import IndeCateR, indecater_estimate
from vaekit.losses.iwae import IWAE, iwae_estimate
from vaekit.losses.local_disarm import LocalDisARM, local_disarm_estimate
from vaekit.losses.nvil import NVIL, nvil_estimate
from vaekit.losses.rebar import REBAR, RELAX, rebar_logit_gradient
from vaekit.losses.reinforce import Reinforce, reinforce_estimate
from vaekit.losses.rws import RWS, RWSDReG, rws_dreg_estimate, rws_estimate
from vaekit.losses.stl import STL, stl_estimate
from vaekit.losses.tvo import TVO, log_uniform_partition, tvo_estimate
from vaekit.losses.vimco import VIMCO, vimco_estimate
from vaekit.losses.vr import VR, VRScore, vr_estimate, vr_score_estimate
from vaekit.losses.wake_sleep import WakeSleep, wake_sleep_estimate

__all__ = [
    "Loss",
    "ELBO",
    "IWAE",
    "VIMCO",
    "elbo_estimate",
    "iwae_estimate",
    "vimco_estimate",
    "Reinforce",
    "WakeSleep",
    "RWS",
    "STL",
    "DReG",
    "reinforce_estimate",
    "wake_sleep_estimate",
    "rws_estimate",
    "stl_estimate",
    "dreg_estimate",
    "RWSDReG",
    "rws_dreg_estimate",
]
__all__ += [
    "Enumerate",
    "ARM",
    "DisARM",
    "LocalDisARM",
    "ARMS",
    "GumbelSoftmax",
    "GumbelRao",
    "IndeCateR",
    "REBAR",
    "RELAX",
    "enumerate_estimate",
    "all_configurations",
    "arm_estimate",
    "disarm_estimate",
    "local_disarm_estimate",
    "arms_estimate",
    "dirichlet_copula_uniforms",
    "gumbel_softmax_latents",
    "gumbel_rao_latents",
    "indecater_estimate",
    "rebar_logit_gradient",
    "CategoricalDisARM",
    "categorical_disarm_estimate",
    "stick_breaking_logits",
    "stick_breaking_one_hot",
    "CategoricalDisARMIW",
    "categorical_disarm_iw_estimate",
    "stick_breaking_pair",
    "stick_breaking_coupling",
]
__all__ += [
    "VR",
    "VRScore",
    "vr_estimate",
    "vr_score_estimate",
    "TVO",
    "tvo_estimate",
    "log_uniform_partition",
    "NVIL",
    "nvil_estimate",
]
