"""Helpers for the closing-the-loop tests (KPIs, campaigns, tickets, loyalty): rows written straight to the store.

Importable from any test module (``from loop_testkit import Store``).
"""

from __future__ import annotations

import datetime as dt
import itertools
from typing import Any

import sqlalchemy as sa

from kehu.store.schema import customers, feedback, orders, tickets, users

TZ = dt.timezone(dt.timedelta(hours=8))  # Asia/Shanghai has no DST: a fixed offset is the same thing
_keys = itertools.count(1)


def at(day: str, hour: int = 12) -> dt.datetime:
    """Noon (or ``hour``) of an ISO day in Shanghai time."""
    return dt.datetime.combine(dt.date.fromisoformat(day), dt.time(hour), tzinfo=TZ)


def _origin(key: str, cid: int) -> dict[str, Any]:
    return {"source": "t", key: f"k{next(_keys)}", "customer_id": cid, "row_hash": 0}


class Store:
    """Writes hand-made rows into a workspace's store."""

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine

    def user(self, name: str, team: str | None = None) -> int:
        with self.engine.begin() as c:
            return int(
                c.execute(
                    sa.insert(users).values(name=name, role="rep", team=team, active=True).returning(users.c.id)
                ).scalar_one()
            )

    def customer(self, owner: int | None = None, **values: Any) -> int:
        with self.engine.begin() as c:
            return int(
                c.execute(sa.insert(customers).values(owner_id=owner, **values).returning(customers.c.id)).scalar_one()
            )

    def order(self, cid: int, day: str, amount: int, status: str = "paid") -> None:
        """An order of ``amount`` yuan."""
        with self.engine.begin() as c:
            c.execute(
                sa.insert(orders).values(
                    **_origin("order_id", cid),
                    ordered_at=at(day),
                    amount_cents=amount * 100,
                    currency="CNY",
                    status=status,
                )
            )

    def answer(self, cid: int, day: str, kind: str, score: int, comment: str | None = None) -> None:
        with self.engine.begin() as c:
            c.execute(
                sa.insert(feedback).values(
                    **_origin("feedback_id", cid), kind=kind, score=score, responded_at=at(day), comment=comment
                )
            )

    def ticket(
        self,
        cid: int,
        opened: dt.datetime,
        *,
        first: dt.datetime | None = None,
        resolved: dt.datetime | None = None,
        priority: str = "normal",
        topic: str | None = None,
        complaint: bool = False,
        status: str = "open",
    ) -> int:
        with self.engine.begin() as c:
            return int(
                c.execute(
                    sa.insert(tickets)
                    .values(
                        **_origin("ticket_id", cid),
                        opened_at=opened,
                        first_response_at=first,
                        resolved_at=resolved,
                        priority=priority,
                        topic=topic,
                        status=status,
                        is_complaint=complaint,
                    )
                    .returning(tickets.c.id)
                ).scalar_one()
            )


def segment_run(engine: sa.Engine, scheme: str, as_of: dt.date, placements: dict[int, str]) -> int:
    """Record a run of ``scheme`` placing each customer in a segment (a definition with those segment keys)."""
    from kehu.store.segments import record_run, save_definition

    keys = sorted(set(placements.values()))
    with engine.begin() as c:
        def_id, _ = save_definition(c, scheme, "lifecycle", {"segments": [{"key": k} for k in keys]})
        rows = [{"customer_id": cid, "segment": seg, "values": None} for cid, seg in placements.items()]
        return record_run(c, scheme=scheme, as_of=as_of, definition_id=def_id, engine="duckdb", rows=rows,
                          population=len(placements))  # fmt: skip
