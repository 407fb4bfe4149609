"""The built-in schemes' configuration: defaults in ``segments/defaults/*.yaml``, overridable per workspace.

:func:`load_config` reads the defaults, merges an override mapping on top (``KEHU_HOME/segments.yaml``
has the same layout; only the keys given change), validates everything and builds the :class:`Scheme` of
each built-in scheme. Every problem is a :class:`~kehu.errors.ValidationError` naming the key.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from kehu import user_yaml
from kehu.errors import ValidationError
from kehu.segments.fields import PROFILE_FIELDS, FieldCatalog
from kehu.segments.labels import segment_keys
from kehu.segments.scheme import Scheme, parse_segments

__all__ = [
    "BUILTIN_SCHEMES",
    "CROSS_FIELDS",
    "LIFECYCLE_FIELDS",
    "RFM_FIELDS",
    "VALUE_FIELDS",
    "RfmScoring",
    "SegmentConfig",
    "ValueTiering",
    "load_config",
]

_DEFAULTS = Path(__file__).with_name("defaults")

#: the built-in schemes, in the order they are computed and listed
BUILTIN_SCHEMES = ("rfm_cn", "rfm_en", "lifecycle", "value", "cross")

RFM_FIELDS = FieldCatalog(
    {"r_score": "int", "f_score": "int", "m_score": "int", "fm_score": "float", "r_high": "int",
     "f_high": "int", "m_high": "int"},
    "RFM score",
)  # fmt: skip
LIFECYCLE_FIELDS = PROFILE_FIELDS.extended({"days_since_contract_end": "int"}, "lifecycle")
VALUE_FIELDS = FieldCatalog({"value_share_before": "float"}, "value tier")
CROSS_FIELDS = PROFILE_FIELDS.extended(
    {"value_tier": "string", "lifecycle": "string", "potential_pct": "float"}, "cross segment"
)
_MONETARY = {"total": "total_revenue_cents", "mean": "mean_order_value_cents"}
_VALUE_BASIS = {"revenue": "total_revenue_cents", "margin": "total_margin_cents"}


@dataclass(frozen=True)
class RfmScoring:
    """How R, F and M scores (1..5) are computed.

    Attributes
    ----------
    method
        ``"quantile"`` (tie-aware mid-rank percentiles) or ``"cuts"`` (fixed cut points).
    recency_field, frequency_field, monetary_field
        Profile fields scored as R (lower is better), F and M.
    cuts
        ``recency``/``frequency``/``monetary`` -> four ascending cut points (used with ``"cuts"``).
    split
        ``"mean"`` or ``"median"``: what a score is compared with for high/low in the Chinese scheme.
    """

    method: str
    recency_field: str
    frequency_field: str
    monetary_field: str
    cuts: Mapping[str, tuple[float, ...]]
    split: str


@dataclass(frozen=True)
class ValueTiering:
    """ABC tiers: value field, tier shares and the Pareto statistic's top share."""

    basis_field: str
    a_share: float
    b_share: float
    pareto_top: float


@dataclass(frozen=True)
class SegmentConfig:
    """Everything the built-in schemes need; build it with :func:`load_config`."""

    scoring: RfmScoring
    value: ValueTiering
    schemes: Mapping[str, Scheme]
    raw: Mapping[str, Any]


@cache
def _defaults() -> dict[str, Any]:
    data: dict[str, Any] = {}
    for name in ("rfm", "lifecycle", "value", "cross"):
        data.update(yaml.safe_load((_DEFAULTS / f"{name}.yaml").read_text(encoding="utf-8")))
    return data


def _merge(base: Mapping[str, Any], over: Mapping[str, Any], where: str) -> dict[str, Any]:
    out = dict(base)
    for key, value in over.items():
        if key not in base:
            raise ValidationError(f"{where}{key}: unknown setting; known: {', '.join(map(str, base))}")
        if isinstance(base[key], Mapping) and isinstance(value, Mapping):
            out[key] = _merge(base[key], value, f"{where}{key}.")  # unknown keys at any depth are typos
        else:
            out[key] = value
    return out


def _choice(value: Any, choices: Mapping[str, str] | tuple[str, ...], where: str) -> str:
    if not isinstance(value, str) or value not in choices:
        raise ValidationError(f"{where}: expected one of {', '.join(choices)}, got {value!r}")
    return value


def _number(value: Any, where: str, low: float | None = None, high: float | None = None) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValidationError(f"{where}: expected a number, got {value!r}")
    if (low is not None and value < low) or (high is not None and value > high):
        raise ValidationError(f"{where}: {value!r} is outside [{low}, {high}]")
    return float(value)


def _cuts(value: Any, where: str) -> tuple[float, ...]:
    if not isinstance(value, list) or len(value) != 4:
        raise ValidationError(f"{where}: expected four ascending cut points, got {value!r}")
    cuts = tuple(_number(v, f"{where}[{i}]") for i, v in enumerate(value))
    if any(b <= a for a, b in itertools.pairwise(cuts)):
        raise ValidationError(f"{where}: cut points must be strictly ascending, got {list(value)}")
    return cuts


def _thresholds(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, Mapping):
        raise ValidationError(f"{where}: expected a mapping of threshold name -> number")
    for key, v in value.items():
        _number(v, f"{where}.{key}")
    return dict(value)


