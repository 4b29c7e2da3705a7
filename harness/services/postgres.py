"""PostgreSQL: a throwaway cluster per drill, or a database of its own on a running server.

Embedded: a copy of a pristine ``initdb`` cluster (made once per set of
binaries, see ``_template``) in a scratch folder, then ``postgres`` on 127.0.0.1
and a free port, unix sockets only in that folder, ``fsync=off`` (a drill's
data need not survive the machine, only the workflow). PostgreSQL refuses to
run as root, so as root both run as ``nobody``, who owns the folder. The
server dies with the harness (``harness.runtime.launch``); the folder goes on
the way out, or with the next cluster if the harness was killed outright.

With ``url``: a database ``chaoslab_<random>`` is created there for the
drill and dropped after it. Either way the workflow gets a database no
earlier drill wrote to.
"""

from __future__ import annotations

import asyncio
import contextlib
import glob
import hashlib
import os
import pwd
import secrets
import shutil
import stat
import subprocess
import tempfile
import time
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from harness.inputs.services import PostgresSpec, where_from
from harness.runtime.processes import free_port, stop_process, with_parent_death
from harness.runtime.scratch import scratch_dir
from harness.services._kind import Kind, Running, ServiceStartError, cause_in, log_text

# psycopg (a tenth of a second of CPU) is imported by the functions that talk to
# a server: every drill loads this module for the services registry, few use it.

USER = "chaoslab"  # the embedded cluster's superuser (trust auth, loopback only)
DATABASE = "chaoslab"
# Who runs the server when the harness runs as root.
UNPRIVILEGED = "nobody"
# Between choosing a free port and the server binding it, another process may take it.
PORT_TRIES = 3


def bin_dir(given: str | None) -> Path | None:
    """Where initdb and postgres are: ``bin_dir``, ``pg_config --bindir``, the Debian
    layout (newest version first), or PATH."""
    candidates: list[str] = []
    if given is not None:
        candidates.append(given)
    else:
        pg_config = shutil.which("pg_config")
        if pg_config is not None:
            with contextlib.suppress(OSError, subprocess.SubprocessError):
                done = subprocess.run(
                    [pg_config, "--bindir"], capture_output=True, text=True, timeout=5, check=True
                )
                candidates.append(done.stdout.strip())
        debian = glob.glob("/usr/lib/postgresql/*/bin")
        candidates += sorted(debian, key=lambda p: _version(p), reverse=True)
        on_path = shutil.which("initdb")
        if on_path is not None:
            candidates.append(str(Path(on_path).resolve().parent))
    for folder in candidates:
        path = Path(folder)
        if all(os.access(path / b, os.X_OK) for b in ("initdb", "postgres")):
            return path
    return None


def _version(folder: str) -> int:
    number = Path(folder).parent.name
    return int(number) if number.isdigit() else 0


def _run_as() -> str | None:
    """The user the cluster runs as: ``nobody`` when we are root, else ourselves."""
    return UNPRIVILEGED if os.geteuid() == 0 else None


def _hand_over(folder: Path) -> None:
    """``folder`` to the user the cluster runs as (``nobody`` under root), who writes in it."""
    if _run_as() is not None:
        entry = pwd.getpwnam(UNPRIVILEGED)
        os.chown(folder, entry.pw_uid, entry.pw_gid)


def _scratch_root() -> Path:
    """Where clusters go: not the per-user 0700 scratch root, since the unprivileged
    user must reach its folder; /tmp when the temp folder is closed to others."""
    base = Path(tempfile.gettempdir()).resolve()
    if _run_as() is not None and not all(
        p.stat().st_mode & stat.S_IXOTH for p in (base, *base.parents)
    ):
        base = Path("/tmp")
    return base / f"chaoslab-pg-{os.getuid()}"


