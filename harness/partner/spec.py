"""The declaration of a simulated partner: routes, idempotency, baseline faults, imports.

Every model is strict (unknown keys are errors) and frozen. The server reads
the flattened form (`ResolvedPartner`, written by `resolve_partner`); pilots
write `PartnerDecl`, which may also name WireMock mappings, an OpenAPI
document and annotations that add effects to imported routes.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from . import templating
from .faults import FaultConfigError, parse_faults
from .selectors import parse_selector


class PartnerSpecError(ValueError):
    """A declaration that cannot be used; the message is one line naming the file and key."""


METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "ANY"})
TYPE_NAMES = frozenset({"string", "integer", "number", "object", "array", "boolean", "null"})
WHEN_OPERATORS = frozenset({"equal", "contains", "matches", "absent", "present"})
NamedFault = Literal[
    "", "EMPTY_RESPONSE", "CONNECTION_RESET_BY_PEER", "RANDOM_DATA_THEN_CLOSE",
    "MALFORMED_RESPONSE_CHUNK",
]  # fmt: skip
_PARAM = re.compile(r"\{([^{}/]+)\}")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _selector(value: str) -> str:
    parse_selector(value)  # raises ValueError with the reason
    return value


def type_alternatives(spec: str) -> tuple[str, ...]:
    """The type names of `"integer | string"`; raises ValueError naming an unknown one."""
    names = tuple(part.strip() for part in spec.split("|"))
    unknown = [n for n in names if n not in TYPE_NAMES]
    if unknown:
        raise ValueError(f"unknown type {unknown[0]!r} (expected {' | '.join(sorted(TYPE_NAMES))})")
    return names


def condition(expected: Any) -> tuple[str, Any]:
    """A `when` value: a literal means equal; `{op = operand}` names one operator."""
    if isinstance(expected, dict) and len(expected) == 1:
        ((operator, operand),) = expected.items()
        if operator in WHEN_OPERATORS:
            return operator, operand
    return "equal", expected


def _check_when(when: dict[str, Any]) -> dict[str, Any]:
    for selector, expected in when.items():
        _selector(selector)
        operator, operand = condition(expected)
        if operator == "matches":
            try:
                re.compile(str(operand))
            except re.error as exc:
                raise ValueError(f"{selector}: matches: bad regex: {exc}") from None
    return when


class _RouteEffect(_Strict):
    """The route fields an annotation may also set."""

    effect: str = ""  # business effect it causes; "" = none (a read)
    entity: str = ""  # entity namespace; default: effect before the first "."
    key: str = ""  # selector of the entity key
    version: str = ""  # selector of the entity version
    required: tuple[str, ...] = ()
    types: dict[str, str] = Field(default_factory=dict)
    needs_entity: bool = False
    # A request selector naming an id this partner must have handed out in `id_space`
    # (`path.ticketId`); any other id is answered 404, as the real partner would.
    known_id: str = ""

    @field_validator("key", "version", "known_id")
    @classmethod
    def _optional_selector(cls, value: str) -> str:
        return _selector(value) if value else value

    @field_validator("required")
    @classmethod
    def _selectors(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for item in value:
            _selector(item)
        return value

    @field_validator("types")
    @classmethod
    def _types(cls, value: dict[str, str]) -> dict[str, str]:
        for selector, spec in value.items():
            _selector(selector)
            type_alternatives(spec)
        return value


class RouteSpec(_RouteEffect):
    """One route: what matches it, what it answers, and the effect it records."""

    name: str = ""  # WireMock name/id, OpenAPI operationId, or your own
    aliases: tuple[str, ...] = ()  # more names annotations may use (a WireMock id)
    method: str = "GET"
    path: str = ""  # template: /v1/contacts/{id}
    path_regex: str = ""  # regex on the path (WireMock urlPathPattern)
    url_regex: str = ""  # regex on path?query (WireMock urlPattern)
    when: dict[str, Any] = Field(default_factory=dict)
    status: int = Field(200, ge=100, le=599)
    headers: dict[str, str] = Field(default_factory=dict)
    body: Any = None  # JSON answer, a template unless template = false
    body_text: str | None = None  # verbatim answer text (WireMock "body")
    template: bool = True
    delay_ms: int = Field(0, ge=0)
    fault: NamedFault = ""
    # JSON Schema (self-contained, `$schema` names its dialect) every JSON request body must meet.
    body_schema: dict[str, Any] | None = None
    # Where the answer body carries the id this call hands out (`id`, `ticket.id`):
    # a fresh one per answer, remembered in `id_space` for `known_id` routes.
    answer_id: str = ""
    id_space: str = ""  # which ids: a create and the routes that take its ids share one

    @field_validator("answer_id")
    @classmethod
    def _answer_path(cls, value: str) -> str:
        return _selector(value) if value else value

    @field_validator("body_schema")
    @classmethod
    def _body_schema(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        if value is not None:
            from .body_schema import check_schema  # jsonschema only where a schema is given

            check_schema(value)
        return value

    @model_validator(mode="before")
    @classmethod
    def _entity_from_effect(cls, data: Any) -> Any:
        if isinstance(data, dict) and not data.get("entity") and data.get("effect"):
            data = {**data, "entity": str(data["effect"]).split(".", 1)[0]}
        return data

    @field_validator("method")
    @classmethod
    def _method(cls, value: str) -> str:
        upper = value.upper()
        if upper not in METHODS:
            raise ValueError(
                f"unknown method {value!r} (expected one of {', '.join(sorted(METHODS))})"
            )
        return upper

    @field_validator("when")
    @classmethod
    def _when(cls, value: dict[str, Any]) -> dict[str, Any]:
        return _check_when(value)

    @model_validator(mode="after")
    def _consistent(self) -> RouteSpec:
        given = [n for n in ("path", "path_regex", "url_regex") if getattr(self, n)]
        if len(given) != 1:
            raise ValueError("give exactly one of path, path_regex, url_regex")
        if self.path and not self.path.startswith("/"):
            raise ValueError(f"path must start with '/', got {self.path!r}")
        for pattern in (self.path_regex, self.url_regex):
            if pattern:
                try:
                    re.compile(pattern)
                except re.error as exc:
                    raise ValueError(f"bad regex {pattern!r}: {exc}") from None
        if self.effect and not (self.key or self.known_id):
            raise ValueError("key is required when effect is set")
        if (self.answer_id or self.known_id) and not self.id_space:
            raise ValueError("id_space is required with answer_id or known_id")
        if (self.key or self.needs_entity) and not self.entity:
            raise ValueError("entity is required (or an effect to take it from)")
        if self.needs_entity and not self.key:
            raise ValueError("key is required when needs_entity is true")
        if self.body is not None and self.body_text is not None:
            raise ValueError("give body or body_text, not both")
        if self.template:
            templating.check(self.body)
        return self

    def label(self) -> str:
        """How journals and annotations name the route."""
        return self.name or f"{self.method} {self.path or self.path_regex or self.url_regex}"

    def path_params(self) -> list[str]:
        """The `{name}` parameters of the path template, in order."""
        return _PARAM.findall(self.path)


class Annotation(_Strict):
    """Partial route fields laid over imported routes; None keeps the route's own."""

    effect: str | None = None
    entity: str | None = None
    key: str | None = None
    version: str | None = None
    required: tuple[str, ...] | None = None
    types: dict[str, str] | None = None
    needs_entity: bool | None = None
    known_id: str | None = None

    @model_validator(mode="after")
    def _valid_fields(self) -> Annotation:
        given = self.model_dump(exclude_none=True)
        _RouteEffect.model_validate(given)  # same rules as on a route
        return self


