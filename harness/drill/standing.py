"""A standing stage: partners, link proxies and a workflow kept running across drills.

Starting processes is most of a short drill's cost, and a hunt runs hundreds
of short drills. A standing stage starts them once; each drill on it then

    resets every partner (ledger, idempotency store, entities, request counter)
    → empties the workflow's services (every table of its database) →
    clears any toxic left on its links → empties its event source, when it
    has one (a queue's streams or queues, purged under the consumer the
    workflow stays bound to: ``harness.sources.StandingRun``) → replays
    events salted with a drill-unique suffix (``harness.replay.salt``) →
    settles → copies the partners' files for this drill into the drill's own
    run folder.

The workflow keeps its state between drills; salting is what keeps drills
independent (new event ids, new entity keys, so nothing it remembers applies).
A drill's run folder holds everything a normal drill's does, so it reads and
replays the same way; only the processes' own logs stay in the stage folder.

A stage whose workflow died, no longer answers or no longer consumes its
source is not a finding: the caller asks ``healthy()`` after a drill and opens
a fresh stage if it is not. So is one whose drill ended with messages still
pending (``pending_at_end`` -1): they would reach the next drill.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import shutil
import time
from pathlib import Path
from typing import Any, cast

import httpx

from harness.drill.collect import ledger_file, requests_file
from harness.drill.errors import DrillError
from harness.drill.prepared import Prepared, prepare
from harness.drill.stage import Stage, start_stage
from harness.inputs.pilot import Pilot, ScenarioSpec
from harness.journal import write_meta
from harness.replay.salt import new_salt
from harness.runtime.faultproxy import FaultProxy
from harness.runtime.http import client as http_client
from harness.services import KINDS
from harness.sources import OpenContext, StandingRun, no_standing

# A salted text carries "-s" + 6 hex digits (harness.replay.salt), at its end or,
# in a key composed of several salted fields, inside it.
_SALTED = re.compile(r"-(s[0-9a-f]{6})(?![0-9a-f])")
_DIGITS = re.compile(r"\d+")
# How long a healthy workflow may take to ask its source for work again (a pull
# request between two waits, a reconnect after a cut link): bounded, then replaced.
CONSUMING_WAIT_S = 3.0
CONSUMING_POLL_S = 0.05


def cannot_stand(pilot: Pilot) -> str:
    """Why this pilot's drills cannot share a standing stage, or '' when they can.

    Webhook pilots always can; a pilot whose events come from a source (a
    queue, a paged API) can when its kind's run stays open between drills,
    which the source registry says (``harness.sources.SourceKind.no_standing``).
    """
    return no_standing(pilot)


class StandingStage:
    """One workflow with its partners and links, reused drill after drill."""

    def __init__(self, pilot: Pilot, runs_root: Path, proxy: FaultProxy, name: str) -> None:
        self.pilot = pilot
        self.runs_root = runs_root
        self.proxy = proxy
        self.name = name
        self.drills = 0
        self._stack = contextlib.AsyncExitStack()
        self._stage: Stage | None = None
        self._home: Prepared | None = None
        self._salts: set[str] = set()
        self._numbers: dict[str, str] = {}  # salted number (text) -> the salt of its drill

    @property
    def folder(self) -> Path:
        """The stage's own run folder (its services' logs); only while it is open."""
        assert self._home is not None, "the stage is not open"
        return self._home.run_dir

    async def open(self) -> StandingStage:
        """Start the workflow, partners and links;
        on failure everything started is stopped again."""
        home = prepare(self.pilot, self.name, ScenarioSpec(), 1, self.runs_root)
        home.run_dir.mkdir(parents=True, exist_ok=True)
        self._home = home
        # Claimed before its first proxy exists: stages open side by side, and one
        # starting next to this one must not take these proxies for leftovers.
        self._write_status("running")
        try:
            stage = await start_stage(home, self._stack, self.proxy)
        except BaseException:
            self._write_status("error")
            await self._stack.aclose()
            raise
        stage.standing = True
        self._stage = stage
        return self

    def _write_status(self, status: str) -> None:
        # "running" with our pid: a stage opened next to this one must not take
        # its link proxies for a killed drill's leftovers (see owner_alive).
        assert self._home is not None
        meta = {**self._home.meta, "run_id": self._home.run_id, "status": status}
        meta.update(pid=os.getpid(), stage=self.name)
        write_meta(self._home.run_dir, meta)

    async def close(self) -> None:
        """Stop everything the stage started and mark its folder closed."""
        self._stage = None
        try:
            await self._stack.aclose()
        finally:
            if self._home is not None:
                self._write_status("closed")

    def new_salt(self) -> str:
        """A salt no earlier drill on this stage used, so their events and keys never collide."""
        salt = new_salt()
        while salt in self._salts:
            salt = new_salt()
        self._salts.add(salt)
        return salt

    async def begin(self, p: Prepared) -> Stage:
        """Ready the stage for drill ``p``: the workflow's secret, clean partners, no toxics."""
        stage, home = self._stage, self._home
        assert stage is not None and home is not None, "the stage is not open"
        self.drills += 1
        p.secret = home.secret
        p.meta["secret"] = home.meta["secret"]
        p.meta["fault_proxy"] = home.meta.get("fault_proxy")
        p.meta["links"] = home.meta.get("links")
        p.meta["services"] = home.meta.get("services")
        p.meta["standing"] = {"stage": self.name, "folder": str(home.run_dir), "drill": self.drills}
        for number in p.meta.get("salted_numbers") or ():
            self._numbers[str(number)] = str(p.meta.get("salt"))
        for proxy_name in stage.links.proxies.values():
            for toxic in await self.proxy.toxics(proxy_name):
                await self.proxy.remove_toxic(proxy_name, toxic.name)
        # Each schedule starts from an empty database, as a fresh drill would
        # (cleaned straight at the service: no toxic may stand in the way).
        for service in stage.services.values():
            await KINDS[service.kind].clean(service)
        if stage.source is not None:
            await self._begin_source(p, stage)
        async with http_client(timeout=5.0) as client:
            for name, url in stage.partner_urls.items():
                response = await client.post(f"{url}/_sim/reset")
                if response.status_code != 200:
                    raise DrillError(f"partner {name}: reset refused")
        return stage

    async def _begin_source(self, p: Prepared, stage: Stage) -> None:
        """The source emptied for this drill, and described in its run.json as a fresh one is."""
        source = cast(StandingRun, stage.source)  # run_drill refused a kind that cannot stand
        await source.begin_drill(
            OpenContext(self.pilot.path.parent, p.run_dir, p.scenario, p.run_events)
        )
        p.meta[source.meta_key] = source.describe()
        p.meta["settled_by"] = f"{source.meta_key} and quiescence"

    def end(self, p: Prepared) -> None:
        """This drill's partner files into its run folder, without another drill's stragglers."""
        salt = p.meta.get("salt")
        others = frozenset(n for n, s in self._numbers.items() if s != salt)
        for name in self.pilot.spec.partners:
            for source, target in (
                (ledger_file(self.folder, name), ledger_file(p.run_dir, name)),
                (requests_file(self.folder, name), requests_file(p.run_dir, name)),
            ):
                _copy_own_lines(source, target, salt, others)

    async def healthy(self) -> bool:
        """The workflow still runs and answers its ready path."""
        stage = self._stage
        if stage is None:
            return False
        process = stage.workflow.process if stage.workflow is not None else None
        if process is not None and process.returncode is not None:
            return False
        spec = self.pilot.spec.workflow
        async with http_client(timeout=2.0) as client:
            try:
                response = await client.get(stage.workflow_url + spec.ready_path)
            except httpx.HTTPError:
                return False
        if response.status_code >= 500:
            return False
        # A queue consumer's ready path answers while its broker connection is
        # down: only the broker knows whether it consumes again after a cut.
        return stage.source is None or await _consuming(cast(StandingRun, stage.source))


