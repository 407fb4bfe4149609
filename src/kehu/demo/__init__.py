"""The seeded demo company: a tea brand's customers, orders, contracts and engagement as real-looking files.

:func:`generate_demo` writes the files (and a hidden truth) for ``kehu demo``; :func:`write_orders_csv`
writes a large order file quickly for benchmarks.
"""

from __future__ import annotations

from kehu.demo.bulk import write_orders_csv
from kehu.demo.company import DEFAULT_AS_OF, DemoCompany, DemoFile, generate_demo
from kehu.demo.population import Owner

__all__ = ["DEFAULT_AS_OF", "DemoCompany", "DemoFile", "Owner", "generate_demo", "write_orders_csv"]
