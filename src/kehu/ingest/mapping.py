"""Mapping files: how the columns of one file become the canonical fields of an import kind.

Most files need no mapping: :func:`plan_columns` recognizes common Chinese and English headers through the
aliases in :mod:`kehu.ingest.fields`. A YAML mapping file overrides that and describes layouts that cannot
be recognized, such as header-less, whitespace-separated or fixed-width text. Every key is optional::

    kind: orders                 # the import kind this mapping is for (checked against the command)
    format: whitespace           # csv | xlsx | parquet | whitespace | fixed_width (default: by extension)
    encoding: gb18030            # utf-8 | utf-8-sig | gb18030 (gbk, gb2312, cp936 read as gb18030)
    delimiter: ";"               # CSV only; default: sniffed among , ; tab |
    header: false                # the file has no header line (default: true)
    skip_rows: 2                 # lines (Excel: rows) to skip before the header or the first record
    sheet: 订单                   # XLSX sheet name (default: the first sheet)
    widths: [6, 9, 3, 8]         # fixed_width: the width of each column, in characters
    columns:                     # header-less (or renaming by position): one name per column, in order;
      [customer_id, ordered_at, quantity, amount, _]   #   `_` or a name starting with `_` is ignored,
                                 #   a name that is not a field is kept as an extra column
    columns:                     # or: {header in the file: field}, overriding the automatic recognition;
      {客户: customer_id, 备注: _}  #   `_` ignores that column
    date_format: {ordered_at: "%Y%m%d"}   # strptime format per field (a plain string: for every date field)
    defaults: {currency: USD}    # a constant raw value for a field the file lacks
    derive: {order_id: "cdnow-{customer_id}-{row}"}   # a template over fields/columns; {row} = row number
                                 # (defaults and derive apply only to fields the file has no column for)
    timezone: America/New_York   # the zone of naive date-times in this file (default: the settings' zone)

Templates in ``derive`` are filled per record from the raw text of the named fields (or raw columns) and
``{row}``, the row number a user sees; write ``{{`` and ``}}`` for literal braces.
"""

from __future__ import annotations

import re
import string
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kehu.errors import ImportFileError, MappingError
from kehu.i18n import refusal
from kehu.ingest.fields import KindSpec, normalize_header

__all__ = ["FORMATS", "ColumnPlan", "Mapping", "load_mapping", "normalize_encoding", "plan_columns"]

FORMATS = ("csv", "xlsx", "parquet", "whitespace", "fixed_width")
_KEYS = {
    "kind",
    "format",
    "encoding",
    "delimiter",
    "header",
    "skip_rows",
    "sheet",
    "widths",
    "columns",
    "date_format",
    "defaults",
    "derive",
    "timezone",
}
_ENCODINGS = {
    "utf8": "utf-8",
    "utf-8": "utf-8",
    "utf-8-sig": "utf-8-sig",
    "utf8-sig": "utf-8-sig",
    "gb18030": "gb18030",
    "gbk": "gb18030",
    "gb2312": "gb18030",
    "cp936": "gb18030",
}
_ALL = "*"


def normalize_encoding(name: str) -> str | None:
    """The encoding Kehu reads for a user-given name (GBK family -> gb18030), or None if unsupported."""
    return _ENCODINGS.get(name.strip().lower().replace("_", "-"))


def is_ignored(name: str) -> bool:
    """A column name that a mapping marks as ignored: ``_`` or any name starting with ``_``."""
    return name.startswith("_")


