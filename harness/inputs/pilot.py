"""Pilot files: what is under test, how it is reached, what it must promise.

A pilot file is TOML a product manager can read. It is validated on load,
and every problem is reported as one line naming the file and the key path,
e.g. ``pilots/order-sync.toml: [scenarios.burst] delivery.rate: must be
greater than 0, got -3``.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    ValidationError,
    create_model,
    field_validator,
    model_serializer,
    model_validator,
)

from harness.inputs import delivery_faults, notebooks, placeholders
from harness.inputs.bounds import (
    MAX_TIME_SCALE,
    Fraction,
    Moment,
    PositiveSeconds,
    Rate,
    Seconds,
    ToxicAttribute,
)
from harness.inputs.economics import EconomicsConfig
from harness.inputs.expectations import ExpectationRule, qualify
from harness.inputs.fixtures import FixtureError, load_fixtures
from harness.inputs.history import HistorySpec
from harness.inputs.hunt import FAMILIES, unknown_family
from harness.inputs.poll import PollFaults, PollSpec
from harness.inputs.queue import QueueSpec
from harness.inputs.services import SERVICE_KINDS, ServiceSpec
from harness.inputs.thresholds import ThresholdsSpec
from harness.inputs.tree import pilot_tree
from harness.partner.confined import FileRefused, read_bytes
from harness.partner.faults import FaultConfigError, parse_faults
from harness.partner.resolve import resolve_partner
from harness.partner.spec import PartnerDecl, PartnerSpecError
from harness.places import check_name
from harness.proxy.toxics import TOXIC_TYPES


class PilotError(ValueError):
    """A pilot file that cannot be used; the message is one line for people."""


class _Strict(BaseModel):
    # A misspelt key must be an error, not a silently ignored setting.
    # NaN or infinity in any number is refused; bounds.py gives the ranges.
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class OutcomesSpec(_Strict):
    """Where the workflow reports each event's terminal outcome, and in which words."""

    http: str | None = None  # a path on the workflow answering a JSON list (or {"<list>": [...]})
    file: str | None = None  # a JSONL file the workflow writes; placeholders allowed
    list_key: str | None = None  # for an HTTP answer that wraps its list in an object
    fields: dict[Literal["event_id", "outcome", "detail"], str] = Field(default_factory=dict)
    values: dict[str, str] = Field(default_factory=dict)  # the workflow's word → ours

    @model_validator(mode="after")
    def _one_source(self) -> OutcomesSpec:
        if (self.http is None) == (self.file is None):
            raise ValueError("give exactly one of http (a path) or file")
        ours = {"processed", "dead_lettered", "superseded", "duplicate"}
        for theirs, mine in self.values.items():
            if mine not in ours:
                raise ValueError(
                    f"values.{theirs}: {mine!r} is not one of {', '.join(sorted(ours))}"
                )
        return self


class WorkflowSpec(_Strict):
    command: list[str] | None = None  # "python" as first word means this interpreter
    cwd: str = "."  # relative to the pilot file
    # Folders (or files) holding the workflow's code, relative to the pilot file:
    # each run records their version, and a review judges the version there now.
    source: list[str] = Field(default_factory=list)  # none: cwd (when started by command)
    url: str | None = None  # a workflow that is already running
    ready_path: str = "/healthz"
    # {"pending": N} while it works; "" settles by quiescence instead.
    status_path: str = ""
    # Quiescence: no partner request for this long (with a status endpoint too: both
    # must say done). None: derived from the waits declared below and the partners'.
    quiet_s: PositiveSeconds | None = None
    # The workflow's own retry waits (its backoff), in seconds: settling waits past them.
    retry_schedule_s: list[Seconds] = Field(default_factory=list, max_length=100)
    outcomes: OutcomesSpec | None = None
    startup_timeout_s: PositiveSeconds = 15.0
    settle_timeout_s: PositiveSeconds = 20.0
    # Values may use {port}, {secret}, {state_dir}, {run_dir}, {links.NAME.url},
    # {services.NAME.url}.
    env: dict[str, str] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _command_or_url(self) -> WorkflowSpec:
        if (self.command is None) == (self.url is None):
            raise ValueError("give exactly one of command (to start it) or url (already running)")
        if self.command is not None and not self.command:
            raise ValueError("command must not be empty")
        return self


