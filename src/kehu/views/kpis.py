"""The KPI page's data (and its JSON twin) from :meth:`kehu.service.kpis.KpiService.summary`: the KPIs with the
periods the page offers and the one chosen."""

from __future__ import annotations

from typing import Any

from kehu.vocabulary import PERIOD_KINDS

__all__ = ["kpis_page"]


def kpis_page(summary: dict[str, Any], *, period: str) -> dict[str, Any]:
    """The page's data: ``summary`` with the periods to choose from and the ``chosen`` one."""
    return {**summary, "periods": list(PERIOD_KINDS), "chosen": period}
