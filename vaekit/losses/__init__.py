"""Losses: one estimator per file, each a pure function on [B, K] tensors plus a thin Module."""
from vaekit.losses.base import Loss
from vaekit.losses.dreg import DReG, dreg_estimate
from vaekit.losses.elbo import ELBO, elbo_estimate
from vaekit.losses.iwae import IWAE, iwae_estimate
from vaekit.losses.reinforce import Reinforce, reinforce_estimate
from vaekit.losses.rws import RWS, RWSDReG, rws_dreg_estimate, rws_estimate
from vaekit.losses.stl import STL, stl_estimate
from vaekit.losses.vimco import VIMCO, vimco_estimate
from vaekit.losses.wake_sleep import WakeSleep, wake_sleep_estimate
from vaekit.losses.vr import VR, VRScore, vr_estimate, vr_score_estimate
from vaekit.losses.tvo import TVO, log_uniform_partition, tvo_estimate
from vaekit.losses.nvil import NVIL, nvil_estimate

__all__ = ["Loss", "ELBO", "IWAE", "VIMCO", "elbo_estimate", "iwae_estimate", "vimco_estimate",
           "Reinforce", "WakeSleep", "RWS", "STL", "DReG",
           "reinforce_estimate", "wake_sleep_estimate", "rws_estimate", "stl_estimate", "dreg_estimate",
           "RWSDReG", "rws_dreg_estimate"]
__all__ += ["VR", "VRScore", "vr_estimate", "vr_score_estimate", "TVO", "tvo_estimate", "log_uniform_partition",
            "NVIL", "nvil_estimate"]