async def _consuming(source: StandingRun) -> bool:
    """Whether the workflow asks its source for work within ``CONSUMING_WAIT_S``."""
    until = time.monotonic() + CONSUMING_WAIT_S
    while True:
        try:
            if await source.consuming():
                return True
        except Exception:  # the lab's own connection to the source broke: not healthy
            return False
        if time.monotonic() >= until:
            return False
        await asyncio.sleep(CONSUMING_POLL_S)


def _copy_own_lines(
    source: Path, target: Path, salt: Any, others: frozenset[str] = frozenset()
) -> None:
    """Lines of ``source`` whose business key names no other drill's salt.

    ``others``: salted numbers handed to other drills on this stage (a number
    carries no suffix, so a key made of one is recognised by its digits).
    """
    if not source.exists():
        return
    if not isinstance(salt, str):
        shutil.copyfile(source, target)
        return
    kept = []
    for line in source.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            key = str(json.loads(line).get("key") or "")
        except (json.JSONDecodeError, AttributeError):
            continue
        if _foreign(key, salt, others):
            continue
        kept.append(line)
    target.write_text("".join(f"{line}\n" for line in kept), encoding="utf-8")


def _foreign(key: str, salt: str, others: frozenset[str]) -> bool:
    salts = set(_SALTED.findall(key))
    if salts:
        return salt not in salts
    return any(run in others for run in _DIGITS.findall(key))