class WebhookSpec(_Strict):
    fixtures: str  # relative to the pilot file
    path: str = "/webhooks/payments"
    secret_env: str = "CHAOSLAB_WEBHOOK_SECRET"
    timeout_s: PositiveSeconds = 5.0  # the provider's response window
    # Provider redelivery after a failed attempt, time-compressed (seconds after the failure).
    retry_schedule_s: list[Seconds] = Field(
        default_factory=lambda: [0.2, 0.5, 1.0, 2.0, 4.0], max_length=100
    )


def _partner_faults(faults: dict[str, Any]) -> dict[str, Any]:
    try:
        parse_faults(faults)
    except FaultConfigError as exc:
        raise ValueError(f"partner {exc}") from None
    return faults


class LinkSpec(_Strict):
    # A declared partner's name, "workflow" (the webhook path itself), or
    # "queue" (the workflow's connection to the [queue] broker), or "source" (its
    # connection to the [poll] source API).
    to: str
    env: str | None = None  # shorthand for [workflow.env] <env> = "{links.<name>.url}"
    # How long the caller on this link waits for an answer (the workflow's own
    # setting, declared so the hunt can aim past it; pass it on with {links.NAME.timeout_s}).
    timeout_s: PositiveSeconds | None = None


class SloSpec(_Strict):
    p95_latency_ms: float = Field(2000.0, gt=0)
    success_rate: float = Field(0.99, gt=0, le=1)


class Burst(_Strict):
    """``delivery.burst``: ``size`` deliveries at once, then a pause of ``pause_s``."""

    size: int = Field(ge=1)
    pause_s: Seconds


# The names a bound fault may take: one per family that can be bound to a position.
if TYPE_CHECKING:
    BoundFaultName = str
else:
    BoundFaultName = Literal[tuple(delivery_faults.position_faults())]


class PositionFault(_Strict):
    """A fault bound to one delivery position, as the hunt writes them."""

    position: int = Field(ge=0)
    fault: BoundFaultName
    delay_s: Seconds = 0.05  # for duplicate: when the copy follows; for drop: redelivery


class _DeliveryTable(_Strict):
    """A scenario's ``delivery``: pace and selection here, one key per fault family beside."""

    rate: Rate | None = None  # deliveries per second; None = as fast as allowed
    # Replay with the captured spacing multiplied by this factor (0.01 = 100x faster).
    time_scale: float | None = Field(None, gt=0, le=MAX_TIME_SCALE)
    concurrency: int = Field(4, ge=1, le=256)
    burst: Burst | None = None
    faults: list[PositionFault] = Field(default_factory=list)
    # Which captured events to send, as 0-based lines of the fixtures file in
    # sending order (default: all of them, as captured). The hunt uses it to
    # leave out captured quirks a scenario is not about.
    events: list[Annotated[int, Field(ge=0)]] | None = Field(None, min_length=1)
    # Which shipped events to send: all by default, or the first N (of `events`, if given).
    limit: int | None = Field(None, ge=1)

    if TYPE_CHECKING:
        # Each family's table (``delivery.duplicate`` ...), added by ``_delivery_model``.
        def __getattr__(self, name: str) -> Any: ...

    def family(self, name: str) -> delivery_faults.FamilySpec | None:
        """The scenario's table for fault family ``name``, if it has one."""
        found: delivery_faults.FamilySpec | None = getattr(self, name, None)
        return found

    @model_validator(mode="after")
    def _one_pace(self) -> _DeliveryTable:
        if self.rate is not None and self.time_scale is not None:
            raise ValueError("use either rate or time_scale, not both")
        positions = [f.position for f in self.faults]
        repeated = sorted({p for p in positions if positions.count(p) > 1})
        if repeated:
            raise ValueError(f"faults: one fault per position, position {repeated[0]} has more")
        return self


def _delivery_model() -> type[_DeliveryTable]:
    """``delivery`` with one optional key per fault family's table, from the registry."""
    tables: dict[str, Any] = {
        name: (spec | None, None) for name, spec in delivery_faults.specs().items()
    }
    return create_model("DeliverySpec", __base__=_DeliveryTable, __module__=__name__, **tables)


if TYPE_CHECKING:
    # Type checkers cannot follow create_model; the generated class adds only the tables.
    DeliverySpec = _DeliveryTable
else:
    DeliverySpec = _delivery_model()