@dataclass(frozen=True)
class Mapping:
    """A parsed and validated mapping file (see the module docstring for the keys)."""

    path: Path | None = None
    kind: str | None = None
    format: str | None = None
    encoding: str | None = None
    delimiter: str | None = None
    header: bool = True
    skip_rows: int = 0
    sheet: str | None = None
    widths: tuple[int, ...] | None = None
    column_names: tuple[str, ...] | None = None  # positional names (``columns:`` given as a list)
    renames: dict[str, str] = field(default_factory=dict)  # file header -> field (``columns:`` as a dict)
    date_format: dict[str, str] = field(default_factory=dict)  # field (or "*": every field) -> strptime format
    defaults: dict[str, str] = field(default_factory=dict)
    derive: dict[str, str] = field(default_factory=dict)
    timezone: str | None = None

    def date_format_for(self, field_name: str) -> str | None:
        """The strptime format the mapping gives for ``field_name`` (or for every field), else None."""
        return self.date_format.get(field_name, self.date_format.get(_ALL))

    def synthesized_headers(self, n_columns: int) -> list[str]:
        """Column names for a header-less file (or positional renaming) with ``n_columns`` columns."""
        names = list(self.column_names or ())
        out = []
        for i in range(n_columns):
            name = names[i] if i < len(names) else f"_{i + 1}"
            out.append(f"_{i + 1}" if name == "_" else name)
        return out


def template_names(template: str) -> list[str]:
    """The placeholder names in a ``derive`` template, in order; ValueError if it is malformed."""
    names = []
    for _literal, name, spec, conv in string.Formatter().parse(template):
        if name is None:
            continue
        if not name or spec or conv or not re.fullmatch(r"\w+", name):
            raise ValueError(f"placeholder {{{name}}} must be a plain field name like {{customer_id}}")
        names.append(name)
    return names


def _fail(path: Path, key: str, problem: str) -> MappingError:
    return MappingError(path, f"mapping key '{key}': {problem}")


def _str_dict(path: Path, key: str, value: Any) -> dict[str, str]:
    if not isinstance(value, dict):
        raise _fail(path, key, f"expected a mapping of field: value, got {type(value).__name__}")
    out = {}
    for k, v in value.items():
        if not isinstance(k, str) or v is None or isinstance(v, (list, dict)):
            raise _fail(path, key, f"entry {k!r}: {v!r} must map a field name to one value")
        out[k] = str(v)
    return out


