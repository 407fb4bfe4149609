"""Customer value models: pure NumPy/SciPy, in-memory arrays, no I/O.

Purchase models (non-contractual): :class:`BetaGeo` (BG/NBD), :class:`ModifiedBetaGeo` (MBG/NBD) and
:class:`ParetoNBD`. Spend model:
:class:`GammaGamma`. Contractual retention: :class:`ShiftedBetaGeo`. Value: :func:`customer_lifetime_value`.
Data preparation: :func:`rfm_summary` and :func:`calibration_holdout`. Model checking:
:mod:`kehu.models.diagnostics`.
"""

from kehu.errors import NotFittedError
from kehu.models.beta_geo import BetaGeo
from kehu.models.clv import CLVResult, customer_lifetime_value
from kehu.models.gamma_gamma import GammaGamma
from kehu.models.modified_beta_geo import ModifiedBetaGeo
from kehu.models.pareto_nbd import ParetoNBD
from kehu.models.rfm import CalibrationHoldout, RFMSummary, calibration_holdout, rfm_summary
from kehu.models.shifted_beta_geo import ShiftedBetaGeo

__all__ = [
    "BetaGeo",
    "CLVResult",
    "CalibrationHoldout",
    "GammaGamma",
    "ModifiedBetaGeo",
    "NotFittedError",
    "ParetoNBD",
    "RFMSummary",
    "ShiftedBetaGeo",
    "calibration_holdout",
    "customer_lifetime_value",
    "rfm_summary",
]