async def _spawn(words: Sequence[str], log: Path) -> asyncio.subprocess.Process:
    with open(log, "ab") as out:  # noqa: ASYNC230 - the child takes its own descriptor
        return await asyncio.create_subprocess_exec(
            *with_parent_death(words, _run_as()),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


async def _initdb(name: str, binaries: Path, data: Path, log: Path, timeout_s: float) -> None:
    words = [
        str(binaries / "initdb"), "-D", str(data), "-U", USER, "--auth=trust",
        "--no-sync", "-E", "UTF8", "--locale=C",
    ]  # fmt: skip
    process = await _spawn(words, log)
    try:
        code = await asyncio.wait_for(process.wait(), timeout_s)
    except TimeoutError:
        await stop_process(process)
        raise ServiceStartError(
            f"[services.{name}] initdb did not finish in {timeout_s:g} s: {cause_in(log)}"
        ) from None
    if code != 0:
        raise ServiceStartError(f"[services.{name}] initdb failed (code {code}): {cause_in(log)}")


async def _template(name: str, binaries: Path, log: Path, timeout_s: float) -> Path:
    """A pristine cluster for these binaries, made by ``initdb`` the first time it is asked for.

    initdb costs most of a cluster's start (two thirds of a CPU-second here) and
    writes the same files every time, so each drill copies them instead. The
    template is keyed by the binaries and their initdb's modification time (an
    upgrade makes a new one) and appears whole or not at all: it is built in a
    scratch folder and renamed into place, and a process that loses that race
    to another uses the other's.
    """
    initdb = binaries / "initdb"
    key = hashlib.sha256(f"{binaries}\0{initdb.stat().st_mtime_ns}".encode()).hexdigest()[:16]
    template = _scratch_root() / f"template-{key}"
    if template.is_dir():
        return template
    with scratch_dir("pgtemplate", root=_scratch_root()) as building:
        _hand_over(building)
        await _initdb(name, binaries, building / "data", log, timeout_s)
        with contextlib.suppress(OSError):  # another process put its template there first
            os.rename(building / "data", template)
    return template


async def _copy_cluster(name: str, template: Path, data: Path, log: Path) -> None:
    """``template`` copied to ``data`` by the cluster's own user, modes kept (0700)."""
    process = await _spawn(["cp", "-a", str(template), str(data)], log)
    try:
        code = await asyncio.wait_for(process.wait(), 60)
    except TimeoutError:
        await stop_process(process)
        code = -1
    if code != 0:
        raise ServiceStartError(f"[services.{name}] could not copy the initdb template to {data}")


def _server_words(binaries: Path, folder: Path, port: int) -> list[str]:
    return [
        str(binaries / "postgres"), "-D", str(folder / "data"),
        "-p", str(port),
        "-c", "listen_addresses=127.0.0.1",
        "-c", f"unix_socket_directories={folder}",
        "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
        "-c", "max_connections=50",
    ]  # fmt: skip


async def _ready(
    name: str, process: asyncio.subprocess.Process, dsn: str, log: Path, deadline: float
) -> bool:
    """True once the server takes a connection; False if it died of a taken port."""
    import psycopg

    loop = asyncio.get_running_loop()
    while True:
        if process.returncode is not None:
            if "already in use" in log_text(log):
                return False
            raise ServiceStartError(
                f"[services.{name}] postgres exited with code {process.returncode} "
                f"before it was ready: {cause_in(log)}"
            )
        try:
            connection = await psycopg.AsyncConnection.connect(dsn, connect_timeout=2)
        except psycopg.OperationalError:
            pass
        else:
            await connection.close()
            return True
        if loop.time() > deadline:
            raise ServiceStartError(
                f"[services.{name}] postgres not ready after its startup_timeout_s: {cause_in(log)}"
            )
        # A port coming up has no event to wait on; the interval bounds readiness latency.
        await asyncio.sleep(0.05)


def _dsn(port: int, database: str) -> str:
    return f"postgresql://{USER}@127.0.0.1:{port}/{database}"


async def _create_database(dsn: str, database: str) -> None:
    import psycopg
    from psycopg import sql

    async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as connection:
        await connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(database)))


