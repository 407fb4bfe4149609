"""KPIs: each defined once (formulas in :mod:`kehu.metrics.formulas`, docs/kpis.md), read from the store."""

from kehu.metrics.periods import PERIOD_KINDS, Period, last_complete_period, period_containing

__all__ = ["PERIOD_KINDS", "Period", "last_complete_period", "period_containing"]