class ToxicWindow(_Strict):
    link: str
    type: str
    stream: Literal["upstream", "downstream"] = "downstream"
    toxicity: Fraction = 1.0
    attributes: dict[str, ToxicAttribute] = Field(default_factory=dict)
    # Active from/until seconds into the run, or while deliveries with these
    # positions (0-based, inclusive) are in flight. Positions make a schedule
    # independent of wall-clock time, which the hunt relies on.
    from_s: Moment | None = None
    until_s: Moment | None = None
    from_delivery: int | None = Field(None, ge=0)
    until_delivery: int | None = Field(None, ge=0)

    @model_validator(mode="after")
    def _known_toxic(self) -> ToxicWindow:
        # Checked here, not mid-drill: a typo must not cost a started workflow.
        toxic = TOXIC_TYPES.get(self.type)
        if toxic is None:
            raise ValueError(f"type: unknown toxic {self.type!r} (known: {', '.join(TOXIC_TYPES)})")
        unknown = sorted(set(self.attributes) - set(toxic.fields))
        if unknown:
            known = ", ".join(toxic.fields) or "none"
            raise ValueError(f"attributes.{unknown[0]}: not an attribute of {self.type} ({known})")
        problem = toxic.check({**dict.fromkeys(toxic.fields, 0), **self.attributes})
        if problem:
            raise ValueError(f"attributes: {problem}")
        return self

    @model_validator(mode="after")
    def _one_clock(self) -> ToxicWindow:
        by_time = self.from_s is not None or self.until_s is not None
        by_position = self.from_delivery is not None or self.until_delivery is not None
        if by_time and by_position:
            raise ValueError("use either from_s/until_s or from_delivery/until_delivery, not both")
        if self.from_s is not None and self.until_s is not None and self.until_s <= self.from_s:
            raise ValueError(f"until_s ({self.until_s}) must be after from_s ({self.from_s})")
        if (
            self.from_delivery is not None
            and self.until_delivery is not None
            and self.until_delivery < self.from_delivery
        ):
            raise ValueError("until_delivery must not be before from_delivery")
        return self


class Restart(_Strict):
    """The workflow process killed (SIGKILL) and started again, its state folder kept."""

    # Right after the delivery at this plan position (0-based, as toxics and
    # faults count) has been answered, before the next one goes out; or at a
    # time since the replay began.
    after_delivery: int | None = Field(None, ge=0)
    at_s: Moment | None = None

    @model_validator(mode="after")
    def _one_moment(self) -> Restart:
        if (self.after_delivery is None) == (self.at_s is None):
            raise ValueError("give exactly one of after_delivery or at_s")
        return self


class WorkflowFaults(_Strict):
    """What a scenario does to the workflow process itself (a nemesis)."""

    restarts: list[Restart] = Field(default_factory=list)


class ScenarioSpec(_Strict):
    description: str = ""
    seed: int = 1
    delivery: DeliverySpec = Field(default_factory=DeliverySpec)
    toxics: list[ToxicWindow] = Field(default_factory=list)
    workflow: WorkflowFaults = Field(default_factory=WorkflowFaults)
    partner: dict[str, Any] = Field(default_factory=dict)  # faults of the pilot's only partner
    partners: dict[str, dict[str, Any]] = Field(default_factory=dict)  # faults per partner
    poll: PollFaults = Field(default_factory=PollFaults)  # what goes wrong while a [poll] pages
    # What the workflow is expected to survive; drills of a scenario marked
    # expect = "violation" pass in CI when an invariant breaks (known-bad demos).
    expect: Literal["pass", "violation"] = "pass"

    @model_serializer(mode="wrap")
    def _without_default_poll(self, handler: SerializerFunctionWrapHandler) -> Any:
        # A scenario without page faults dumps as before poll existed: saved
        # scenarios and the recorded plans' digests do not move.
        data = handler(self)
        if isinstance(data, dict) and self.poll == PollFaults():
            data.pop("poll", None)
        return data

    @model_validator(mode="after")
    def _partner_valid(self) -> ScenarioSpec:
        _partner_faults(self.partner)
        for faults in self.partners.values():
            _partner_faults(faults)
        return self


# [economics] is declared once, in its own module; harness.report.economics computes the money.
EconomicsSpec = EconomicsConfig