@contextlib.asynccontextmanager
async def _embedded(name: str, spec: PostgresSpec, folder: Path) -> AsyncIterator[Running]:
    started = time.monotonic()
    binaries = bin_dir(spec.bin_dir)
    if binaries is None:
        where = f"in bin_dir {spec.bin_dir}" if spec.bin_dir else "(pg_config, PATH)"
        raise ServiceStartError(
            f"[services.{name}] kind: no PostgreSQL binaries (initdb, postgres) found {where}; "
            "install PostgreSQL or give url"
        )
    log = folder / f"service-{name}.log"
    deadline = asyncio.get_running_loop().time() + spec.startup_timeout_s
    with scratch_dir("pg", root=_scratch_root()) as cluster:
        _hand_over(cluster)
        template = await _template(name, binaries, log, spec.startup_timeout_s)
        await _copy_cluster(name, template, cluster / "data", log)
        for attempt in range(1, PORT_TRIES + 1):
            port = free_port()
            process = await _spawn(_server_words(binaries, cluster, port), log)
            try:
                if not await _ready(name, process, _dsn(port, "postgres"), log, deadline):
                    if attempt == PORT_TRIES:
                        raise ServiceStartError(f"[services.{name}] no free port: {cause_in(log)}")
                    continue
                await _create_database(_dsn(port, "postgres"), DATABASE)
                yield Running(
                    name=name,
                    kind="postgres",
                    address=f"127.0.0.1:{port}",
                    source="embedded",
                    start_s=time.monotonic() - started,
                    template=f"postgresql://{USER}@{{address}}/{DATABASE}",
                    direct=_dsn(port, DATABASE),
                )
                return
            finally:
                await asyncio.shield(stop_process(process, grace_s=5.0))


def _with_database(url: str, database: str, address: str | None = None) -> str:
    """``url`` naming ``database`` (and listening at ``address``), its user and options kept."""
    parts = urlsplit(url)
    netloc = parts.netloc
    if address is not None:
        user = netloc.rpartition("@")[0]
        netloc = f"{user}@{address}" if user else address
    return urlunsplit((parts.scheme, netloc, f"/{database}", parts.query, ""))


@contextlib.asynccontextmanager
async def _on_server(name: str, spec: PostgresSpec, folder: Path) -> AsyncIterator[Running]:
    import psycopg
    from psycopg import sql

    assert spec.url is not None
    started = time.monotonic()
    source = where_from(spec.url)
    database = f"chaoslab_{secrets.token_hex(4)}"
    try:
        admin = await psycopg.AsyncConnection.connect(
            spec.url, autocommit=True, connect_timeout=max(1, int(spec.startup_timeout_s))
        )
    except psycopg.Error as exc:
        # psycopg's message names host and port, never the password.
        reason = " ".join(str(exc).split())[:200]
        raise ServiceStartError(
            f"[services.{name}] url: cannot connect to {source}: {reason}"
        ) from None
    async with admin:
        await admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(database)))
        try:
            parts = urlsplit(spec.url)
            yield Running(
                name=name,
                kind="postgres",
                address=f"{parts.hostname}:{parts.port or 5432}",
                source=source,
                start_s=time.monotonic() - started,
                template=_with_database(spec.url, database, "{address}"),
                direct=_with_database(spec.url, database),
            )
        finally:
            drop = sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)")
            with contextlib.suppress(psycopg.Error):
                await admin.execute(drop.format(sql.Identifier(database)))


def start(
    name: str, spec: PostgresSpec, folder: Path
) -> contextlib.AbstractAsyncContextManager[Running]:
    """A database for one drill: embedded, or on the server at ``url``."""
    return _embedded(name, spec, folder) if spec.url is None else _on_server(name, spec, folder)


async def clean(running: Running) -> None:
    """Empty every table of the drill's database (schema kept): the next schedule starts clean."""
    import psycopg
    from psycopg import sql

    async with await psycopg.AsyncConnection.connect(running.direct, autocommit=True) as conn:
        rows = await (
            await conn.execute(
                "SELECT schemaname, tablename FROM pg_tables "
                "WHERE schemaname NOT IN ('pg_catalog', 'information_schema')"
            )
        ).fetchall()
        if rows:
            tables = sql.SQL(", ").join(sql.Identifier(s, t) for s, t in rows)
            await conn.execute(sql.SQL("TRUNCATE {} RESTART IDENTITY CASCADE").format(tables))


KIND = Kind(
    name="postgres",
    spec=PostgresSpec,
    start=start,
    clean=clean,
    url_template=f"postgresql://{USER}@{{address}}/{DATABASE}",
)