def load_config(overrides: Mapping[str, Any] | None = None) -> SegmentConfig:
    """The built-in schemes' configuration: the defaults with ``overrides`` merged on top.

    Parameters
    ----------
    overrides
        A mapping with the layout of the defaults YAML (e.g. ``{"lifecycle": {"thresholds": {"lost_days":
        540}}}``); lists (rules, cut points) replace the default list as a whole.

    Raises
    ------
    ValidationError
        Naming the setting (``lifecycle.thresholds.lost_days``) and the problem.
    """
    raw = _merge(_defaults(), overrides or {}, "") if overrides else dict(_defaults())
    s = raw["scoring"]
    scoring = RfmScoring(
        method=_choice(s["method"], ("quantile", "cuts"), "scoring.method"),
        recency_field=_profile_number(s["recency_field"], "scoring.recency_field"),
        frequency_field=_profile_number(s["frequency_field"], "scoring.frequency_field"),
        monetary_field=_MONETARY[_choice(s["monetary"], _MONETARY, "scoring.monetary")],
        cuts={k: _cuts(s["cuts"][k], f"scoring.cuts.{k}") for k in ("recency", "frequency", "monetary")},
        split=_choice(raw["rfm_cn"]["split"], ("mean", "median"), "rfm_cn.split"),
    )
    v = raw["value"]
    a_share = _number(v["a_share"], "value.a_share", 0.0, 1.0)
    b_share = _number(v["b_share"], "value.b_share", 0.0, 1.0)
    if b_share < a_share:
        raise ValidationError(f"value.b_share ({b_share}) must not be below value.a_share ({a_share})")
    tiering = ValueTiering(
        basis_field=_VALUE_BASIS[_choice(v["basis"], _VALUE_BASIS, "value.basis")],
        a_share=a_share,
        b_share=b_share,
        pareto_top=_number(v["pareto_top"], "value.pareto_top", 0.0, 1.0),
    )
    scoring_data = {**s, "monetary_field": scoring.monetary_field}
    rfm_inputs = ("recency", "frequency_value", "monetary", "r_score", "f_score", "m_score")
    rfm_catalog = RFM_FIELDS
    schemes: dict[str, Scheme] = {}
    schemes["rfm_cn"] = Scheme(
        "rfm_cn", "rfm_cn",
        parse_segments(raw["rfm_cn"]["segments"], catalog=rfm_catalog, params={}, where="rfm_cn.segments",
                       known_keys=segment_keys("rfm_cn")),
        inputs=rfm_inputs, config={"scoring": scoring_data, "split": scoring.split},
    )  # fmt: skip
    schemes["rfm_en"] = Scheme(
        "rfm_en", "rfm_en",
        parse_segments(raw["rfm_en"]["segments"], catalog=rfm_catalog, params={}, where="rfm_en.segments",
                       known_keys=segment_keys("rfm_en")),
        inputs=(*rfm_inputs, "fm_score"), config={"scoring": scoring_data},
    )  # fmt: skip
    schemes["rfm_cn"].check_covers({"r_high": (0, 1), "f_high": (0, 1), "m_high": (0, 1)})
    halves = [1 + i / 2 for i in range(9)]
    schemes["rfm_en"].check_covers({"r_score": range(1, 6), "fm_score": halves})
    life = raw["lifecycle"]
    life_params = _thresholds(life["thresholds"], "lifecycle.thresholds")
    schemes["lifecycle"] = Scheme(
        "lifecycle", "lifecycle",
        parse_segments(life["stages"], catalog=LIFECYCLE_FIELDS, params=life_params, where="lifecycle.stages",
                       known_keys=segment_keys("lifecycle")),
        config={"thresholds": life_params},
    )  # fmt: skip
    value_params = {"a_share": a_share, "b_share": b_share}
    schemes["value"] = Scheme(
        "value", "value",
        parse_segments(v["tiers"], catalog=VALUE_FIELDS, params=value_params, where="value.tiers",
                       known_keys=segment_keys("value")),
        inputs=(tiering.basis_field,), config={k: v[k] for k in ("basis", "a_share", "b_share", "pareto_top")},
    )  # fmt: skip
    cross = raw["cross"]
    cross_params = {**_thresholds(cross["thresholds"], "cross.thresholds")}
    for key in ("active", "inactive"):
        stages = cross[key]
        if not isinstance(stages, list) or not all(x in segment_keys("lifecycle") for x in stages):
            raise ValidationError(f"cross.{key}: expected a list of lifecycle stages, got {stages!r}")
        cross_params[key] = stages
    schemes["cross"] = Scheme(
        "cross", "cross",
        parse_segments(cross["segments"], catalog=CROSS_FIELDS, params=cross_params, where="cross.segments",
                       known_keys=segment_keys("cross")),
        inputs=("value_tier", "lifecycle", "potential_pct"), config={"thresholds": cross_params},
    )  # fmt: skip
    return SegmentConfig(scoring=scoring, value=tiering, schemes=schemes, raw=raw)


def _profile_number(value: Any, where: str) -> str:
    if not isinstance(value, str) or value not in PROFILE_FIELDS or PROFILE_FIELDS.kind(value) not in ("int", "float"):
        raise ValidationError(f"{where}: expected a numeric customer profile field, got {value!r}")
    return value


def read_overrides(path: Path) -> dict[str, Any] | None:
    """The overrides in ``path`` (``KEHU_HOME/segments.yaml``), or ``None`` when there is no such file."""
    if not path.exists():
        return None
    try:
        data = user_yaml.load(path.read_text(encoding="utf-8"), limits=user_yaml.FILE_LIMITS, where=str(path))
    except yaml.YAMLError as exc:
        raise ValidationError(f"{path}: not valid YAML ({exc})") from exc
    if data is None:
        return None
    if not isinstance(data, Mapping):
        raise ValidationError(f"{path}: expected a mapping at the top level")
    return dict(data)
