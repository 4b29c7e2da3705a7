"""``{name}`` placeholders in a workflow's declared environment.

The pilot names the workflow's variables its own way (``LISTEN_PORT =
"{port}"``); the drill fills in the values of each run. ``{{`` and ``}}`` stand
for literal braces, so a JSON value can still be passed.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

_TOKEN = re.compile(r"\{\{|\}\}|\{([^{}]*)\}")
_NAME = re.compile(
    r"^(port|secret|state_dir|run_dir|links\.[A-Za-z0-9_-]+\.(url|timeout_s)"
    r"|services\.[A-Za-z0-9_-]+\.url)$"
)


def names_in(text: str) -> list[str]:
    """The placeholders a value uses; ValueError for one that is not allowed."""
    found = []
    for match in _TOKEN.finditer(text):
        name = match.group(1)
        if name is None:
            continue
        if not _NAME.match(name):
            raise ValueError(
                f"unknown placeholder {{{name}}} (known: {{port}}, {{secret}}, {{state_dir}}, "
                "{run_dir}, {links.NAME.url}, {links.NAME.timeout_s}, {services.NAME.url})"
            )
        found.append(name)
    return found


def check(env: Mapping[str, str], links: Iterable[str], services: Iterable[str] = ()) -> None:
    """Every placeholder is known and every link (or service) it names exists."""
    known = set(links)
    # A service is reached through a link of its own name.
    services_known = set(services)
    known |= services_known
    for variable, value in env.items():
        try:
            for name in names_in(value):
                if name.startswith("links.") and name.split(".")[1] not in known:
                    raise ValueError(
                        f"{{{name}}} names no link (links: {', '.join(sorted(known))})"
                    )
                if name.startswith("services.") and name.split(".")[1] not in services_known:
                    shown = ", ".join(sorted(services_known)) or "none"
                    raise ValueError(f"{{{name}}} names no service (services: {shown})")
        except ValueError as exc:
            raise ValueError(f"{variable}: {exc}") from None


def fill(text: str, values: Mapping[str, str]) -> str:
    def one(match: re.Match[str]) -> str:
        token = match.group(0)
        if token in ("{{", "}}"):
            return token[0]
        name = match.group(1)
        if name not in values:
            raise KeyError(f"no value for placeholder {{{name}}} in this run")
        return values[name]

    return _TOKEN.sub(one, text)
