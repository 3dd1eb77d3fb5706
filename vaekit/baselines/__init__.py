"""Control variates (baselines) for score-function gradient estimators; see :class:`Baseline`."""

from vaekit.baselines.base import Baseline, CentredSignal, apply_baselines, update_baselines
from vaekit.baselines.input_dependent import InputDependentBaseline
from vaekit.baselines.leave_one_out import LeaveOneOut
from vaekit.baselines.moving_average import MovingAverage
from vaekit.baselines.nvil import nvil_baselines
from vaekit.baselines.variance_normalization import VarianceNormalization

__all__ = [
    "Baseline",
    "CentredSignal",
    "apply_baselines",
    "update_baselines",
    "MovingAverage",
    "LeaveOneOut",
    "InputDependentBaseline",
    "VarianceNormalization",
    "nvil_baselines",
]