class IdempotencySpec(_Strict):
    """Which header carries the idempotency key, and how long the partner keeps keys."""

    header: str = "Idempotency-Key"  # "" : the partner has no idempotency keys
    ttl_s: float | None = Field(None, gt=0)  # forget keys after this long


def _faults(value: dict[str, Any]) -> dict[str, Any]:
    try:
        parse_faults(value)
    except FaultConfigError as exc:
        raise ValueError(str(exc)) from None
    return value


class PartnerDecl(_Strict):
    """A partner as the pilot file declares it: inline routes,
    imported WireMock or OpenAPI ones, annotations over them, and faults."""

    file: str | None = None  # a TOML/JSON PartnerDecl to start from (inline keys override)
    idempotency: IdempotencySpec = Field(default_factory=IdempotencySpec)
    faults: dict[str, Any] = Field(default_factory=dict)
    routes: tuple[RouteSpec, ...] = ()
    wiremock: str | None = None  # folder of mappings, or one mapping file
    openapi: str | None = None  # OpenAPI 3 document, JSON or YAML
    annotate: dict[str, Annotation] = Field(default_factory=dict)

    @field_validator("faults")
    @classmethod
    def _faults_valid(cls, value: dict[str, Any]) -> dict[str, Any]:
        return _faults(value)


class ResolvedPartner(_Strict):
    """What the server process reads: everything flattened into routes."""

    name: str = "partner"
    idempotency: IdempotencySpec = Field(default_factory=IdempotencySpec)
    faults: dict[str, Any] = Field(default_factory=dict)
    routes: tuple[RouteSpec, ...] = ()

    @field_validator("faults")
    @classmethod
    def _faults_valid(cls, value: dict[str, Any]) -> dict[str, Any]:
        return _faults(value)


def where(loc: tuple[int | str, ...]) -> str:
    """`('routes', 0, 'status')` → `routes[0].status`."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def describe(exc: ValidationError) -> str:
    """The first problem of a validation error, as `key: message` on one line."""
    first = exc.errors()[0]
    loc = tuple(p for p in first["loc"] if not str(p).startswith("function-"))
    message = str(first["msg"]).removeprefix("Value error, ").splitlines()[0]
    if first["type"] == "missing":
        message = "required"
    elif first["type"] == "extra_forbidden":
        message = "unknown key"
    key = where(loc)
    return f"{key}: {message}" if key else message
