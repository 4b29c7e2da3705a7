"""Starting what a drill runs against: the workflow's services, declared partners,
link proxies, the workflow.

Each is an async context manager, so an AsyncExitStack stops them in reverse
order whatever ends the drill.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.drill.collect import ledger_file, requests_file
from harness.inputs import placeholders
from harness.inputs.pilot import Pilot, PilotError
from harness.places import inside
from harness.runtime.faultproxy import FaultProxy
from harness.runtime.processes import Service, existing_service, run_service
from harness.services import Running, ServiceStartError, kind_of

PROXY_PREFIX = "chaoslab-"


@dataclass(frozen=True)
class Links:
    """The drill's links: for each,
    the proxy at the fault proxy and the URL the workflow is given."""

    proxies: dict[str, str]  # link name → proxy name at the fault proxy
    urls: dict[str, str]  # link name → http://listen address

    def as_meta(self) -> dict[str, dict[str, str]]:
        """The links as run.json records them."""
        return {n: {"proxy": self.proxies[n], "url": self.urls[n]} for n in self.proxies}


@contextlib.asynccontextmanager
async def partner_process(pilot: Pilot, name: str, run_dir: Path) -> AsyncIterator[Service]:
    """One declared partner as a simulator process serving exactly its declaration."""
    spec_file = inside(run_dir, f"partner-{name}.json")
    spec_file.write_text(json.dumps(pilot.partners[name], indent=1), encoding="utf-8")
    command = [
        sys.executable, "-m", "harness.partner",
        "--spec", str(spec_file),
        "--name", name,
        "--port", "0",  # it picks and announces its port: no race for one
        "--ledger", str(ledger_file(run_dir, name)),
        "--requests", str(requests_file(run_dir, name)),
    ]  # fmt: skip
    async with run_service(
        f"partner {name}",
        command,
        url=None,
        ready_path="/_sim/health",
        env={},
        cwd=Path.cwd(),
        log_path=inside(run_dir, f"partner-{name}.log"),
        startup_timeout_s=15.0,
    ) as service:
        yield service


async def open_links(
    pilot: Pilot,
    run_id: str,
    proxy: FaultProxy,
    upstreams: Mapping[str, str],
    into: Links | None = None,
) -> Links:
    """Proxies for the links whose target is in ``upstreams`` (partner names, "workflow")."""
    proxies: dict[str, str] = dict(into.proxies) if into else {}
    urls: dict[str, str] = dict(into.urls) if into else {}
    for link_name, link in pilot.spec.links.items():
        if link.to not in upstreams:
            continue
        upstream = upstreams[link.to]
        name = f"{PROXY_PREFIX}{run_id}.{link_name}"
        # The workflow is given the link in its upstream's own scheme (http://, nats://).
        scheme, _, address = upstream.rpartition("://")
        listen = await proxy.create_proxy(name, address)
        proxies[link_name] = name
        urls[link_name] = f"{scheme or 'http'}://{listen}"
    return Links(proxies, urls)


async def start_services(
    pilot: Pilot, run_dir: Path, stack: contextlib.AsyncExitStack
) -> dict[str, Running]:
    """Each ``[services.NAME]`` started (or its server reached), stopped by ``stack``;
    one that cannot be had is a PilotError naming its key."""
    running: dict[str, Running] = {}
    for name, spec in pilot.spec.services.items():
        try:
            running[name] = await stack.enter_async_context(
                kind_of(spec).start(name, spec, run_dir)
            )
        except ServiceStartError as exc:
            raise PilotError(f"{pilot.path}: {exc}") from None
    return running


async def open_service_links(
    run_id: str, proxy: FaultProxy, running: Mapping[str, Running], into: Links
) -> Links:
    """A link of each service's name, proxying raw TCP to it (the link URL is tcp://)."""
    proxies, urls = dict(into.proxies), dict(into.urls)
    for name, service in running.items():
        proxy_name = f"{PROXY_PREFIX}{run_id}.{name}"
        listen = await proxy.create_proxy(proxy_name, service.address)
        proxies[name] = proxy_name
        urls[name] = f"tcp://{listen}"
    return Links(proxies, urls)


def service_urls(running: Mapping[str, Running], links: Links) -> dict[str, str]:
    """What the workflow gets for ``{services.NAME.url}``: the service through its link.

    May carry a password (a server's url): for the workflow's environment only.
    """
    return {n: s.url(links.urls[n].removeprefix("tcp://")) for n, s in running.items()}


def placeholder_values(
    pilot: Pilot,
    links: Links,
    port: int,
    secret: str,
    state_dir: Path,
    run_dir: Path,
    services: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """The values of the workflow command's `{placeholders}`:
    port, secret, folders, link and service URLs."""
    values = {
        "port": str(port),
        "secret": secret,
        "state_dir": str(state_dir.resolve()),
        "run_dir": str(run_dir.resolve()),
    }
    for name, url in (services or {}).items():
        values[f"services.{name}.url"] = url
    for name, url in links.urls.items():
        values[f"links.{name}.url"] = url
    for name, link in pilot.spec.links.items():
        if link.timeout_s is not None:
            values[f"links.{name}.timeout_s"] = f"{link.timeout_s:g}"
    return values


def workflow_env(pilot: Pilot, values: Mapping[str, str], links: Links) -> dict[str, str]:
    """The workflow's declared environment with this run's values filled in."""
    env: dict[str, str] = {}
    for link_name, link in pilot.spec.links.items():
        if link.env:
            env[link.env] = links.urls[link_name]
    for variable, template in pilot.spec.workflow.env.items():
        try:
            env[variable] = placeholders.fill(template, values)
        except KeyError as exc:
            raise ValueError(f"[workflow.env] {variable}: {exc.args[0]}") from None
    return env


@contextlib.asynccontextmanager
async def workflow_process(
    pilot: Pilot, env: Mapping[str, str], port: int, run_dir: Path
) -> AsyncIterator[Service]:
    """The workflow as a service: the one at the pilot's `url`,
    or its `command` started and stopped here."""
    spec = pilot.spec.workflow
    if spec.url is not None:
        async with existing_service("workflow", spec.url, spec.ready_path) as service:
            yield service
        return
    assert spec.command is not None
    async with run_service(
        "workflow",
        spec.command,
        url=f"http://127.0.0.1:{port}",
        ready_path=spec.ready_path,
        env=dict(env),
        cwd=pilot.resolve(spec.cwd),
        log_path=run_dir / "workflow.log",
        startup_timeout_s=spec.startup_timeout_s,
    ) as service:
        yield service


def pid_alive(pid: Any) -> bool:
    """Whether a process with this pid exists (a pid we may not signal counts as alive);
    not an int: no."""
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
