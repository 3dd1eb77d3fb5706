"""Mutual-information estimation: bounds on score matrices, critics, estimate_mi, ground-truth tasks.

Convention, stated once: a critic maps a batch of N joint pairs ``(x_i, y_i)`` to the score
matrix ``scores[i, j] = f(x_i, y_j)``, ``[N, N]``; the diagonal holds the joint pairs and the
off-diagonal entries pair x_i with an independent y_j (samples of p(x)p(y)). Generative bounds
take ``log_q[i, j] = log q(y_i | x_j)``. Each bound returns a scalar whose value is the MI
estimate in nats and whose gradient is its training objective's (``vaekit.with_grad``).
"""

from vaekit.mi import tasks
from vaekit.mi.alpha_tuba import alpha_tuba
from vaekit.mi.ba import ba
from vaekit.mi.club import club
from vaekit.mi.conditional import GaussianConditional, GaussianMarginal
from vaekit.mi.critics import BilinearCritic, JointCritic, SeparableCritic
from vaekit.mi.doe import doe
from vaekit.mi.dv import dv
from vaekit.mi.estimate import MIResult, estimate_mi, evaluate_mi, train_mi_estimator
from vaekit.mi.estimators import (
    ESTIMATOR_NAMES,
    DoEEstimator,
    FLOEstimator,
    GenerativeEstimator,
    MIEstimator,
    MINEEstimator,
    TUBAEstimator,
    make_estimator,
)
from vaekit.mi.flo import flo
from vaekit.mi.infonce import infonce
from vaekit.mi.js import js
from vaekit.mi.l1out import l1out
from vaekit.mi.mine import MINE, mine
from vaekit.mi.nwj import nwj
from vaekit.mi.smile import smile
from vaekit.mi.tuba import tuba

__all__ = [
    # bounds on a score matrix
    "infonce",
    "nwj",
    "dv",
    "mine",
    "MINE",
    "js",
    "smile",
    "tuba",
    "alpha_tuba",
    "flo",
    # bounds on a conditional log-density matrix
    "ba",
    "doe",
    "club",
    "l1out",
    # critics and densities
    "SeparableCritic",
    "JointCritic",
    "BilinearCritic",
    "GaussianConditional",
    "GaussianMarginal",
    # estimators and training
    "ESTIMATOR_NAMES",
    "MIEstimator",
    "MINEEstimator",
    "TUBAEstimator",
    "FLOEstimator",
    "GenerativeEstimator",
    "DoEEstimator",
    "make_estimator",
    "estimate_mi",
    "train_mi_estimator",
    "evaluate_mi",
    "MIResult",
    # ground-truth tasks
    "tasks",
]
