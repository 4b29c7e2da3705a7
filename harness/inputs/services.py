"""``[services.NAME]``: the workflow's own dependencies (its database, its cache).

One model per service kind, chosen by ``kind``; ``harness.services`` holds
what each kind does (start, URL, clean). The models live here because the
pilot schema needs them and ``harness.inputs`` imports no later stage.

    [services.db]
    kind = "postgres"            # embedded: a throwaway cluster per drill
    # url = "postgresql://user:pw@host:5432/postgres"   # or a running server

A service is reached only through a link of the same name, so scenario
toxics name it like any other link, and the workflow is handed the proxied
address with ``{services.NAME.url}``.
"""

from __future__ import annotations

from typing import Annotated, Literal, get_args
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator

from harness.inputs.bounds import PositiveSeconds


class _ServiceBase(BaseModel):
    # A misspelt key must be an error, not a silently ignored setting.
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    # How long it may take to be ready (an embedded cluster: initdb and start).
    startup_timeout_s: PositiveSeconds = 30.0


def _url_of(schemes: tuple[str, ...], value: str | None) -> str | None:
    if value is None:
        return None
    parts = urlsplit(value)
    if parts.scheme not in schemes:
        raise ValueError(f"must start with {' or '.join(s + '://' for s in schemes)}")
    if not parts.hostname:
        raise ValueError("names no host")
    try:
        parts.port  # noqa: B018 - read for its check: a port that is not a number
    except ValueError:
        raise ValueError("has a port that is not a number") from None
    return value


class PostgresSpec(_ServiceBase):
    """PostgreSQL: embedded (the system's binaries, a fresh cluster) or a running server."""

    kind: Literal["postgres"]
    # A running server; each drill gets a database of its own there. None: embedded.
    url: str | None = None
    # Where the binaries are; None: pg_config --bindir, /usr/lib/postgresql/*/bin, PATH.
    bin_dir: str | None = None

    @field_validator("url")
    @classmethod
    def _postgres_url(cls, value: str | None) -> str | None:
        return _url_of(("postgresql", "postgres"), value)


class RedisSpec(_ServiceBase):
    """Redis: embedded (``redis-server`` on PATH, a fresh one per drill) or a running server."""

    kind: Literal["redis"]
    # A running server; the drill empties its database number. None: embedded.
    url: str | None = None
    # The program to run when embedded; None: redis-server on PATH.
    server: str | None = None

    @field_validator("url")
    @classmethod
    def _redis_url(cls, value: str | None) -> str | None:
        return _url_of(("redis",), value)


ServiceSpec = Annotated[PostgresSpec | RedisSpec, Field(discriminator="kind")]
# The values `kind` may take, from the models themselves.
SERVICE_KINDS: tuple[str, ...] = tuple(
    str(get_args(model.model_fields["kind"].annotation)[0]) for model in (PostgresSpec, RedisSpec)
)


def where_from(url: str | None) -> str:
    """Where a service came from, for run.json: "embedded", or the server's host and port.

    Never the user or password a URL may carry.
    """
    if url is None:
        return "embedded"
    parts = urlsplit(url)
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{parts.hostname}{port}"
