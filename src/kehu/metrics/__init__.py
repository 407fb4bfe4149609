"""KPIs: each defined once (formulas in :mod:`kehu.metrics.formulas`, docs/kpis.md), read from the store."""

from kehu.metrics.periods import Period, last_complete_period, period_containing

__all__ = ["Period", "last_complete_period", "period_containing"]
