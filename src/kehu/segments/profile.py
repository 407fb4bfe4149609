"""The customer profile as of a day, read from the store: as Arrow for the engine, as SQLAlchemy columns.

Both forms expose exactly the fields of :data:`~kehu.segments.fields.PROFILE_FIELDS`: the published
features of ``customer_score_history`` for the day, the customer attributes of ``customers`` and the model
scores from the history's ``scores`` JSON. :func:`store_members` evaluates a rule on the store itself
(compiled by :func:`~kehu.segments.rules.compile_sqlalchemy`), the path the app uses for ad-hoc filters.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from typing import Any

import pyarrow as pa
import sqlalchemy as sa

from kehu.segments.fields import CUSTOMER_ATTRIBUTES, PROFILE_FIELDS, SCORE_FIELDS
from kehu.segments.rules import Rule, compile_sqlalchemy
from kehu.store.published import customer_score_history
from kehu.store.schema import customers

__all__ = ["arrow_schema", "profile_arrow", "profile_columns", "score_coverage", "store_members"]

_ARROW = {"int": pa.int64(), "float": pa.float64(), "date": pa.date32(), "string": pa.string()}


def arrow_schema() -> pa.Schema:
    """``customer_id`` and every profile field, with the Arrow type of its kind."""
    return pa.schema(
        [("customer_id", pa.int64()), *((name, _ARROW[kind]) for name, kind in PROFILE_FIELDS.fields.items())]
    )


def profile_columns() -> dict[str, sa.ColumnElement[Any]]:
    """Profile field -> SQLAlchemy expression over ``customer_score_history`` joined with ``customers``."""
    h = customer_score_history
    scores = h.c.scores
    cols: dict[str, sa.ColumnElement[Any]] = {}
    for name in PROFILE_FIELDS:
        if name in CUSTOMER_ATTRIBUTES:
            cols[name] = customers.c[name]
        elif name not in SCORE_FIELDS:
            cols[name] = h.c[name]
    for name in SCORE_FIELDS:  # exactly the published score of that name
        cols[name] = scores[name].as_float()
    return cols


def _from(as_of: dt.date) -> tuple[sa.FromClause, sa.ColumnElement[bool]]:
    h = customer_score_history
    return h.join(customers, customers.c.id == h.c.customer_id), h.c.as_of == as_of


def store_members(conn: sa.Connection, rule: Rule, as_of: dt.date) -> list[int]:
    """Customer ids matching ``rule`` in the profile published for ``as_of``, evaluated by the store's SQL."""
    source, when = _from(as_of)
    condition = compile_sqlalchemy(rule, profile_columns(), as_of=as_of)
    stmt = sa.select(customer_score_history.c.customer_id).select_from(source).where(when, condition)
    return sorted(int(i) for i in conn.execute(stmt.order_by(customer_score_history.c.customer_id)).scalars())


def profile_arrow(conn: sa.Connection, as_of: dt.date, *, chunk_rows: int = 50_000) -> pa.Table:
    """Every customer's profile published for ``as_of`` as Arrow (see :func:`arrow_schema`).

    The scores are taken out of the ``scores`` JSON by the store's SQL, a number (nothing else) per score field,
    instead of decoding every document in Python. A document SQLite cannot parse (Python's ``json.dumps`` writes
    a NaN as ``NaN``; PostgreSQL refuses it on write) is read whole and decoded in Python, with the same result.
    """
    source, when = _from(as_of)
    h = customer_score_history
    names = [n for n in PROFILE_FIELDS if n not in SCORE_FIELDS]
    sqlite = conn.dialect.name == "sqlite"
    valid = sa.func.json_valid(h.c.scores) == 1
    scores = [_score_number(h.c.scores, name, sqlite=sqlite) for name in SCORE_FIELDS]
    if sqlite:
        scores = [sa.case((valid, expr), else_=sa.null()) for expr in scores]
    unparsed = sa.case((valid, sa.null()), else_=h.c.scores) if sqlite else sa.null()
    exprs = [h.c.customer_id, *(customers.c[n] if n in CUSTOMER_ATTRIBUTES else h.c[n] for n in names)]
    stmt = sa.select(*exprs, *scores, unparsed).select_from(source).where(when).order_by(h.c.customer_id)
    schema = arrow_schema()
    columns: dict[str, list[Any]] = {name: [] for name in schema.names}
    score_names = list(SCORE_FIELDS)
    result = conn.execution_options(stream_results=True, yield_per=chunk_rows).execute(stmt)
    for rows in result.partitions():  # column by column, a chunk at a time
        cols = list(zip(*rows, strict=True))
        columns["customer_id"].extend(cols[0])
        for i, name in enumerate(names, start=1):
            columns[name].extend(cols[i])
        first = 1 + len(names)
        for j, name in enumerate(score_names):
            columns[name].extend(cols[first + j])
        for k, document in enumerate(cols[-1]):
            if document is not None:  # rare: decoded here (a NaN among the scores)
                document = document if isinstance(document, dict) else {}
                row = len(columns["customer_id"]) - len(rows) + k
                for name in score_names:
                    columns[name][row] = _number(document.get(name))
    return pa.table({name: pa.array(columns[name], type=schema.field(name).type) for name in schema.names})


def _score_number(scores: Any, name: str, *, sqlite: bool) -> sa.ColumnElement[Any]:
    """``scores[name]`` as a float where the document holds a JSON number there, else NULL (as :func:`_number`)."""
    is_number: sa.ColumnElement[bool]
    if sqlite:
        is_number = sa.func.json_type(scores, f'$."{name}"').in_(("integer", "real"))
    else:
        is_number = sa.func.json_typeof(scores[name]) == "number"
    return sa.case((is_number, scores[name].as_float()), else_=sa.null())


def score_coverage(
    conn: sa.Connection, as_of: dt.date, fields: Iterable[str], *, owner_ids: Sequence[int] | None = None
) -> dict[str, dict[str, int]]:
    """For each score field among ``fields``: of the customers published for ``as_of`` (owned by ``owner_ids``
    when given), how many have the score (``published``) and how many do not (``missing``). A condition on a
    missing score does not match that customer; the rule editor's preview says how many that leaves out."""
    names = sorted({f for f in fields if f in SCORE_FIELDS})
    if not names:
        return {}
    source, when = _from(as_of)
    cols = profile_columns()
    counts = [sa.func.count(cols[n]).label(n) for n in names]
    stmt = sa.select(sa.func.count().label("_all"), *counts).select_from(source).where(when)
    if owner_ids is not None:
        stmt = stmt.where(customers.c.owner_id.in_(list(owner_ids) or [-1]))
    row = conn.execute(stmt).mappings().one()
    total = int(row["_all"])
    return {n: {"published": int(row[n]), "missing": total - int(row[n])} for n in names}


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)
