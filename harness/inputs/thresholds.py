"""The pilot file's ``[thresholds]`` table: the lines the verdict rule judges against.

``Thresholds`` holds the rule's defaults and checks a set of them;
``ThresholdsSpec`` is the table's model, generated from it, so the pilot
loader refuses a bad threshold before anything runs. The rule itself is
``harness.report.verdict``.
"""

from __future__ import annotations

import math
from collections.abc import ItemsView, Mapping
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Any, get_type_hints

from pydantic import BaseModel, ConfigDict, create_model, model_validator

__all__ = ["Thresholds", "ThresholdsSpec", "VerdictError"]


class VerdictError(ValueError):
    """Thresholds or inputs that cannot be used; one line for people."""


@dataclass(frozen=True)
class Thresholds:
    min_txns: int = 1000
    slo_target: float = 0.99
    slo_floor: float = 0.95
    max_chaos_burn: float = 6.0  # SRE Workbook: 5 % of a 30-day budget in 6 h
    dlq_promote: float = 0.001
    dlq_retire: float = 0.01
    dup_promote: float = 0.0
    dup_retire_rate: float = 0.001
    roi_min: float = 0.30
    payback_promote_m: float = 12.0
    payback_retire_m: float = 24.0
    z: float = 1.645  # one-sided 95 %

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise VerdictError(f"thresholds.{f.name}: must be a number, got {value!r}")
            if math.isnan(value):
                raise VerdictError(f"thresholds.{f.name}: must be a number, got NaN")
        if self.min_txns < 0 or self.min_txns != int(self.min_txns):
            raise VerdictError(f"thresholds.min_txns: must be a whole number, got {self.min_txns}")
        # TOML tables of floats give 1000.0; counts read better as 1,000.
        object.__setattr__(self, "min_txns", int(self.min_txns))
        for name in ("slo_target", "slo_floor", "dlq_promote", "dlq_retire", "dup_promote"):
            if not 0 <= getattr(self, name) <= 1:
                raise VerdictError(f"thresholds.{name}: must be between 0 and 1")
        if self.slo_floor > self.slo_target:
            raise VerdictError("thresholds.slo_floor: must not be above slo_target")
        if self.payback_retire_m < self.payback_promote_m:
            raise VerdictError("thresholds.payback_retire_m: must not be below payback_promote_m")

    @classmethod
    def of(cls, overrides: Any = None, source: str = "[thresholds]") -> Thresholds:
        """Defaults with the pilot's overrides applied; an unknown name is an error."""
        if overrides is None:
            return cls()
        if isinstance(overrides, Thresholds):
            return overrides
        if isinstance(overrides, _ThresholdsTable):
            overrides = overrides.overrides()
        if not isinstance(overrides, Mapping):
            raise VerdictError(f"{source}: expected a table, got {type(overrides).__name__}")
        known = {f.name for f in fields(cls)}
        for key in overrides:
            if key not in known:
                raise VerdictError(
                    f"{source}: unknown threshold {key!r} (known: {', '.join(sorted(known))})"
                )
        try:
            return cls(**{str(k): v for k, v in overrides.items()})
        except VerdictError as exc:
            raise VerdictError(f"{source}: {exc}".replace(": thresholds.", ": ")) from None

    def as_dict(self) -> dict[str, float]:
        """Every threshold by name, overrides and defaults alike."""
        return {f.name: getattr(self, f.name) for f in fields(self)}


class _ThresholdsTable(BaseModel):
    """What ``ThresholdsSpec`` can do; its fields are generated from ``Thresholds``."""

    # Strict: a TOML string or boolean where a number belongs is a typo, not a value.
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    @model_validator(mode="after")
    def _rule_accepts(self) -> _ThresholdsTable:
        # Ranges and cross-field rules live in Thresholds; run them at load time.
        given: dict[str, Any] = self.overrides()
        try:
            Thresholds(**given)
        except VerdictError as exc:
            raise ValueError(str(exc).removeprefix("thresholds.")) from None
        return self

    def overrides(self) -> dict[str, float]:
        """The thresholds the pilot file set, in the rule's order."""
        given = self.model_fields_set
        return {name: getattr(self, name) for name in type(self).model_fields if name in given}

    def items(self) -> ItemsView[str, float]:
        # The table used to be a plain dict of overrides; code that iterates it keeps working.
        return self.overrides().items()

    def thresholds(self) -> Thresholds:
        """The rule's thresholds: the defaults with this table's overrides."""
        return Thresholds.of(self.overrides())


def _table_from_rule() -> type[_ThresholdsTable]:
    """The pilot file's ``[thresholds]`` model, one field per field of ``Thresholds``.

    Generated rather than written out so names, types and defaults have one definition.
    """
    hints = get_type_hints(Thresholds)
    spec: dict[str, Any] = {f.name: (hints[f.name], f.default) for f in fields(Thresholds)}
    return create_model("ThresholdsSpec", __base__=_ThresholdsTable, __module__=__name__, **spec)


if TYPE_CHECKING:
    # Type checkers cannot follow create_model; the generated class has exactly this interface.
    ThresholdsSpec = _ThresholdsTable
else:
    ThresholdsSpec = _table_from_rule()
