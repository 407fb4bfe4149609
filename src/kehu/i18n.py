"""The one translation catalog: ``locale/zh-CN.yaml`` and ``locale/en.yaml``, keys namespaced by the part that
shows them::

    web.…        the web app's pages (kehu.web.i18n adds number and date formatting)
    metrics.…    KPI names (kehu.metrics.labels)
    segments.…   schemes, segments, export headers (kehu.segments.labels)
    campaigns.…  campaign result text (kehu.campaigns.results)
    effects.…    playbook rule verdicts (kehu.playbooks.effects)
    reasons.…    churn-reason sentences (kehu.models.reasons)
    notify.…     notification sentences and the daily digest (kehu.service.notifications, kehu.playbooks.digest)
    files.…      errors about hostile files, uploads and the store's turns (kehu.errors with a ``key``)

Each language's file is read once (cached). A missing key is a bug and raises ``KeyError``. Part of the
foundation layer: it imports nothing of Kehu but the shared vocabulary.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from importlib import resources
from typing import Any

import yaml

from kehu.vocabulary import LOCALES

__all__ = ["catalog", "error_text", "keys", "lookup", "said", "section", "text"]


@cache
def catalog(locale: str) -> dict[str, Any]:
    """The whole parsed catalog of ``locale`` (one of :data:`kehu.vocabulary.LOCALES`)."""
    if locale not in LOCALES:
        raise KeyError(locale)
    raw = resources.files("kehu").joinpath("locale", f"{locale}.yaml").read_text(encoding="utf-8")
    data: dict[str, Any] = yaml.safe_load(raw)
    return data


def lookup(key: str, locale: str) -> Any | None:
    """The node at dotted ``key`` (a text, a list or a section), ``None`` where the catalog has no such key."""
    node: Any = catalog(locale)
    for part in key.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


def text(key: str, locale: str) -> str:
    """The text at dotted ``key``, e.g. ``text("metrics.no_data", "en")``."""
    node = lookup(key, locale)
    if not isinstance(node, str):
        raise KeyError(key)
    return node


def said(key: str, locale: str, params: Mapping[str, object]) -> str:
    """The text at ``key`` formatted with ``params``; a value ``"@other.key"`` is the text at that key, in
    ``locale`` too (e.g. ``what="@files.what.run"``)."""
    values = {k: text(v[1:], locale) if isinstance(v, str) and v.startswith("@") else v for k, v in params.items()}
    return text(key, locale).format(**values)


def error_text(exc: BaseException, locale: str) -> str:
    """The message of an error in ``locale``: its catalog text when it was raised with a ``key``
    (:meth:`kehu.errors.KehuError.said`), else ``str(exc)``."""
    key = getattr(exc, "key", None)
    if not isinstance(key, str) or locale not in LOCALES:
        return str(exc)
    return said(key, locale, dict(getattr(exc, "params", {})))


def section(key: str, locale: str) -> dict[str, Any]:
    """The section at dotted ``key`` (e.g. ``"segments.schemes"``) as a dict."""
    node = lookup(key, locale)
    if not isinstance(node, dict):
        raise KeyError(key)
    return node


def keys(locale: str) -> set[str]:
    """Every dotted key of ``locale``'s catalog that holds a text or a list (sections starting with ``_`` are
    looked into too)."""
    out: set[str] = set()

    def walk(tree: dict[str, Any], prefix: str) -> None:
        for k, v in tree.items():
            if isinstance(v, dict):
                walk(v, f"{prefix}{k}.")
            else:
                out.add(prefix + k)

    walk(catalog(locale), "")
    return out
