"""What runs while a drill replays: partners, the workflow and the links between them.

`start_stage` starts them on a Toxiproxy server, each behind its link; a
standing stage (harness.drill.standing) keeps one running across drills.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from pathlib import Path

from harness.drill.prepared import Prepared
from harness.drill.recovery import owner_alive
from harness.drill.services import (
    PROXY_PREFIX,
    Links,
    open_links,
    open_service_links,
    partner_process,
    placeholder_values,
    service_urls,
    start_services,
    workflow_env,
    workflow_process,
)
from harness.inputs.pilot import PilotError
from harness.runtime.faultproxy import FaultProxy
from harness.runtime.processes import Service, ServiceError, free_port
from harness.services import Running
from harness.sources import OpenContext, SourceRun, declared


@dataclass
class Stage:
    """What is running while the events are replayed."""

    proxy: FaultProxy
    partner_urls: dict[str, str]
    links: Links
    workflow_url: str
    state_dir: Path
    # What {placeholders} stood for when the workflow started (for an outcomes file).
    values: dict[str, str] = field(repr=False)
    # Kept running across drills (harness.drill.standing): its links stay, and
    # its outcomes source also lists earlier drills' events.
    standing: bool = False
    # The workflow process the drill started (None when reached by url): what a restart restarts.
    workflow: Service | None = None
    # The workflow's services ([services.NAME]), each behind the link of its name.
    services: dict[str, Running] = field(default_factory=dict)
    # The broker the events are published to (a [queue] pilot), or the source API the
    # workflow pulls (a [poll] pilot); None: webhook deliveries.
    source: SourceRun | None = None


# A workflow is told its port ({port}); between choosing a free one and the
# workflow binding it, another process may take it. Then it is asked again.
PORT_TRIES = 3


async def start_stage(p: Prepared, stack: contextlib.AsyncExitStack, proxy: FaultProxy) -> Stage:
    """Start the drill's partners, links and workflow; ``stack`` stops them."""
    spec = p.pilot.spec
    runs_root = p.run_dir.parent
    p.meta["fault_proxy"] = proxy.describe()
    await proxy.delete_stale(PROXY_PREFIX, lambda name: owner_alive(runs_root, name))
    # Services first: a workflow may need its database before it says it is ready.
    running = await start_services(p.pilot, p.run_dir, stack)
    p.meta["services"] = {n: r.as_meta() for n, r in running.items()}
    partner_urls: dict[str, str] = {}
    for name in spec.partners:
        service = await stack.enter_async_context(partner_process(p.pilot, name, p.run_dir))
        partner_urls[name] = service.url
    source = await _open_source(p, stack)
    upstreams = {**partner_urls, **({source.link_to: source.upstream} if source else {})}
    links = await open_links(p.pilot, p.run_id, proxy, upstreams)
    links = await open_service_links(p.run_id, proxy, running, links)
    state_dir = p.run_dir / "state"
    state_dir.mkdir(parents=True, exist_ok=True)
    services = service_urls(running, links)
    workflow_url, values, workflow = await _start_workflow(p, stack, links, state_dir, services)
    links = await open_links(p.pilot, p.run_id, proxy, {"workflow": workflow_url}, into=links)
    p.meta["links"] = links.as_meta()
    return Stage(
        proxy, partner_urls, links, workflow_url, state_dir, values,
        workflow=workflow, services=running, source=source,
    )  # fmt: skip


async def _open_source(p: Prepared, stack: contextlib.AsyncExitStack) -> SourceRun | None:
    """The pilot's event source other than webhooks (its broker), started and set up, or None."""
    found = declared(p.pilot)
    if found is None:
        return None
    kind, table = found
    try:
        # The events the plan sends: a scenario's ``delivery.events`` (a hunt's set) chooses them.
        ctx = OpenContext(p.pilot.path.parent, p.run_dir, p.scenario, p.run_events)
        source = await stack.enter_async_context(kind.open(table, ctx))
    except ServiceError as exc:
        # The source names its key ("[queue] port: ..."); the file goes first, as for pilots.
        raise PilotError(f"{p.pilot.path}: {exc}") from None
    p.meta[source.meta_key] = source.describe()
    p.meta["settled_by"] = f"{source.meta_key} and quiescence"
    return source


async def _start_workflow(
    p: Prepared,
    stack: contextlib.AsyncExitStack,
    links: Links,
    state_dir: Path,
    services: dict[str, str] | None = None,
) -> tuple[str, dict[str, str], Service | None]:
    """The workflow's URL, the placeholder values it was started with, and its process."""
    if p.pilot.spec.workflow.url is not None:
        await stack.enter_async_context(workflow_process(p.pilot, {}, 0, p.run_dir))
        values = placeholder_values(p.pilot, links, 0, p.secret, state_dir, p.run_dir, services)
        return p.pilot.spec.workflow.url, values, None
    for attempt in range(1, PORT_TRIES + 1):
        port = free_port()
        values = placeholder_values(p.pilot, links, port, p.secret, state_dir, p.run_dir, services)
        try:
            env = workflow_env(p.pilot, values, links)
        except ValueError as exc:
            raise PilotError(f"{p.pilot.path}: {exc}") from None
        try:
            service = await stack.enter_async_context(
                workflow_process(p.pilot, env, port, p.run_dir)
            )
        except ServiceError as exc:
            if "address already in use" not in str(exc) or attempt == PORT_TRIES:
                raise
            continue
        return f"http://127.0.0.1:{port}", values, service
    raise AssertionError("unreachable: the last try returns or raises")


async def leave_links(stage: Stage) -> None:
    """Delete the drill's link proxies, unless the stage is standing and keeps them."""
    # Leave the link proxies before the partners stop, so a real server keeps nothing.
    for name in stage.links.proxies.values() if not stage.standing else ():
        await stage.proxy.delete_proxy(name)
