"""Every string the label functions give, for the golden test of the one translation catalog."""

from __future__ import annotations

from typing import Any

from kehu.campaigns.results import verdict
from kehu.metrics.labels import kpi_label, kpi_text, label_keys
from kehu.models.reasons import catalog as reason_catalog
from kehu.models.uplift import Estimate
from kehu.segments.export import EXPORT_COLUMNS
from kehu.segments.labels import export_header, scheme_label, segment_keys, segment_label
from kehu.vocabulary import LOCALES
from kehu.web.i18n import catalog

SCHEMES = ("rfm_cn", "rfm_en", "lifecycle", "value", "cross", "custom", "custom.vip", "no_such_scheme")
ESTIMATES = {
    "up": Estimate(0.3, 0.2, 0.1, 0.05, 0.15, 0.95, "agresti-caffo"),
    "down": Estimate(0.1, 0.2, -0.1, -0.15, -0.05, 0.95, "agresti-caffo"),
    "none": Estimate(0.2, 0.2, 0.0, -0.05, 0.05, 0.95, "agresti-caffo"),
    "empty": Estimate(None, 0.2, None, None, None, 0.95, "agresti-caffo"),
    "money": Estimate(5000.0, 3000.0, -2000.0, -3500.0, -500.0, 0.95, "bootstrap"),
}


def outputs() -> dict[str, Any]:
    """The web catalogs, the reason templates and every label of the KPI, segment and campaign functions."""
    out: dict[str, Any] = {"web": {loc: catalog(loc) for loc in LOCALES}, "reasons": reason_catalog()}
    for lang in ("zh", "en"):
        out[f"metrics.{lang}"] = {
            **{k: kpi_label(k, lang) for k in label_keys()},
            **{k: kpi_text(k, lang) for k in ("no_data", "not_available")},
        }
        out[f"segments.{lang}"] = {
            "schemes": {s: scheme_label(s, lang) for s in SCHEMES},
            "segments": {
                s: {seg: segment_label(s, seg, lang) for seg in [*segment_keys(s), "no_such_segment"]} for s in SCHEMES
            },
            "export_headers": {c: export_header(c, lang) for c in [*EXPORT_COLUMNS, "no_such_column"]},
        }
        out[f"campaigns.{lang}"] = {
            f"{metric}.{name}": verdict(metric, est, lang)
            for metric in ("conversion", "retention", "win_back", "revenue_per_customer")
            for name, est in ESTIMATES.items()
        }
    return out
