"""The one translation catalog: ``locale/zh-CN.yaml`` and ``locale/en.yaml``, keys namespaced by the part that
shows them::

    web.…        the web app's pages (kehu.web.i18n adds number and date formatting)
    metrics.…    KPI names (kehu.metrics.labels)
    segments.…   schemes, segments, export headers (kehu.segments.labels)
    campaigns.…  campaign result text (kehu.campaigns.results)
    effects.…    playbook rule verdicts (kehu.playbooks.effects)
    reasons.…    churn-reason sentences (kehu.models.reasons)
    notify.…     notification sentences and the daily digest (kehu.service.notifications, kehu.playbooks.digest)
    limits.…     refusals of oversized or malformed input (kehu.user_yaml, kehu.ingest); see :func:`error_text`
    files.…      errors about hostile files, uploads and the store's turns (kehu.errors with a ``key``)

Each language's file is read once (cached). A missing key is a bug and raises ``KeyError``. Part of the
foundation layer: it imports nothing of Kehu but the shared vocabulary and the error tree.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from importlib import resources
from typing import Any, TypeVar

import yaml

from kehu.errors import KehuError
from kehu.vocabulary import LOCALES

E = TypeVar("E", bound=KehuError)

__all__ = ["catalog", "error_text", "keys", "lookup", "refusal", "said", "section", "text"]


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
    ``locale`` too (e.g. ``what="@files.what.run"``; a value naming no text stays as it is)."""
    values = {k: _referenced(v, locale) for k, v in params.items()}
    return text(key, locale).format(**values)


def _referenced(value: object, locale: str) -> object:
    """A ``"@other.key"`` value as that key's text; any other value (a user's ``@name`` too) as it is."""
    if isinstance(value, str) and value.startswith("@"):
        node = lookup(value[1:], locale)
        if isinstance(node, str):
            return node
    return value


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


def error_text(error: BaseException, locale: str) -> str:
    """An error's message in ``locale``: errors that carry a catalog ``key`` and ``params`` (raised with
    :func:`refusal` or :meth:`kehu.errors.KehuError.said`, e.g. :class:`kehu.user_yaml.YamlLimitError`) are
    translated (see :func:`said`), any other gives ``str(error)``. An :class:`~kehu.errors.ImportFileError`'s file
    name is kept in front of its translated problem unless the message names it itself (a ``path`` value)."""
    key = getattr(error, "key", None)
    if not isinstance(key, str) or locale not in LOCALES:
        return str(error)
    params = dict(getattr(error, "params", {}))
    message = said(key, locale, params)
    path = getattr(error, "path", None)
    return f"{path}: {message}" if isinstance(path, str) and "path" not in params else message


def refusal(error_type: type[E], key: str, *args: Any, **params: Any) -> E:
    """An error of ``error_type`` whose message is the catalog text at ``key`` filled with ``params``: built with
    ``args`` and the English text (``ImportFileError(path, text)``, ``ValidationError(text)``; ``"@other.key"``
    values as in :func:`said`), carrying the key and params for :func:`error_text`."""
    error = error_type(*args, said(key, "en", params))
    error.key, error.params = key, params
    return error