def load_mapping(path: str | Path) -> Mapping:
    """Read and validate a YAML mapping file.

    Parameters
    ----------
    path
        The YAML file.

    Returns
    -------
    Mapping
        The validated mapping.

    Raises
    ------
    MappingError
        The file is missing or not valid YAML, or a key is unknown or has a bad value; the message names
        the file, the key and the problem.
    kehu.user_yaml.YamlLimitError
        The file is larger, deeper or expands to more values than :data:`kehu.user_yaml.FILE_LIMITS` allow.
    """
    import yaml

    from kehu import user_yaml

    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise MappingError(p, "mapping file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise MappingError(p, f"cannot read the mapping file ({exc})") from None
    try:
        doc = user_yaml.load(text, limits=user_yaml.FILE_LIMITS, where=str(p))
    except yaml.YAMLError as exc:
        raise MappingError(p, f"not valid YAML: {exc}") from None
    if doc is None:
        doc = {}
    if not isinstance(doc, dict):
        raise MappingError(p, "a mapping file must be a YAML mapping of keys (kind, format, columns, ...)")
    unknown = sorted(str(k) for k in doc if k not in _KEYS)
    if unknown:
        raise _fail(p, unknown[0], f"unknown key; known keys: {', '.join(sorted(_KEYS))}")
    return _build(p, doc)


def _build(p: Path, doc: dict[str, Any]) -> Mapping:
    kw: dict[str, Any] = {"path": p}
    for key in ("kind", "sheet", "timezone"):
        if doc.get(key) is not None:
            kw[key] = str(doc[key])
    if doc.get("format") is not None:
        fmt = str(doc["format"]).strip().lower().replace("-", "_")
        fmt = {"fixed": "fixed_width", "fixedwidth": "fixed_width", "tsv": "csv", "excel": "xlsx"}.get(fmt, fmt)
        if fmt not in FORMATS:
            raise _fail(p, "format", f"{doc['format']!r} is not one of {', '.join(FORMATS)}")
        kw["format"] = fmt
    if doc.get("encoding") is not None:
        enc = normalize_encoding(str(doc["encoding"]))
        if enc is None:
            raise _fail(p, "encoding", f"{doc['encoding']!r} is not supported; use utf-8, utf-8-sig or gb18030")
        kw["encoding"] = enc
    if doc.get("delimiter") is not None:
        delim = {"tab": "\t", "\\t": "\t"}.get(str(doc["delimiter"]), str(doc["delimiter"]))
        if len(delim) != 1 or delim in '"\r\n':
            raise _fail(p, "delimiter", f"{doc['delimiter']!r} must be a single character (or 'tab')")
        kw["delimiter"] = delim
    if "header" in doc:
        if not isinstance(doc["header"], bool):
            raise _fail(p, "header", f"expected true or false, got {doc['header']!r}")
        kw["header"] = doc["header"]
    if "skip_rows" in doc:
        n = doc["skip_rows"]
        if not isinstance(n, int) or isinstance(n, bool) or n < 0:
            raise _fail(p, "skip_rows", f"expected a whole number >= 0, got {n!r}")
        kw["skip_rows"] = n
    if doc.get("widths") is not None:
        w = doc["widths"]
        if not isinstance(w, list) or not w or not all(isinstance(x, int) and x > 0 for x in w):
            raise _fail(p, "widths", "expected a list of positive whole numbers (column widths)")
        kw["widths"] = tuple(w)
    cols = doc.get("columns")
    if isinstance(cols, list):
        names = [str(c) for c in cols]
        real = [n for n in names if n != "_"]
        dup = sorted({n for n in real if real.count(n) > 1})
        if dup or not all(n == "_" or re.fullmatch(r"\w+", n) for n in names):
            raise _fail(p, "columns", f"names must be unique words (or _), got {dup or names}")
        kw["column_names"] = tuple(names)
    elif isinstance(cols, dict):
        kw["renames"] = _str_dict(p, "columns", cols)
    elif cols is not None:
        raise _fail(p, "columns", "expected a list of names (by position) or a mapping {header: field}")
    fmt_value = doc.get("date_format")
    if isinstance(fmt_value, str):
        kw["date_format"] = {_ALL: fmt_value}
    elif fmt_value is not None:
        kw["date_format"] = _str_dict(p, "date_format", fmt_value)
    for key in ("defaults", "derive"):
        if doc.get(key) is not None:
            kw[key] = _str_dict(p, key, doc[key])
    for fld, template in kw.get("derive", {}).items():
        try:
            template_names(template)
        except ValueError as exc:
            raise _fail(p, "derive", f"{fld}: {exc}") from None
    m = Mapping(**kw)
    if m.format == "fixed_width" and not m.widths:
        raise _fail(p, "widths", "format fixed_width needs widths: [w1, w2, ...]")
    if m.widths and m.column_names and len(m.widths) != len(m.column_names):
        raise _fail(p, "widths", f"{len(m.widths)} widths but {len(m.column_names)} column names")
    if not m.header and m.renames:
        raise _fail(p, "columns", "a file without a header needs columns as a list of names, by position")
    return m


@dataclass(frozen=True)
class ColumnPlan:
    """Which raw column feeds which canonical field, for one file and one kind."""

    fields: dict[str, str]  # canonical field -> raw column name in the file
    defaults: dict[str, str]  # canonical field -> constant raw value
    derived: dict[str, str]  # canonical field -> template
    extras: list[str]  # raw columns not mapped to a field (kept as extra JSON by the importer)
    ignored: list[str]


def _check_fields(spec: KindSpec, mapping: Mapping, key: str, names: list[str]) -> None:
    for name in names:
        if name not in spec.names:
            raise _fail(
                mapping.path or Path("<mapping>"),
                key,
                f"{name!r} is not a field of {spec.name}; fields: {', '.join(spec.names)}",
            )


def _refuse_rivals(
    spec: KindSpec, fields: dict[str, str], explicit: set[str], headers: list[str], claimed: set[str], path: str | Path
) -> None:
    """Refuse a file where more than one column means the same field (``金额``, ``amount`` and ``订单金额``; or a
    header repeated, which :func:`~kehu.ingest.sources.dedupe_headers` named ``amount.2``): taking the first and
    keeping the others as attributes would import the wrong amount without a word (issue 23)."""
    for f in spec.fields:
        chosen = fields.get(f.name)
        if chosen is None or chosen in explicit:
            continue
        keys = {normalize_header(a) for a in (f.name, *f.aliases)}
        repeat = re.compile(re.escape(chosen) + r"\.\d+")
        rivals = [
            h
            for h in headers
            if h != chosen and h not in claimed and (normalize_header(h) in keys or repeat.fullmatch(h))
        ]
        if rivals:
            columns = ", ".join(repr(h) for h in headers if h == chosen or h in rivals)
            raise refusal(ImportFileError, "limits.import.duplicate_columns", path, columns=columns, field=f.name)


def plan_columns(
    spec: KindSpec,
    headers: list[str],
    mapping: Mapping | None,
    path: str | Path,
    *,
    require: bool = True,
    refuse_rivals: bool = True,
) -> ColumnPlan:
    """Decide which column of a file feeds each canonical field of ``spec``.

    Parameters
    ----------
    spec
        The import kind.
    headers
        The raw column names in file order (as :attr:`Source.headers` gives them).
    mapping
        An optional mapping whose explicit columns, defaults and derive templates take precedence.
    path
        The data file, for messages.
    require
        Raise when a required field has no column (default); False returns the partial plan (for previews).
    refuse_rivals
        Raise when several columns mean one field and no mapping chose between them (default); False keeps
        the first (for the preview that offers the choice).

    Returns
    -------
    ColumnPlan
        The plan; columns not used by a field are extras (or ignored when the mapping says so).

    Raises
    ------
    MappingError
        The mapping names a field the kind does not have, or a header the file does not have.
    ImportFileError
        A required field has no column, default or template; or several columns mean one field.
    """
    m = mapping or Mapping()
    mpath = m.path or Path("<mapping>")
    if m.kind is not None and m.kind != spec.name:
        raise _fail(mpath, "kind", f"this mapping is for {m.kind}, not {spec.name}")
    _check_fields(spec, m, "defaults", list(m.defaults))
    _check_fields(spec, m, "derive", list(m.derive))
    _check_fields(spec, m, "date_format", [k for k in m.date_format if k != _ALL])
    fields: dict[str, str] = {}
    ignored: list[str] = []
    claimed: set[str] = set()
    for header, target in m.renames.items():
        if header not in headers:
            raise _fail(mpath, "columns", f"header {header!r} is not in {path}; headers found: {headers}")
        if is_ignored(target):
            ignored.append(header)
        else:
            _check_fields(spec, m, "columns", [target])
            fields[target] = header
        claimed.add(header)
    for h in headers:
        if h not in claimed and is_ignored(h) and m.column_names is not None:
            ignored.append(h)
            claimed.add(h)
    # automatic recognition: each field takes the first free header matching its earliest alias
    normalized = {h: normalize_header(h) for h in headers if h not in claimed}
    for f in spec.fields:
        if f.name in fields:
            continue
        for alias in (f.name, *f.aliases):
            key = normalize_header(alias)
            hit = next((h for h, n in normalized.items() if n == key and h not in claimed), None)
            if hit is not None:
                fields[f.name] = hit
                claimed.add(hit)
                break
    if refuse_rivals:
        _refuse_rivals(spec, fields, set(m.renames), headers, claimed, path)
    available = set(headers) | set(fields) | {"row"}
    for fld, template in m.derive.items():
        for name in template_names(template):
            if name not in available:
                raise _fail(mpath, "derive", f"{fld}: {{{name}}} is neither a field nor a column of {path}")
    missing = [n for n in spec.required if n not in fields and n not in m.defaults and n not in m.derive]
    if missing and require:
        f = spec.field(missing[0])
        accepted = ", ".join(dict.fromkeys((f.name, *f.aliases)))
        raise ImportFileError(
            path,
            f"required field '{f.name}' not found: no column named like {accepted}; headers found: "
            f"{', '.join(headers) or '(none)'}. Rename the column or give a mapping file (--mapping).",
        )
    extras = [h for h in headers if h not in claimed]
    return ColumnPlan(
        fields={n: fields[n] for n in spec.names if n in fields},
        defaults={k: v for k, v in m.defaults.items() if k not in fields},
        derived={k: v for k, v in m.derive.items() if k not in fields},
        extras=extras,
        ignored=ignored,
    )
