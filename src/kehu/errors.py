"""Kehu's one error tree.

Every error Kehu raises on purpose is a :class:`KehuError`; each also subclasses the builtin it resembles,
so callers that only know Python's exceptions still catch it sensibly::

    KehuError (Exception)
    ├── ConfigError (ValueError)            settings that cannot work (bad URL, unknown engine)
    ├── StoreError (RuntimeError)           the app store is missing, too old or unreachable
    │   ├── NotFoundError (LookupError)     no such customer / task / ... (also a LookupError)
    │   ├── StoreBusyError                  another import or run has the store, or it stayed locked: try again
    │   └── StoreFullError                  the disk of the store (or of its files) is full: nothing was stored
    ├── ImportFileError (ValueError)        a whole file cannot be imported: nothing was changed
    │   └── MappingError                    a mapping file is malformed
    ├── ValidationError (ValueError)        one value or one definition is invalid (names field and value)
    │   ├── NotFittedError                  a model was asked for predictions before it was fitted
    │   └── UploadTooLargeError             an upload bigger than the web app takes (KEHU_UPLOAD_MAX_MB)
    ├── AuthenticationError (PermissionError)  not signed in: wrong password, expired session, bad token
    │   └── TooManyAttemptsError            sign-in refused for a while after too many failures
    ├── AccessDeniedError (PermissionError) signed in, but the role or row-level rule does not allow it
    └── DependencyError (ImportError)       an optional extra (pyspark, lightgbm) is not installed

Front ends translate these once: the CLI prints the message and exits 2; the API answers 4xx. An error raised
with a catalog :attr:`~KehuError.key` (``files.…`` in ``kehu/locale``) and its :attr:`~KehuError.params` is
shown in the reader's language (:func:`kehu.i18n.error_text`); ``str(error)`` is its English text.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

__all__ = [
    "AccessDeniedError",
    "AuthenticationError",
    "ConfigError",
    "DependencyError",
    "ImportFileError",
    "KehuError",
    "MappingError",
    "NotFittedError",
    "NotFoundError",
    "StoreBusyError",
    "StoreError",
    "StoreFullError",
    "TooManyAttemptsError",
    "UploadTooLargeError",
    "ValidationError",
]


class KehuError(Exception):
    """Base of every error Kehu raises on purpose.

    An error whose message is in the catalog carries its ``key`` and ``params`` (see ``kehu.i18n.refusal``), so
    each front end can show it in the reader's language; ``str(error)`` is then its English text.
    """

    #: the catalog key of the message in every language (``kehu.i18n.refusal`` or :meth:`said` set it), None:
    #: ``str(error)`` only
    key: str | None = None
    #: the values the catalog message is formatted with
    params: Mapping[str, Any] = MappingProxyType({})

    def said(self, key: str, **params: Any) -> KehuError:
        """Attach the catalog key and values of this error's message (returns the error, to raise it)."""
        self.key, self.params = key, dict(params)
        return self


class ConfigError(KehuError, ValueError):
    """Settings that cannot work."""


class StoreError(KehuError, RuntimeError):
    """The app store is missing, not migrated, or unreachable."""


class NotFoundError(StoreError, LookupError):
    """A record that was asked for does not exist."""


class StoreBusyError(StoreError):
    """The store is in use by another import or run (or stayed locked too long); trying again later works."""


class StoreFullError(StoreError):
    """The disk of the store, or of the files an import writes, is full; nothing was stored."""


class ImportFileError(KehuError, ValueError):
    """A file-level import problem; nothing was changed in the store.

    Parameters
    ----------
    path
        The file that could not be imported.
    problem
        What is wrong and, where possible, what to do about it.
    """

    def __init__(self, path: object, problem: str) -> None:
        self.path = str(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")


class MappingError(ImportFileError):
    """A mapping file (YAML) is malformed."""


class ValidationError(KehuError, ValueError):
    """One value or one definition is invalid."""


class NotFittedError(ValidationError):
    """A prediction or summary was asked of a model before ``fit`` was called."""


class UploadTooLargeError(ValidationError):
    """An upload is bigger than the web app accepts; it was not stored."""


class AuthenticationError(KehuError, PermissionError):
    """Not signed in: wrong name or password, an expired session or an unknown API token."""


class TooManyAttemptsError(AuthenticationError):
    """Sign-in refused for a while after too many failures.

    Parameters
    ----------
    retry_after
        Seconds until a new attempt is considered.
    """

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class AccessDeniedError(KehuError, PermissionError):
    """Signed in, but the role or the row-level rule does not allow this."""


class DependencyError(KehuError, ImportError):
    """An optional dependency is missing; the message says which extra to install."""
