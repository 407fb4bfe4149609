"""What the analytics pipeline publishes back to the store, so the app never reads the engine.

Tables (on :data:`kehu.store.schema.metadata`)::

    pipeline_runs            one row per published run: as_of, engine, seconds per step, customers
    customer_scores          the latest features per customer (one wide row each) + ``scores`` JSON
    customer_score_history   the same, keyed by (customer_id, as_of): one snapshot per as_of
    cohort_snapshots         cohort table per as_of
    repeat_curve_snapshots   repeat-purchase curve per as_of
    score_writes             one row per write of model scores (a run's value models, a retrained churn model)

Typed columns hold the pipeline's features (:data:`FEATURE_COLUMNS`; money in integer cents). Model scores
and segments added by later stages go into the ``scores`` JSON column (name -> value) or, once stable, into
typed columns of their own via a migration. Publishing writes everything in one transaction; re-publishing
an ``as_of`` replaces that day's snapshot, and ``customer_scores`` only moves forward (publishing an older
``as_of`` back-fills the history without replacing newer latest scores).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    Connection,
    Date,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    delete,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.types import TypeEngine

from kehu.store.bulk import db_array, insert_rows, is_sqlite
from kehu.store.schema import UTCDateTime, metadata

__all__ = [
    "FEATURE_COLUMNS",
    "LIST_SCORES",
    "cohort_snapshots",
    "customer_score_history",
    "customer_scores",
    "latest_run",
    "pipeline_runs",
    "publish",
    "published_cohorts",
    "published_features",
    "repeat_curve_snapshots",
    "score_writes",
    "sync_list_scores",
]

_INT, _FLOAT, _DATE, _TIME, _TEXT = "int64", "float64", "date", "timestamp", "string"

#: feature name -> type, in the pipeline's column order (a test keeps it equal to kehu.pipeline's)
FEATURE_COLUMNS: dict[str, str] = {
    "first_seen_date": _DATE, "tenure_days": _INT,
    "first_order_at": _TIME, "last_order_at": _TIME, "first_order_date": _DATE, "last_order_date": _DATE,
    "orders": _INT, "purchase_days": _INT, "frequency": _INT, "recency_days": _INT, "T_days": _INT,
    "recency_weeks": _FLOAT, "T_weeks": _FLOAT, "days_since_last_order": _INT,
    "total_revenue_cents": _INT, "mean_order_value_cents": _FLOAT, "monetary_value_cents": _FLOAT,
    "total_margin_cents": _INT,
    "revenue_30d_cents": _INT, "orders_30d": _INT, "revenue_90d_cents": _INT, "orders_90d": _INT,
    "revenue_180d_cents": _INT, "orders_180d": _INT, "revenue_365d_cents": _INT, "orders_365d": _INT,
    "revenue_prev_90d_cents": _INT, "orders_prev_90d": _INT, "revenue_trend_90d": _FLOAT,
    "order_trend_90d": _INT, "gap_mean_days": _FLOAT, "gap_std_days": _FLOAT, "overdue_ratio": _FLOAT,
    "refunded_orders": _INT, "refund_share": _FLOAT, "discount_share": _FLOAT,
    "top_category": _TEXT, "category_count": _INT,
    "interactions_total": _INT, "interactions_30d": _INT, "interactions_90d": _INT,
    "interactions_prev_90d": _INT, "interaction_trend_90d": _INT, "days_since_last_interaction": _INT,
    "tickets_total": _INT, "tickets_90d": _INT, "complaints_90d": _INT, "first_response_hours_mean": _FLOAT,
    "latest_nps": _INT, "latest_csat": _INT,
    "contracts_active": _INT, "contract_days_to_end": _INT, "contract_renewals": _INT,
}  # fmt: skip


def _sql_type(kind: str) -> TypeEngine[Any]:
    types: dict[str, TypeEngine[Any]] = {
        _INT: BigInteger(),
        _FLOAT: Float(precision=53),
        _DATE: Date(),
        _TIME: UTCDateTime(),
        _TEXT: String(200),
    }
    return types[kind]


def _feature_columns() -> list[Column[Any]]:
    return [Column(name, _sql_type(kind), nullable=True) for name, kind in FEATURE_COLUMNS.items()]


pipeline_runs = Table(
    "pipeline_runs",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("as_of", Date, nullable=False, index=True),
    Column("engine", String(20), nullable=False),
    Column("started_at", UTCDateTime, nullable=False),
    Column("finished_at", UTCDateTime, nullable=False),
    Column("customers", Integer, nullable=False),
    Column("seconds", Float(precision=53), nullable=False),
    Column("step_seconds", JSON, nullable=False),  # step name -> seconds, in run order
)

customer_scores = Table(
    "customer_scores",
    metadata,
    Column("customer_id", Integer, ForeignKey("customers.id", ondelete="CASCADE"), primary_key=True),
    Column("as_of", Date, nullable=False),
    Column("run_id", Integer, ForeignKey("pipeline_runs.id"), nullable=False, index=True),
    *_feature_columns(),
    Column("scores", JSON, nullable=True),  # model scores and segments: name -> value
    # copies of the scores lists sort and filter on, typed and indexed (see sync_list_scores)
    Column("clv_12m", Float(precision=53), nullable=True),
    Column("churn_risk", Float(precision=53), nullable=True),
    Column("churn_tier", String(10), nullable=True),
    Column("renewal_risk", Float(precision=53), nullable=True),
    Column("renewal_tier", String(10), nullable=True),
    Column("winback", Float(precision=53), nullable=True),
    Column("winback_value", Float(precision=53), nullable=True),
    Column("winback_expected", Float(precision=53), nullable=True),  # winback x winback_value: the 待挽回 order
    Index("ix_customer_scores_clv_12m", "clv_12m"),
    Index("ix_customer_scores_churn_risk", "churn_risk"),
    # a churn tier's customers in risk order (the list narrowed to a tier and sorted by risk reads it in order)
    Index("ix_customer_scores_churn_tier_risk", "churn_tier", "churn_risk"),
    Index("ix_customer_scores_renewal_tier_risk", "renewal_tier", "renewal_risk"),
    Index("ix_customer_scores_winback", "winback"),
    Index("ix_customer_scores_winback_expected", "winback_expected"),
    Index("ix_customer_scores_total_revenue_cents", "total_revenue_cents"),
    Index("ix_customer_scores_last_order_at", "last_order_at"),
)

#: the scores with a typed column of the same name on ``customer_scores`` that mirrors them
LIST_SCORES = ("clv_12m", "churn_risk", "churn_tier", "renewal_risk", "renewal_tier", "winback", "winback_value")

customer_score_history = Table(
    "customer_score_history",
    metadata,
    Column("customer_id", Integer, ForeignKey("customers.id", ondelete="CASCADE"), primary_key=True),
    Column("as_of", Date, primary_key=True),
    Column("run_id", Integer, ForeignKey("pipeline_runs.id"), nullable=False, index=True),
    *_feature_columns(),
    Column("scores", JSON, nullable=True),
)

cohort_snapshots = Table(
    "cohort_snapshots",
    metadata,
    Column("as_of", Date, primary_key=True),
    Column("cohort_month", Date, primary_key=True),
    Column("months_since", Integer, primary_key=True),
    Column("run_id", Integer, ForeignKey("pipeline_runs.id"), nullable=False),
    Column("cohort_customers", BigInteger, nullable=False),
    Column("active_customers", BigInteger, nullable=False),
    Column("retention", Float(precision=53), nullable=True),
    Column("orders", BigInteger, nullable=False),
    Column("revenue_cents", BigInteger, nullable=False),
)

repeat_curve_snapshots = Table(
    "repeat_curve_snapshots",
    metadata,
    Column("as_of", Date, primary_key=True),
    Column("months_since_first", Integer, primary_key=True),
    Column("run_id", Integer, ForeignKey("pipeline_runs.id"), nullable=False),
    Column("customers", BigInteger, nullable=False),
    Column("repeat_customers", BigInteger, nullable=False),
    Column("repeat_rate", Float(precision=53), nullable=True),
)


#: one row per write of model scores into ``customer_scores``/``customer_score_history``: the scores change
#: without a pipeline or segment run (``kehu models train`` re-scores the newest day), so caches of what the
#: pages show also compare the newest id of this table
score_writes = Table(
    "score_writes",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("as_of", Date, nullable=False),
    Column("customers", Integer, nullable=False),
    Column("written_at", UTCDateTime, nullable=False),
)


def _rows(table: pa.Table, extra: Mapping[str, Any], chunk: int) -> Iterator[list[dict[str, Any]]]:
    """Arrow rows as dicts for executemany, ``chunk`` at a time; naive timestamps become aware UTC."""
    table = _aware(table)
    for batch in table.to_batches(max_chunksize=chunk):
        yield [{**row, **extra} for row in batch.to_pylist()]


def _aware(table: pa.Table) -> pa.Table:
    """``table`` with its naive timestamp columns marked UTC (what they hold)."""
    for i, field in enumerate(table.schema):
        if pa.types.is_timestamp(field.type) and field.type.tz is None:
            table = table.set_column(i, field.name, pc.assume_timezone(table.column(i), "UTC"))
    return table


def _write_features(conn: Connection, features: pa.Table, as_of: dt.date, run_id: int, replace_latest: bool) -> None:
    """The day's feature rows into the history (in bulk, driver parameters) and, copied there by one
    ``INSERT … SELECT``, into the latest scores."""
    sqlite = is_sqlite(conn)
    features = _aware(features)
    columns = {name: db_array(features.column(name), sqlite=sqlite) for name in features.column_names}
    constants = {"as_of": as_of.isoformat() if sqlite else as_of, "run_id": run_id}
    insert_rows(conn, customer_score_history, columns, constants)
    if replace_latest:
        h = customer_score_history.c
        names = ["customer_id", "as_of", "run_id", *FEATURE_COLUMNS]
        day = select(*(h[name] for name in names)).where(h.as_of == as_of)
        conn.execute(insert(customer_scores).from_select(names, day))


def publish(
    conn: Connection,
    *,
    as_of: dt.date,
    engine: str,
    features: pa.Table,
    cohorts: pa.Table,
    repeat_curve: pa.Table,
    step_seconds: Mapping[str, float],
    started_at: dt.datetime,
    chunk_rows: int = 5_000,
) -> int:
    """Write one pipeline run's outputs to the store; call inside a transaction (``engine.begin()``).

    Parameters
    ----------
    conn
        A connection in an open transaction: everything is written or nothing.
    as_of
        The day the features were computed as of.
    engine
        ``"duckdb"`` or ``"spark"``.
    features
        One row per customer: ``customer_id`` plus the columns of :data:`FEATURE_COLUMNS`.
    cohorts, repeat_curve
        The pipeline's cohort table and repeat-purchase curve.
    step_seconds
        Step name -> seconds, as measured by the caller.
    started_at
        When the run started (timezone-aware).
    chunk_rows
        Rows per INSERT round trip of the cohort table and the repeat curve (the feature rows go in bulk).

    Returns
    -------
    int
        The new ``pipeline_runs.id``.
    """
    now = dt.datetime.now(dt.UTC)
    inserted = conn.execute(
        insert(pipeline_runs).values(
            as_of=as_of,
            engine=engine,
            started_at=started_at,
            finished_at=now,
            customers=features.num_rows,
            seconds=(now - started_at).total_seconds(),
            step_seconds=dict(step_seconds),
        )
    ).inserted_primary_key
    run_id = int(inserted[0]) if inserted else 0
    columns = ["customer_id", *FEATURE_COLUMNS]
    features = features.select(columns)
    newest = conn.execute(select(func.max(customer_scores.c.as_of))).scalar()
    replace_latest = newest is None or as_of >= newest
    if replace_latest:
        conn.execute(delete(customer_scores))
    conn.execute(delete(customer_score_history).where(customer_score_history.c.as_of == as_of))
    _write_features(conn, features, as_of, run_id, replace_latest)
    for table, data in ((cohort_snapshots, cohorts), (repeat_curve_snapshots, repeat_curve)):
        conn.execute(delete(table).where(table.c.as_of == as_of))
        for rows in _rows(data, {"as_of": as_of, "run_id": run_id}, chunk_rows):
            conn.execute(insert(table), rows)
    return run_id


def sync_list_scores(conn: Connection) -> None:
    """Copy the scores of :data:`LIST_SCORES` from the ``scores`` JSON of ``customer_scores`` into their typed,
    indexed columns, and set ``winback_expected`` (win-back probability × value at stake), in one set-based
    UPDATE. Call after changing ``scores`` (the merge routine of the value and churn models does); the customers
    list sorts and filters on these columns."""
    s = customer_scores.c.scores
    conn.execute(
        update(customer_scores).values(
            {
                name: s[name].as_string() if isinstance(customer_scores.c[name].type, String) else s[name].as_float()
                for name in LIST_SCORES
            }
            | {"winback_expected": s["winback"].as_float() * s["winback_value"].as_float()}
        )
    )


def published_features(conn: Connection, customer_id: int) -> dict[str, Any] | None:
    """The latest published features of one customer.

    Returns
    -------
    dict or None
        ``as_of``, ``run_id``, every feature of :data:`FEATURE_COLUMNS` (money in integer cents, times
        timezone-aware UTC) and ``scores`` (a dict, empty until models publish); ``None`` when the pipeline
        has not published this customer.
    """
    row = conn.execute(select(customer_scores).where(customer_scores.c.customer_id == customer_id)).first()
    if row is None:
        return None
    data = dict(row._mapping)
    data.pop("customer_id")
    for name in (*LIST_SCORES, "winback_expected"):  # the typed copies; the values are in ``scores``
        data.pop(name, None)
    data["scores"] = data.get("scores") or {}
    return data


def latest_run(conn: Connection) -> dict[str, Any] | None:
    """The most recently published pipeline run (``None`` before the first)."""
    row = conn.execute(select(pipeline_runs).order_by(pipeline_runs.c.id.desc()).limit(1)).first()
    return None if row is None else dict(row._mapping)


def published_cohorts(conn: Connection, as_of: dt.date | None = None) -> list[dict[str, Any]]:
    """The cohort table published for ``as_of`` (default: the latest run's), ordered by cohort and month."""
    if as_of is None:
        run = latest_run(conn)
        if run is None:
            return []
        as_of = run["as_of"]
    stmt = (
        select(cohort_snapshots)
        .where(cohort_snapshots.c.as_of == as_of)
        .order_by(cohort_snapshots.c.cohort_month, cohort_snapshots.c.months_since)
    )
    return [dict(r._mapping) for r in conn.execute(stmt)]
