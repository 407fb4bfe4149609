"""The customers list's page data (and its JSON twin, which ``/api/customers`` also answers with) from
:meth:`kehu.service.customers.CustomerService.page`: the query echoed, the opaque page cursors and the filters'
choices.

A cursor is the keyset key ``(sort value, id)`` of a page's first or last row, written as URL-safe base64 of a
small JSON array that also names the sort, so a cursor of one sort order is refused under another. The service
pages by keys (:attr:`~kehu.service.customer_query.CustomerQuery.after` and ``before``); the fronts read a
cursor with :func:`cursor_key` and the page gets its ``next`` and ``prev`` cursors from :func:`customers_page`.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
from typing import Any

from kehu.errors import ValidationError
from kehu.vocabulary import RISK_TIERS

__all__ = ["cursor_key", "customers_page", "decode_cursor", "encode_cursor"]


def encode_cursor(sort: str, key: tuple[Any, int]) -> str:
    """An opaque page cursor for ``(sort value, id)``."""
    value, ident = key
    if isinstance(value, dt.datetime):
        value = {"t": value.isoformat()}
    raw = json.dumps([sort, value, ident], ensure_ascii=False, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode("utf-8")).decode("ascii").rstrip("=")


def decode_cursor(sort: str, cursor: str) -> tuple[Any, int]:
    """The ``(sort value, id)`` in a cursor made by :func:`encode_cursor` for the same sort key."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        s, value, ident = json.loads(raw.decode("utf-8"))
        if isinstance(value, dict):
            value = dt.datetime.fromisoformat(value["t"])
    except (binascii.Error, ValueError, TypeError, KeyError, UnicodeDecodeError) as exc:
        raise ValidationError("cursor: not a page cursor from this list (start again from the first page)") from exc
    plain = value is None or isinstance(value, str | int | float | dt.datetime)
    if s != sort or not isinstance(ident, int) or not plain:
        raise ValidationError("cursor: it belongs to a different sort order (start again from the first page)")
    return value, ident


def cursor_key(sort: str, cursor: str | None) -> tuple[Any, int] | None:
    """The keyset key of a cursor the list handed out (``None`` without one)."""
    return decode_cursor(sort, cursor) if cursor else None


def customers_page(found: dict[str, Any], query: Any) -> dict[str, Any]:
    """The page's data: the ``query`` (a :class:`~kehu.service.customer_query.CustomerQuery`) echoed, the
    service's ``found`` page with its keys written as ``next`` and ``prev`` cursors, and the filters' choices
    (owners, regions, tags, sorts, risk tiers and kinds, the segments of every scheme's newest run but lifecycle,
    and the lifecycle stages)."""
    sort = query.sort
    schemes = found["schemes"]
    segments = [
        {"scheme": scheme, "as_of": run["as_of"], "labels": run["labels"],
         "segments": [{"value": f"{scheme}:{k}", "labels": labels} for k, labels in run["segments"].items()]}
        for scheme, run in schemes.items() if scheme != "lifecycle"
    ]  # fmt: skip
    life = schemes.get("lifecycle")
    stages = [{"value": k, "labels": labels} for k, labels in life["segments"].items()] if life else []
    rest = {k: v for k, v in found.items() if k not in _FACTS_ONLY}
    return {
        "query": {
            "q": query.q,
            "owner": query.owner_id,
            "region": query.region,
            "tag": query.tag,
            "segment": query.segment,
            "stage": query.stage,
            "risk": query.risk,
            "risk_kind": query.risk_kind or "purchase",
            "sort": sort,
            "desc": query.descending,
            "limit": query.limit,
        },
        **rest,
        "next": encode_cursor(sort, found["next_key"]) if found["next_key"] else None,
        "prev": encode_cursor(sort, found["prev_key"]) if found["prev_key"] else None,
        "choices": {
            "owners": found["owners"],
            "regions": found["regions"],
            "tags": found["tags"],
            "sorts": found["sorts"],
            "risks": list(RISK_TIERS),
            "risk_kinds": found["risk_kinds"],
            "segments": segments,
            "stages": stages,
        },
    }


#: what the service gives that the page shows only as cursors or choices
_FACTS_ONLY = ("next_key", "prev_key", "owners", "regions", "tags", "sorts", "risk_kinds", "schemes")