class PolitenessSpec(_Strict):
    """How the workflow must treat its partners (retry_after_honoured, call_budget)."""

    # Partner calls per effect the run calls for; a retry storm goes past it
    # (harness.checks.politeness.DEFAULT_MAX_CALLS_PER_EFFECT says why 10).
    max_calls_per_effect: float = Field(10.0, gt=0)
    # Slack for clocks when judging "no call before the time the partner asked for".
    grace_ms: float = Field(100.0, ge=0)
    # Whose calls a wait applies to: the operation that was told to wait (its
    # event, else its idempotency key), or every call to that partner.
    scope: Literal["operation", "partner"] = "operation"


class ChecksSpec(_Strict):
    """How findings that are not broken promises count."""

    # An event dead-lettered although its effect landed (an unknown outcome):
    # "report" shows it; "fail" also fails final_state and the finding itself.
    dead_lettered_applied: Literal["report", "fail"] = "report"


# Figures a baseline holds, with the tolerance each gets when the pilot's
# [baseline] table does not set one: (relative to the old value, absolute in the
# figure's unit). A figure regresses when it rises by more than the larger of
# the two. Latency is noisy on a small shared machine, so it gets room; counts
# of dead letters are exact.
BASELINE_FIGURES: dict[str, tuple[float, float]] = {
    "retries_per_txn": (0.5, 0.1),
    "partner_calls_per_txn": (0.25, 0.1),
    "p95_latency_ms": (1.0, 1000.0),
    "dead_letters": (0.0, 0.0),
}


class Tolerance(_Strict):
    relative: float | None = Field(None, ge=0)  # fraction of the baseline value, 0.25 = 25 %
    absolute: float | None = Field(None, ge=0)  # in the figure's own unit


class BaselineSpec(_Strict):
    # Relative to the pilot file; default: <pilot file name>.baseline.json beside it.
    file: str | None = None
    retries_per_txn: Tolerance = Field(default_factory=Tolerance)
    partner_calls_per_txn: Tolerance = Field(default_factory=Tolerance)
    p95_latency_ms: Tolerance = Field(default_factory=Tolerance)
    dead_letters: Tolerance = Field(default_factory=Tolerance)

    def tolerance(self, figure: str) -> tuple[float, float]:
        """(relative, absolute) for a figure; a part left out keeps its default."""
        relative, absolute = BASELINE_FIGURES[figure]
        given: Tolerance = getattr(self, figure)
        return (
            relative if given.relative is None else given.relative,
            absolute if given.absolute is None else given.absolute,
        )


class ReviewSpec(_Strict):
    # What `chaoslab review` runs, in order, all with the same parameters:
    # ours by name, the team's own by path (relative to the pilot file).
    notebooks: list[str] = Field(default_factory=lambda: list(notebooks.DEFAULT), min_length=1)


class HuntSpec(_Strict):
    # The fault families `chaoslab hunt` draws from unless --faults says otherwise:
    # a team leaves out what its design accepts (restarts of a workflow that
    # keeps its outcomes in memory, say).
    families: list[str] = Field(default_factory=lambda: list(FAMILIES), min_length=1)

    @field_validator("families")
    @classmethod
    def _known_families(cls, value: list[str]) -> list[str]:
        problem = unknown_family(value)
        if problem:
            raise ValueError(problem)
        return value


# Names become parts of paths under the reports folder: one rule (harness.places).
SafeName = Annotated[str, AfterValidator(check_name)]


