"""What an import by a manager or a rep may touch: customers owned by the people of their scope.

An import started by an admin or from the command line has no scope (``None``) and may touch every customer. A
scoped customers import (:class:`ImportScope`) quarantines, with the row and the column to blame, each row that

- names an owner who is not one of the scope's users (``owner``),
- changes the record of a customer owned by someone outside the scope or by nobody (the customer id column), or
- carries a phone or e-mail of such a customer from another source, which would merge the two (``phone``,
  ``email``);

and a new customer whose row names no owner is given the importing user as owner, so that every customer a
scoped import creates is one its user can see. Nothing outside the scope is changed and nothing is dropped
silently: every refused row is in the quarantine file with its reason.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import Connection, or_, select, true

from kehu.i18n import text
from kehu.store.schema import customer_records, customers

__all__ = ["ImportScope", "outside_contacts", "owners_of"]

_CHUNK = 900


@dataclass(frozen=True)
class ImportScope:
    """The scope of one import: the users whose customers it may change, by id and by name."""

    owner_ids: frozenset[int]
    owner_names: frozenset[str]
    #: owner of a new customer whose row names none (the importing user)
    default_owner: str
    locale: str = "zh-CN"

    def reason(self, name: str, **values: object) -> str:
        """The quarantine reason ``name`` of the ``scope.import`` catalog section, in the importer's language."""
        return text(f"scope.import.{name}", self.locale).format(**values)


def owners_of(conn: Connection, customer_ids: Iterable[int]) -> dict[int, int | None]:
    """Customer id -> owner id (``None``: unowned)."""
    ids = sorted(set(customer_ids))
    out: dict[int, int | None] = {}
    for start in range(0, len(ids), _CHUNK):
        stmt = select(customers.c.id, customers.c.owner_id).where(customers.c.id.in_(ids[start : start + _CHUNK]))
        out.update({int(c): None if o is None else int(o) for c, o in conn.execute(stmt)})
    return out


def outside_contacts(
    conn: Connection, scope: ImportScope, source: str, phones: Iterable[str], emails: Iterable[str]
) -> set[tuple[str, str]]:
    """``("phone" | "email", value)`` of the given values held by a customer outside the scope that has a record
    of another source (a record with such a value would be merged into that customer)."""
    found: set[tuple[str, str]] = set()
    owned = sorted(scope.owner_ids)
    outside = or_(customers.c.owner_id.is_(None), customers.c.owner_id.not_in(owned) if owned else true())
    for name, column, values in (("phone", customers.c.phone, phones), ("email", customers.c.email, emails)):
        wanted = sorted(set(values))
        for start in range(0, len(wanted), _CHUNK):
            stmt = (
                select(column)
                .join(customer_records, customer_records.c.customer_id == customers.c.id)
                .where(column.in_(wanted[start : start + _CHUNK]), customer_records.c.source != source, outside)
                .distinct()
            )
            found.update((name, str(v)) for (v,) in conn.execute(stmt))
    return found
