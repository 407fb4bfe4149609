"""Kehu (客户): customer value management — ingest, value models, segments, churn warning, playbooks, campaigns.

The public API, for notebooks and scripts::

    import kehu

    ws = kehu.Workspace(kehu.load_settings(home="~/kehu"))
    ws.init()
    ws.import_file("orders", "orders.csv", source="shop")
    ws.run()

Names are loaded on first use (PEP 562), so ``import kehu`` stays cheap for the command line and for the
importer's parsing process. The error tree is drawn in :mod:`kehu.errors`; the value models are documented in
:mod:`kehu.models`.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from kehu.config import Settings, load_settings
    from kehu.errors import (
        AccessDeniedError,
        AuthenticationError,
        ConfigError,
        DependencyError,
        ImportFileError,
        KehuError,
        MappingError,
        NotFittedError,
        NotFoundError,
        StoreBusyError,
        StoreError,
        StoreFullError,
        TooManyAttemptsError,
        UploadTooLargeError,
        ValidationError,
    )
    from kehu.models import (
        BetaGeo,
        GammaGamma,
        ParetoNBD,
        ShiftedBetaGeo,
        calibration_holdout,
        customer_lifetime_value,
        rfm_summary,
    )
    from kehu.service.workspace import Workspace

__all__ = [
    "AccessDeniedError",
    "AuthenticationError",
    "BetaGeo",
    "ConfigError",
    "DependencyError",
    "GammaGamma",
    "ImportFileError",
    "KehuError",
    "MappingError",
    "NotFittedError",
    "NotFoundError",
    "ParetoNBD",
    "Settings",
    "ShiftedBetaGeo",
    "StoreBusyError",
    "StoreError",
    "StoreFullError",
    "TooManyAttemptsError",
    "UploadTooLargeError",
    "ValidationError",
    "Workspace",
    "calibration_holdout",
    "customer_lifetime_value",
    "load_settings",
    "rfm_summary",
]

_MODELS = ("BetaGeo", "GammaGamma", "ParetoNBD", "ShiftedBetaGeo", "calibration_holdout", "customer_lifetime_value")

#: public name -> the module that defines it
_HOME = {
    **{name: "kehu.errors" for name in __all__ if name.endswith("Error")},
    **{name: "kehu.models" for name in (*_MODELS, "rfm_summary")},
    "Settings": "kehu.config",
    "load_settings": "kehu.config",
    "Workspace": "kehu.service.workspace",
}


def __getattr__(name: str) -> Any:
    """Load a public name from its module on first use."""
    module = _HOME.get(name)
    if module is None:
        raise AttributeError(f"module 'kehu' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