class PilotSpec(_Strict):
    name: SafeName
    description: str = ""
    # The default of every scenario that does not set its own expect.
    expect: Literal["pass", "violation"] = "pass"
    workflow: WorkflowSpec
    webhook: WebhookSpec
    # Events published to a broker the workflow consumes, instead of webhook deliveries.
    queue: QueueSpec | None = None
    # Records the workflow pulls from a paged source API the lab serves.
    poll: PollSpec | None = None
    partners: dict[SafeName, PartnerDecl] = Field(default_factory=dict)
    links: dict[str, LinkSpec] = Field(default_factory=dict)
    # The workflow's own dependencies (harness.inputs.services), each behind a link of its name.
    services: dict[SafeName, ServiceSpec] = Field(default_factory=dict)
    expectations: list[ExpectationRule] = Field(default_factory=list)
    slo: SloSpec = Field(default_factory=SloSpec)
    economics: EconomicsSpec = Field(default_factory=EconomicsSpec)
    thresholds: ThresholdsSpec = Field(default_factory=ThresholdsSpec)
    baseline: BaselineSpec = Field(default_factory=BaselineSpec)
    politeness: PolitenessSpec = Field(default_factory=PolitenessSpec)
    checks: ChecksSpec = Field(default_factory=ChecksSpec)
    # How to read the pilot's production export (`chaoslab history import`).
    history: HistorySpec | None = None
    review: ReviewSpec = Field(default_factory=ReviewSpec)
    hunt: HuntSpec = Field(default_factory=HuntSpec)
    scenarios: dict[SafeName, ScenarioSpec] = Field(min_length=1)

    @model_validator(mode="before")
    @classmethod
    def _expect_default(cls, data: Any) -> Any:
        # A scenario's own expect wins; the others take the pilot's. An invalid
        # pilot-level value is left to the field check, which names it once.
        if not isinstance(data, dict) or data.get("expect") not in ("pass", "violation"):
            return data
        scenarios = data.get("scenarios")
        if not isinstance(scenarios, dict):
            return data
        filled = {
            name: {"expect": data["expect"], **body} if isinstance(body, dict) else body
            for name, body in scenarios.items()
        }
        return {**data, "scenarios": filled}

    @model_validator(mode="before")
    @classmethod
    def _one_source(cls, data: Any) -> Any:
        # A queue pilot has no [webhook]: its capture stands where the webhook's
        # would, so everything that reads the captured events reads one place.
        if not isinstance(data, dict):
            return data
        tables = [t for t in ("queue", "poll") if isinstance(data.get(t), dict)]
        if not tables:
            return data
        if len(tables) > 1:
            raise ValueError("give one source of events: [queue] or [poll], not both")
        if "webhook" in data:
            raise ValueError(f"give one source of events: [webhook] or [{tables[0]}], not both")
        fixtures = data[tables[0]].get("fixtures")
        return {**data, "webhook": {"fixtures": fixtures}} if isinstance(fixtures, str) else data

    @model_validator(mode="after")
    def _links_exist(self) -> PilotSpec:
        for name, scenario in self.scenarios.items():
            for toxic in scenario.toxics:
                if toxic.link not in self.links and toxic.link not in self.services:
                    known = ", ".join(sorted({*self.links, *self.services})) or "none"
                    raise ValueError(
                        f"scenario {name!r} uses link {toxic.link!r}, which is not defined "
                        f"(links: {known})"
                    )
        return self

    def _rule_fits(self, rule: ExpectationRule) -> None:
        """A rule's scenarios exist, and it asks nothing the pilot's source cannot give."""
        unknown = [name for name in rule.scenarios if name not in self.scenarios]
        if unknown:
            known = ", ".join(sorted(self.scenarios)) or "none"
            raise ValueError(f"scenarios: no scenario {unknown[0]!r} (scenarios: {known})")
        # A queue consumer answers the broker, not the lab: there is no status to
        # refuse with, and its way of saying no is the DLQ.
        if rule.refuse and self.queue is not None:
            raise ValueError(
                "refuse: a queue consumer gives no answer to refuse a message with; "
                "declare dead_letter = true (the message must end in the DLQ)"
            )

    @model_validator(mode="after")
    def _names_resolve(self) -> PilotSpec:
        partners = sorted(self.partners)
        for name in sorted(set(self.services) & set(self.links)):
            raise ValueError(
                f"[services.{name}] is also [links.{name}]: a service is reached by a link "
                "of its own name, so the two share one namespace; rename one"
            )
        for name, link in self.links.items():
            if link.to == "queue" and self.queue is None:
                raise ValueError(f"[links.{name}] to: 'queue', but the pilot declares no [queue]")
            if link.to == "source" and self.poll is None:
                raise ValueError(f"[links.{name}] to: 'source', but the pilot declares no [poll]")
            if link.to not in ("workflow", "queue", "source") and link.to not in self.partners:
                raise ValueError(
                    f"[links.{name}] to: {link.to!r} is neither 'workflow' nor a declared partner "
                    f"(partners: {', '.join(partners) or 'none'})"
                )
        for index, rule in enumerate(self.expectations):
            try:
                qualify(rule.effect, partners)
                self._rule_fits(rule)
            except ValueError as exc:
                raise ValueError(f"[[expectations]] #{index + 1} {exc}") from None
        for name, scenario in self.scenarios.items():
            if scenario.partner and len(partners) != 1:
                raise ValueError(
                    f"[scenarios.{name}] partner: the pilot has {len(partners)} partners; "
                    "use partners.<name> = {...}"
                )
            unknown = sorted(set(scenario.partners) - set(partners))
            if unknown:
                raise ValueError(f"[scenarios.{name}] partners.{unknown[0]}: no such partner")
            if scenario.workflow.restarts and self.workflow.command is None:
                raise ValueError(
                    f"[scenarios.{name}] workflow.restarts: the workflow is reached by url, "
                    "so the drill cannot restart it (give [workflow] command)"
                )
        outcomes = self.workflow.outcomes
        for prefix, values in (
            ("[workflow.env] ", self.workflow.env),
            ("[workflow] outcomes.", {"file": outcomes.file} if outcomes and outcomes.file else {}),
        ):
            try:
                placeholders.check(values, self.links, self.services)
            except ValueError as exc:
                raise ValueError(f"{prefix}{exc}") from None
        return self

    def partner_faults(self, scenario: ScenarioSpec) -> dict[str, dict[str, Any]]:
        """Each partner's faults for a scenario: its baseline, then the scenario's on top."""
        out = {}
        for name, decl in self.partners.items():
            merged = dict(decl.faults)
            merged.update(scenario.partner if len(self.partners) == 1 else {})
            merged.update(scenario.partners.get(name, {}))
            out[name] = merged
        return out


