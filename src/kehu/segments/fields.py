"""The fields user rules may use: the published customer profile as of a day, with a kind per field.

A field has a kind (``int``, ``float``, ``date`` or ``string``) that the rule language checks values against.
The profile is what the pipeline publishes per customer and as of a day (:data:`kehu.store.published.
FEATURE_COLUMNS`, without the timestamp twins of the date columns), a few customer attributes from the
store (``region``, ``city``, ``industry``, ``acquisition_channel``, ``owner_id``) and the model scores exactly as
published and shown on the customer page (:data:`SCORE_FIELDS`): ``clv_12m``, ``p_alive``, ``churn_risk`` (purchase
churn), ``renewal_risk`` (contract non-renewal), ``winback`` and ``winback_value``. A score the models did not
publish for a customer is missing (NULL) for that customer: no other quantity stands in for it. The built-in
schemes add the values they derive (RFM scores, stages, tiers) in :mod:`kehu.segments.config`.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Literal

from kehu.store.published import FEATURE_COLUMNS

__all__ = [
    "CUSTOMER_ATTRIBUTES",
    "PROFILE_FIELDS",
    "SCORE_FIELDS",
    "FieldCatalog",
    "FieldKind",
]

FieldKind = Literal["int", "float", "date", "string"]

_KINDS: dict[str, FieldKind] = {"int64": "int", "float64": "float", "date": "date", "string": "string"}

#: customer attributes from the store's ``customers`` table
CUSTOMER_ATTRIBUTES: dict[str, FieldKind] = {
    "region": "string",
    "city": "string",
    "industry": "string",
    "acquisition_channel": "string",
    "owner_id": "int",
}

#: model outputs read from the published ``scores`` JSON under the same names (NULL where not published)
SCORE_FIELDS: dict[str, FieldKind] = {
    "clv_12m": "float",
    "p_alive": "float",
    "churn_risk": "float",
    "renewal_risk": "float",
    "winback": "float",
    "winback_value": "float",
}


@dataclass(frozen=True)
class FieldCatalog:
    """Named, typed fields a rule may refer to.

    Parameters
    ----------
    fields
        Field name -> kind.
    name
        What the catalog is (used in error messages), e.g. ``"customer profile"``.
    """

    fields: Mapping[str, FieldKind]
    name: str = "customer profile"

    def __contains__(self, field: object) -> bool:
        return field in self.fields

    def __iter__(self) -> Iterator[str]:
        return iter(self.fields)

    def kind(self, field: str) -> FieldKind:
        """The kind of ``field`` (KeyError when unknown)."""
        return self.fields[field]

    def extended(self, extra: Mapping[str, FieldKind], name: str) -> FieldCatalog:
        """This catalog plus ``extra`` fields."""
        return FieldCatalog({**self.fields, **extra}, name)


PROFILE_FIELDS = FieldCatalog(
    {
        **{name: _KINDS[kind] for name, kind in FEATURE_COLUMNS.items() if kind in _KINDS},
        **CUSTOMER_ATTRIBUTES,
        **SCORE_FIELDS,
    }
)
