"""The pilot file's ``[economics]`` table: the figures a pilot's money is computed from.

The model lives with the other tables of the pilot file; the money itself
(value, costs, ROI, payback, NPV) is computed by ``harness.report.economics``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, ValidationError, ValidationInfo, field_validator

__all__ = ["BILLING_SEMANTICS", "EconomicsConfig", "EconomicsError"]

BillingSemantics = Literal["every_attempt", "successful_only", "per_execution"]
BILLING_SEMANTICS: tuple[str, ...] = get_args(BillingSemantics)


class EconomicsError(ValueError):
    """Economics settings that cannot be used; the message is one line for people."""


def _one_line(exc: ValidationError, source: str) -> str:
    """The first problem pydantic found, as ``<source>: <key>: <what is wrong>``."""
    first = exc.errors()[0]
    key = ".".join(str(part) for part in first["loc"])
    if first["type"] == "extra_forbidden":
        known = ", ".join(EconomicsConfig.model_fields)
        return f"{source}: unknown key {key!r} (known: {known})"
    message = str(first["msg"]).removeprefix("Value error, ")
    return f"{source}: {key}: {message}" if key else f"{source}: {message}"


class EconomicsConfig(BaseModel):
    """The pilot file's ``[economics]`` section (``harness.inputs.pilot`` uses this very model).

    Defaults are the §3.1 worked example's labour figures with no platform,
    build or failure costs: override them per pilot. Unknown keys are an error:
    a misspelt price must not be silently ignored.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    volume_per_month: float = 2000.0
    minutes_saved_per_txn: float = 3.0
    loaded_hourly_rate: float = 44.0
    platform_cost_per_call: float = 0.0
    # Which delivery attempts the platform charges for:
    #   every_attempt    each attempt, failed ones too (Step Functions Standard style)
    #   successful_only  only attempts answered 2xx (Zapier / Workato style)
    #   per_execution    once per event executed, however often delivered (n8n style)
    billing_semantics: BillingSemantics = "every_attempt"
    partner_call_price: float = 0.0
    minutes_per_dead_letter: float = 10.0
    cost_per_duplicate: float = 0.0
    fixed_monthly_cost: float = 0.0
    build_cost: float = 0.0
    refactor_cost: float = 0.0
    discount_rate: float = 0.10  # a year; use the company's hurdle rate
    horizon_months: int = 36

    @field_validator("*", mode="before")
    @classmethod
    def _usable(cls, value: Any, info: ValidationInfo) -> Any:
        # Checked before pydantic's coercion so a boolean or "12" is refused, and so the
        # message is the same whether the settings come from a pilot file or from code.
        name = info.field_name
        if name == "billing_semantics":
            if value not in BILLING_SEMANTICS:
                raise ValueError(f"must be one of {', '.join(BILLING_SEMANTICS)}, got {value!r}")
            return value
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError(f"must be a number, got {value!r}")
        if not math.isfinite(value) or value < 0:
            raise ValueError(f"must be a finite number ≥ 0, got {value!r}")
        if name == "horizon_months" and (value < 1 or int(value) != value):
            raise ValueError(f"must be a whole number ≥ 1, got {value!r}")
        return value

    @classmethod
    def of(cls, cfg: Any, source: str = "[economics]") -> EconomicsConfig:
        """From an EconomicsConfig, a mapping or another pydantic model; errors start with
        ``source`` and are one line."""
        if isinstance(cfg, EconomicsConfig):
            return cfg
        if cfg is None:
            return cls()
        if isinstance(cfg, BaseModel):
            cfg = cfg.model_dump()
        if not isinstance(cfg, Mapping):
            raise EconomicsError(
                f"{source}: expected a table of settings, got {type(cfg).__name__}"
            )
        try:
            return cls.model_validate({str(k): v for k, v in cfg.items()})
        except ValidationError as exc:
            raise EconomicsError(_one_line(exc, source)) from None

    def with_volume(self, volume: float) -> EconomicsConfig:
        """The same economics at another monthly volume (validated like any setting)."""
        return EconomicsConfig.of({**self.model_dump(), "volume_per_month": volume})

    @property
    def value_per_txn(self) -> float:
        return self.minutes_saved_per_txn / 60.0 * self.loaded_hourly_rate

    @property
    def dead_letter_cost(self) -> float:
        """Labour to resolve one dead-lettered (or lost) transaction by hand."""
        return self.minutes_per_dead_letter / 60.0 * self.loaded_hourly_rate