class Pilot(BaseModel):
    """A validated pilot file plus where it came from."""

    model_config = ConfigDict(frozen=True)

    path: Path
    spec: PilotSpec
    # Each partner's declaration with imports resolved: what its simulator serves.
    partners: dict[str, dict[str, Any]] = Field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.spec.name

    def resolve(self, relative: str) -> Path:
        return (self.path.parent / relative).resolve()

    def workflow_source(self) -> list[Path]:
        """Where the workflow's code is: ``[workflow] source``, else its cwd if we start it."""
        workflow = self.spec.workflow
        if workflow.source:
            return [self.resolve(s) for s in workflow.source]
        return [self.resolve(workflow.cwd)] if workflow.command is not None else []

    def scenario(self, name: str) -> ScenarioSpec:
        try:
            return self.spec.scenarios[name]
        except KeyError:
            known = ", ".join(self.spec.scenarios)
            raise PilotError(f"{self.path}: no scenario {name!r} (scenarios: {known})") from None


def _key_path(loc: tuple[int | str, ...]) -> str:
    """Turn pydantic's location into the TOML way of naming a key."""
    parts = [str(p) for p in loc]
    if len(parts) == 3 and parts[2] == "[key]":  # the name of a [scenarios.*] or [partners.*]
        return f"[{parts[0]}] name"
    if len(parts) >= 2 and parts[0] in {"scenarios", "links", "partners", "services"}:
        head = f"[{parts[0]}.{parts[1]}]"
        rest = parts[2:]
        if parts[0] == "services" and rest and rest[0] in SERVICE_KINDS:
            rest = rest[1:]  # the kind's model, which the pilot names with `kind`
    elif parts and parts[0] in {
        "workflow",
        "webhook",
        "queue",
        "poll",
        "partner",
        "slo",
        "economics",
        "thresholds",
        "baseline",
        "review",
        "history",
        "politeness",
        "checks",
        "hunt",
    }:
        head = f"[{parts[0]}]"
        rest = parts[1:]
    elif len(parts) >= 2 and parts[0] == "expectations":
        head = (
            f"[[expectations]] #{int(parts[1]) + 1}" if parts[1].isdigit() else "[[expectations]]"
        )
        rest = parts[2:]
    elif parts in (["expect"], ["name"]):
        head, rest = "[pilot]", parts
    else:
        head, rest = "", parts
    dotted = ""
    for part in rest:
        dotted += f"[{part}]" if part.isdigit() else (f".{part}" if dotted else part)
    return " ".join(p for p in (head, dotted) if p)


