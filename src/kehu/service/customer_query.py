"""What the customers list is asked for: :class:`CustomerQuery` (validated filters, sort, page size and the keyset
key a page starts after or before; the fronts read those keys from the pages' opaque cursors with
:func:`kehu.views.customer_list.cursor_key`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from kehu.errors import ValidationError
from kehu.store import customer_list as store
from kehu.vocabulary import RISK_TIERS

__all__ = ["PAGE_SIZES", "CustomerQuery"]

PAGE_SIZES = (20, 50, 100)


@dataclass(frozen=True)
class CustomerQuery:
    """What the customers list was asked for (validated).

    ``segment`` is ``scheme:segment`` of a scheme's newest run (e.g. ``rfm_cn:champions``), ``stage`` a segment of
    the newest ``lifecycle`` run, ``risk`` a published tier (``high``, ``medium``, ``low``) of the risk named by
    ``risk_kind`` (``purchase``, the default, or ``renewal``); ``risk_kind`` ``winback`` narrows to the 待挽回
    customers (those with a published win-back figure). ``after`` and ``before`` are the keyset keys
    ``(sort value, id)`` of the row a page starts after or before.
    """

    q: str = ""
    owner_id: int | None = None
    region: str | None = None
    tag: str | None = None
    segment: str | None = None
    stage: str | None = None
    risk: str | None = None
    risk_kind: str | None = None
    sort: str = "id"
    descending: bool = False
    after: tuple[Any, int] | None = None
    before: tuple[Any, int] | None = None
    limit: int = 50

    def __post_init__(self) -> None:
        if self.sort not in store.SORT_KEYS:
            raise ValidationError(f"sort {self.sort!r} is not one of {', '.join(store.SORT_KEYS)}")
        if self.limit not in PAGE_SIZES:
            raise ValidationError(f"limit {self.limit} is not one of {', '.join(map(str, PAGE_SIZES))}")
        if self.after and self.before:
            raise ValidationError("give either after or before, not both")
        if len(self.q) > 200:
            raise ValidationError("q: search text is limited to 200 characters")
        if self.risk and self.risk not in RISK_TIERS:
            raise ValidationError(f"risk {self.risk[:40]!r} is not one of {', '.join(RISK_TIERS)}")
        if self.risk_kind and self.risk_kind not in store.RISK_KINDS:
            raise ValidationError(f"risk_kind {self.risk_kind[:40]!r} is not one of {', '.join(store.RISK_KINDS)}")
        if self.segment and (":" not in self.segment or len(self.segment) > 200):
            raise ValidationError(f"segment {self.segment[:40]!r}: expected scheme:segment, e.g. rfm_cn:champions")
        if self.stage and len(self.stage) > 100:
            raise ValidationError("stage: a lifecycle stage is at most 100 characters")

    def params(self, **changes: Any) -> dict[str, Any]:
        """Query-string parameters for a link to this list with ``changes`` (empty values left out)."""
        values = {
            "q": self.q,
            "owner": self.owner_id,
            "region": self.region,
            "tag": self.tag,
            "segment": self.segment,
            "stage": self.stage,
            "risk": self.risk,
            "risk_kind": None if self.risk_kind == "purchase" else self.risk_kind,
            "sort": None if self.sort == "id" else self.sort,
            "desc": 1 if self.descending else None,
            "limit": None if self.limit == 50 else self.limit,
            **changes,
        }
        return {k: v for k, v in values.items() if v not in (None, "")}
