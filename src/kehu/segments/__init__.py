"""Segmentation: RFM schemes, lifecycle stages, value tiers, cross segments and the safe rule language.

- :mod:`~kehu.segments.rules`: the rule language (YAML/JSON tree), validated on load, compiled to Ibis and
  to SQLAlchemy; :mod:`~kehu.segments.fields` lists the fields rules may use.
- :mod:`~kehu.segments.scheme`: first-match-wins schemes; :mod:`~kehu.segments.config` builds the
  built-in ones from ``segments/defaults/*.yaml``; :mod:`~kehu.segments.labels` is the zh-CN/en catalog.
- :mod:`~kehu.segments.rfm` and :mod:`~kehu.segments.compute`: the schemes as Ibis expressions over the
  customer profile (:mod:`~kehu.segments.profile` reads it from the store).

The publish stage (:mod:`kehu.publish.segments`) runs them after the pipeline and keeps membership history
in the store (:mod:`kehu.store.segments`); the service (:mod:`kehu.service.segmentation`) reads it.
"""

from __future__ import annotations

from kehu.segments.config import BUILTIN_SCHEMES, SegmentConfig, load_config
from kehu.segments.fields import PROFILE_FIELDS, FieldCatalog
from kehu.segments.rules import Rule, compile_ibis, compile_sqlalchemy, evaluate, load_rule, parse_rule
from kehu.segments.scheme import Scheme, SegmentRule

__all__ = [
    "BUILTIN_SCHEMES",
    "PROFILE_FIELDS",
    "FieldCatalog",
    "Rule",
    "Scheme",
    "SegmentConfig",
    "SegmentRule",
    "compile_ibis",
    "compile_sqlalchemy",
    "evaluate",
    "load_config",
    "load_rule",
    "parse_rule",
]