def _describe(error: Any) -> str:
    kind = error["type"]
    if kind == "extra_forbidden":
        return "unknown key (misspelt?)"
    if kind == "missing":
        return "required key is missing"
    if kind == "union_tag_not_found":  # a [services.NAME] without kind
        return f"kind: required key is missing (kinds: {', '.join(SERVICE_KINDS)})"
    if kind == "union_tag_invalid":
        return f"kind: {error['ctx']['tag']!r} is not a known kind ({', '.join(SERVICE_KINDS)})"
    message = str(error["msg"]).removeprefix("Value error, ")
    if "input" in error and kind not in {"value_error", "model_type"}:
        shown = error["input"]
        if isinstance(shown, str):
            shown = f'"{shown}"'
        message += f", got {shown}"
    return message


def format_validation_error(path: Path | str, exc: ValidationError) -> str:
    first = exc.errors()[0]
    where = _key_path(tuple(first["loc"]))
    extra = len(exc.errors()) - 1
    more = f" (and {extra} more problem{'s' if extra > 1 else ''})" if extra else ""
    prefix = f"{path}: {where}: " if where else f"{path}: "
    return f"{prefix}{_describe(first)}{more}"


def parse_pilot(data: dict[str, Any], path: Path) -> Pilot:
    # [pilot] holds the name and description; the rest sits at the top level.
    body = dict(data)
    header = body.pop("pilot", None)
    if isinstance(header, dict):
        body = {**header, **body}
    try:
        spec = PilotSpec.model_validate(body)
    except ValidationError as exc:
        raise PilotError(format_validation_error(path, exc)) from None
    return Pilot(path=path.resolve(), spec=spec)


def _merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _read_toml(path: Path, seen: tuple[Path, ...] = (), root: Path | None = None) -> dict[str, Any]:
    """A pilot file's table, its ``extends`` chain merged in, every base inside ``root``."""
    try:
        raw = read_bytes(path, root)
    except FileRefused as exc:
        raise PilotError(f"{path}: {exc}") from None
    except OSError as exc:
        raise PilotError(f"{path}: cannot read pilot file ({exc.strerror})") from None
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise PilotError(f"{path}: not UTF-8 text") from None
    except tomllib.TOMLDecodeError as exc:
        raise PilotError(f"{path}: invalid TOML: {exc}") from None
    parent = data.pop("extends", None)
    if parent is None:
        return data
    if not isinstance(parent, str):
        raise PilotError(f"{path}: extends: must be the path of another pilot file")
    base_path = (path.parent / parent).resolve()
    if base_path in seen:
        raise PilotError(f"{path}: extends: {parent} extends this file again (a cycle)")
    root = pilot_tree(path) if root is None else root
    if not base_path.is_relative_to(root):
        raise PilotError(f"{path}: extends: {parent} is outside the pilot's tree {root}")
    base = _read_toml(base_path, (*seen, path.resolve()), root)
    if base_path.parent != path.resolve().parent:
        # The base's relative paths are relative to the base file: pin them there.
        base = _rebased(base, base_path.parent)
    return _merge(base, data)


def _rebased(data: dict[str, Any], folder: Path) -> dict[str, Any]:
    """A pilot's file and folder settings made absolute, as seen from ``folder``."""

    def pin(value: Any) -> Any:
        return str((folder / value).resolve()) if isinstance(value, str) else value

    out = dict(data)
    workflow = dict(out.get("workflow") or {})
    workflow["cwd"] = pin(workflow.get("cwd", "."))
    if isinstance(workflow.get("source"), list):
        workflow["source"] = [pin(v) for v in workflow["source"]]
    out["workflow"] = workflow
    if isinstance(out.get("webhook"), dict) and "fixtures" in out["webhook"]:
        out["webhook"] = {**out["webhook"], "fixtures": pin(out["webhook"]["fixtures"])}
    if isinstance(out.get("queue"), dict) and "fixtures" in out["queue"]:
        out["queue"] = {**out["queue"], "fixtures": pin(out["queue"]["fixtures"])}
    if isinstance(out.get("poll"), dict) and "fixtures" in out["poll"]:
        out["poll"] = {**out["poll"], "fixtures": pin(out["poll"]["fixtures"])}
    if isinstance(out.get("baseline"), dict) and "file" in out["baseline"]:
        out["baseline"] = {**out["baseline"], "file": pin(out["baseline"]["file"])}
    files = {"file", "wiremock", "openapi"}
    partners = out.get("partners")
    if isinstance(partners, dict):
        out["partners"] = {
            name: {k: pin(v) if k in files else v for k, v in decl.items()}
            if isinstance(decl, dict)
            else decl
            for name, decl in partners.items()
        }
    return out


