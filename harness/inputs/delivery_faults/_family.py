"""What a delivery fault family is: the parts each family module fills in.

A family is everything about one kind of thing that can happen to a
delivery, in one place: the pilot's table for it (``spec``), what it does to
the delivery plan (``arrange`` and ``step``), how the hunt draws it
(``strategy``) and the sentence that tells it (``tell``). The pilot schema,
``harness.plan.schedule``, ``harness.search.space`` and
``harness.search.story`` only walk the registry.

This package lives in ``harness.inputs`` because the pilot schema needs the
specs and ``inputs`` imports no later stage; so nothing here imports the plan
or the hunt. The hunt's view of its space is the ``HuntSpace`` protocol
below (``search.space.FaultSpace`` has those fields), and Hypothesis is
imported where a strategy runs, so loading a pilot does not pay for it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from random import Random
from typing import TYPE_CHECKING, Any, Protocol

from pydantic import BaseModel, ConfigDict

from harness.inputs.fixtures import CapturedRequest

if TYPE_CHECKING:
    from hypothesis.strategies import DrawFn


class FamilySpec(BaseModel):
    """A family's table under a scenario's ``delivery`` (``delivery.<family name>``)."""

    # As strict as the rest of the pilot file: a misspelt key is an error.
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class Bound(Protocol):
    """A fault bound to one plan position (``delivery.faults``), as a family step sees it."""

    @property
    def delay_s(self) -> float: ...


@dataclass
class Draft:
    """One delivery of the plan before the plan numbers them."""

    event_index: int
    at_s: float
    order: float  # tie-break among equal times, keeps the plan stable
    tags: list[str]
    lost: bool = False
    stale: bool = False


@dataclass
class Slot:
    """One place of the sending order while the families shape it.

    A step may mark the place's first delivery (``marks``, ``lost``,
    ``stale``), add deliveries of the same event (``extra``, ordered after
    the first at equal times by ``order`` = slot + a fraction of its own) or
    give the event up for good (``never``).
    """

    slot: int
    event_index: int
    at_s: float
    tags: list[str]  # every delivery of this place carries them ("reordered")
    marks: list[str] = field(default_factory=list)  # the first delivery only
    lost: bool = False
    stale: bool = False
    never: bool = False
    extra: list[Draft] = field(default_factory=list)

    def also(self, at_s: float, order: float, tag: str) -> None:
        """Another delivery of this place's event, at ``at_s``."""
        self.extra.append(Draft(self.event_index, at_s, self.slot + order, [*self.tags, tag]))

    def drafts(self) -> list[Draft]:
        """The place's first delivery and whatever the families added."""
        first = Draft(
            self.event_index, self.at_s, self.slot, [*self.tags, *self.marks], self.lost, self.stale
        )
        return [first, *self.extra]


class HuntSpace(Protocol):
    """What a family's hunt strategy reads of the hunt's space (``search.space.FaultSpace``)."""

    @property
    def events(self) -> tuple[int, ...]: ...  # captured lines sent, in this order

    @property
    def quirks(self) -> tuple[int, ...]: ...  # captured lines the capture family may let in

    @property
    def delays_s(self) -> tuple[float, ...]: ...  # where a copy or a redelivery may land

    @property
    def related(self) -> tuple[tuple[int, int], ...]: ...  # set positions about one entity

    @property
    def pages(self) -> int: ...  # pages one clean pass over a [poll] source takes; 0: no source

    @property
    def source_timeout_s(self) -> float: ...  # how long the workflow waits for a page

    @property
    def source(self) -> str: ...  # how events reach the workflow: "webhook", "queue", "poll"


@dataclass(frozen=True)
class FamilyFault:
    """A fault of a delivery fault family, as the hunt draws it (the base of each family's)."""

    def place(self) -> int:
        """Where it acts, for listing a schedule's faults in a stable order."""
        raise NotImplementedError

    def exclusive(self) -> str | None:
        """A name a schedule keeps one fault of (its scenario has room for one), or None."""
        return None


@dataclass(frozen=True)
class DeliveryFault(FamilyFault):
    """A fault on one delivery; ``position`` is the place in the hunt's event set.

    ``kind`` is the name of a family drawn as a position fault (``Family.position_fault``).
    """

    kind: str
    position: int
    delay_s: float = 0.0  # duplicate: when the copy follows; drop: when it is redelivered

    def place(self) -> int:
        """The plan applies position faults by position."""
        return self.position


