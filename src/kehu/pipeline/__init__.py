"""The analytics pipeline: named, pure Ibis steps with declared grain and columns.

Steps (in :data:`STEPS` order): ``customer_base`` -> ``order_facts`` -> ``purchase_summary`` (one pass over
the order facts) -> ``purchase_features`` and ``engagement_features`` -> ``customer_features`` (the wide
feature table), plus ``cohorts`` and ``repeat_curve``. Only :func:`run` executes anything; it audits every
step's output. :func:`rfm_summary` computes frequency, recency, T and monetary value alone, from the orders.
See docs/pipeline.md.
"""

from __future__ import annotations

from kehu.pipeline.customers import FEATURE_COLUMNS
from kehu.pipeline.rfm import RFM_COLUMNS, RFM_SUMMARY, rfm_summary
from kehu.pipeline.run import OUTPUTS, STEPS, PipelineOutput, StepEvent, StepReport, default_as_of, run
from kehu.pipeline.step import AuditError, Context, Step, audit

__all__ = [
    "FEATURE_COLUMNS",
    "OUTPUTS",
    "RFM_COLUMNS",
    "RFM_SUMMARY",
    "STEPS",
    "AuditError",
    "Context",
    "PipelineOutput",
    "Step",
    "StepEvent",
    "StepReport",
    "audit",
    "default_as_of",
    "rfm_summary",
    "run",
]
