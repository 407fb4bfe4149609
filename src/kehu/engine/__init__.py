"""The analytics engine: the only package that knows DuckDB from Spark.

``connect(settings)`` gives an Ibis backend, ``capabilities(backend)`` says what differs, ``extract(...)``
brings the store's tables in through Arrow (or reads orders/interactions from a data lake), and
``materialize``/``register_arrow``/``read_parquet`` move tables in and out. pyspark and Ibis are imported
lazily, so importing this package is cheap.
"""

from __future__ import annotations

from kehu.engine.backends import (
    Capabilities,
    EngineName,
    capabilities,
    connect,
    engine_name,
    materialize,
    read_parquet,
    register_arrow,
    release,
    spark_session,
    to_arrow,
)
from kehu.engine.extract import EVENT_TIME, EXTRACT_COLUMNS, arrow_schema, event_time, extract, read_store_table
from kehu.engine.java import JavaRuntime, ensure_java, find_java

__all__ = [
    "EVENT_TIME",
    "EXTRACT_COLUMNS",
    "Capabilities",
    "EngineName",
    "JavaRuntime",
    "arrow_schema",
    "capabilities",
    "connect",
    "engine_name",
    "ensure_java",
    "event_time",
    "extract",
    "find_java",
    "materialize",
    "read_parquet",
    "read_store_table",
    "register_arrow",
    "release",
    "spark_session",
    "to_arrow",
]
