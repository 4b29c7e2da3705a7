"""What every service kind declares, and what a started service hands the drill.

The workflow reaches a service only through the link of its name (workflow
→ [link NAME] → service), so toxics reach it; the lab's own cleaning between
schedules goes straight to the service, so no toxic stands in its way.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.runtime.processes import ServiceError, first_error_line


def log_text(log: Path) -> str:
    """A service's log so far ("" before it wrote one)."""
    return log.read_text(errors="replace") if log.exists() else ""


def cause_in(log: Path) -> str:
    """Why a service did not start, in one quoted line: its log's first error line, or
    its last line, and where the whole log is."""
    text = log_text(log)
    line = first_error_line(text) or " ".join((text.strip().splitlines() or [""])[-1].split())
    return f"{line[:200]!r} (log: {log})"


class ServiceStartError(ServiceError):
    """A declared service could not be had; the message names its pilot key, in one line."""


@dataclass
class Running:
    """A service ready for the workflow: where it listens and how to hand it out."""

    name: str
    kind: str
    address: str  # host:port it really listens on: the upstream of its link
    source: str  # "embedded", or scheme://host:port of the server it came from
    start_s: float  # from asking for it to ready
    # The workflow's URL with "{address}" where the link's listen address goes.
    # It may carry a password: never logged, never in run.json.
    template: str = field(repr=False)
    # The URL the lab itself uses (cleaning), straight to the service.
    direct: str = field(repr=False)

    def url(self, address: str) -> str:
        """The URL the workflow gets: the service reached through ``address`` (its link)."""
        return self.template.replace("{address}", address)

    def as_meta(self) -> dict[str, Any]:
        """What run.json records: kind, where it came from, start time. No URL, no password."""
        return {"kind": self.kind, "source": self.source, "start_s": round(self.start_s, 3)}


@dataclass(frozen=True)
class Kind:
    """One kind of service: its pilot table, how to start it, how to clean it."""

    name: str  # the value of `kind` in [services.NAME]
    spec: type[Any]  # its table's model (harness.inputs.services)
    # (service name, its table, a folder for its files and log) → a running service,
    # stopped and removed on the way out.
    start: Callable[[str, Any, Path], AbstractAsyncContextManager[Running]]
    # Empty it for the next schedule on a standing stage.
    clean: Callable[[Running], Awaitable[None]]
    # The URL shape the workflow gets, for the docs ("{address}": the link).
    url_template: str