def load_pilot(path: str | Path, *, require_fixtures: bool = True) -> Pilot:
    """Read and validate a pilot file. ``extends = "other.toml"`` starts from another one.

    Everything a drill would trip over later fails here, before anything
    starts. ``require_fixtures=False`` skips the fixtures file, for when it is
    what is being made (a HAR import keyed by this pilot).
    """
    path = Path(path)
    data = _read_toml(path)
    pilot = parse_pilot(data, path)
    cwd = pilot.resolve(pilot.spec.workflow.cwd)
    if not cwd.is_dir():
        raise PilotError(f"{path}: [workflow] cwd: no such folder {cwd}")
    for index, source in enumerate(pilot.spec.workflow.source):
        if not pilot.resolve(source).exists():
            raise PilotError(
                f"{path}: [workflow] source #{index + 1}: no such file or folder {source!r}"
            )
    if require_fixtures:
        fixtures = pilot.resolve(pilot.spec.webhook.fixtures)
        table = "[queue]" if pilot.spec.queue else "[poll]" if pilot.spec.poll else "[webhook]"
        if not fixtures.is_file():
            raise PilotError(f"{path}: {table} fixtures: no such file {fixtures}")
        try:
            # Read anyway by every drill; an empty or broken file must not cost a started run.
            load_fixtures(fixtures)
        except FixtureError as exc:
            raise PilotError(f"{path}: {table} fixtures: {exc}") from None
    try:
        notebooks.resolve(pilot.spec.review.notebooks, pilot.path.parent)
    except notebooks.NotebookError as exc:
        raise PilotError(f"{path}: [review] notebooks: {exc}") from None
    partners = _resolve_partners(pilot, Path(path))
    _check_effects_exist(pilot, partners, Path(path))
    return pilot.model_copy(update={"partners": partners})


def _resolve_partners(pilot: Pilot, shown: Path) -> dict[str, dict[str, Any]]:
    resolved = {}
    for name, decl in pilot.spec.partners.items():
        try:
            resolved[name] = resolve_partner(
                name, decl, pilot.path.parent, root=pilot_tree(pilot.path)
            )
        except PartnerSpecError as exc:
            raise PilotError(f"{shown}: {exc}") from None
    return resolved


def _check_effects_exist(pilot: Pilot, partners: dict[str, dict[str, Any]], shown: Path) -> None:
    """An expectation naming an effect no route causes could never be met: say so now."""
    names = sorted(partners)
    for index, rule in enumerate(pilot.spec.expectations):
        partner, effect = qualify(rule.effect, names)
        if not effect:
            continue
        effects = sorted({str(r.get("effect") or "") for r in partners[partner].get("routes", [])})
        effects = [e for e in effects if e]
        if effect not in effects:
            raise PilotError(
                f"{shown}: [[expectations]] #{index + 1} effect: partner {partner!r} has no "
                f"route causing {effect!r} (effects: {', '.join(effects) or 'none'})"
            )


def load_scenario_file(path: str | Path, pilot: Pilot) -> dict[str, ScenarioSpec]:
    """Scenarios kept outside a pilot file (a hunt's counterexample), checked against it."""
    path = Path(path)
    data = _read_toml(path)
    unknown = sorted(set(data) - {"scenarios"})
    if unknown:
        raise PilotError(f"{path}: {unknown[0]}: unknown key (a scenario file holds [scenarios.*])")
    raw = data.get("scenarios")
    if not isinstance(raw, dict) or not raw:
        raise PilotError(f"{path}: no [scenarios.<name>] table")
    merged = pilot.spec.model_dump(mode="python")
    if merged.get("queue") is not None or merged.get("poll") is not None:
        # A queue or poll pilot's [webhook] is the one its source stood in for:
        # given back to the model it would read as a second source of events.
        merged.pop("webhook", None)
    # Checked beside the pilot's own scenarios, which its [[expectations]] may name.
    merged["scenarios"] = {**(merged.get("scenarios") or {}), **raw}
    try:
        spec = PilotSpec.model_validate(merged)
    except ValidationError as exc:
        raise PilotError(format_validation_error(path, exc)) from None
    return {name: spec.scenarios[name] for name in raw}