# A family's plan steps, hunt strategy and sentence; see ``Family``.
Arrange = Callable[[list[int], Any, dict[int, Bound], Random], None]
Step = Callable[[Slot, Any, "Bound | None", float], None]
Strategy = Callable[["DrawFn", HuntSpace], Any]
Tell = Callable[[HuntSpace, Any, Sequence[CapturedRequest]], str]
# A fault written as scenario tables of its own (``{"poll": {...}}``), and read back.
Writes = Callable[[HuntSpace, Any], dict[str, Any]]
Reads = Callable[[HuntSpace, Any], list[Any]]


@dataclass(frozen=True)
class Family:
    """One delivery fault family, as its module declares it.

    - ``name``: the family's key in a scenario's ``delivery`` table (for ``spec``)
      and in the registry.
    - ``spec``: the model of ``delivery.<name>``, or None when the family has no table.
    - ``position_fault``: the name ``delivery.faults[].fault`` uses to bind the
      family to one plan position, if it can be.
    - ``arrange(order, spec, bound, rng)``: reorders the sending order in place;
      ``bound`` maps plan positions to this family's bound faults.
    - ``step(slot, spec, bound, draw)``: shapes one place of the plan; ``draw`` is
      the place's number in [0, 1) from the family's random stream: its own,
      seeded by the plan's seed and its name, so a new family changes no
      existing plan; the first families share the plan's stream
      (``shared_draw``), as they did before they were families.
    - ``hunt``: the hunt family (``[hunt] families``) that draws it; ``strategy``
      draws one fault with Hypothesis (None for a position fault: the hunt draws
      those together, see ``position_strategy``); ``fault`` is the type it draws;
      ``available(space)`` says whether the space has room for one.
    - ``tell(space, fault, events)``: one sentence naming the events concerned.
    - ``sending(spec)``: what the family asks of the sender, as keyword
      arguments of ``harness.replay.sender.Sender`` (how old a stale signature is).
    - ``writes(space, fault)``: for a family acting outside the delivery plan (an
      event source's faults), the scenario tables that say the fault; ``reads(space,
      scenario)`` gives such faults back from a scenario.
    """

    name: str
    spec: type[FamilySpec] | None = None
    position_fault: str | None = None
    arrange: Arrange | None = None
    step: Step | None = None
    shared_draw: bool = False
    hunt: str | None = None
    fault: type[FamilyFault] | None = None
    strategy: Strategy | None = None
    available: Callable[[HuntSpace], bool] = lambda space: True
    tell: Tell | None = None
    sending: Callable[[Any], dict[str, Any]] | None = None
    writes: Writes | None = None
    reads: Reads | None = None


def event_label(event: CapturedRequest) -> str:
    """An event as the story names it: id, then what it says about which entity."""
    return f"{event.event_id} ({event.event_type} for {event.entity_id} v{event.entity_version})"


def label_at(space: HuntSpace, position: int, events: Sequence[CapturedRequest]) -> str:
    """The label of the event at ``position`` of the hunt's set."""
    return event_label(events[space.events[position]])


def sent(space: HuntSpace) -> str:
    """How one sending of an event is said for the pilot's source: a story about a
    queue consumer must not speak of webhook deliveries the lab never made."""
    return "published" if space.source == "queue" else "delivered"


def when(delay_s: float) -> str:
    """Where a copy or a redelivery lands, in words."""
    if delay_s == 0:
        return "right after the original"
    if delay_s <= 0.5:
        return "after the other events"
    return f"{delay_s:g} s later, after the other events"


def position_strategy(kinds: Sequence[str]) -> Strategy:
    """The hunt's draw of a position fault: which kind, at which event, landing when."""

    def draw_one(draw: DrawFn, space: HuntSpace) -> DeliveryFault:
        from hypothesis import strategies as st  # a pilot load must not pay for Hypothesis

        kind = draw(st.sampled_from(tuple(kinds)))
        position = draw(st.integers(0, len(space.events) - 1))
        return DeliveryFault(kind, position, draw(st.sampled_from(space.delays_s)))

    return draw_one
