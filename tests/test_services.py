"""Services ([services.NAME]): the registry, the table, and PostgreSQL as real processes."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import psycopg
import pytest

from harness.inputs import placeholders
from harness.inputs.pilot import PilotError, parse_pilot
from harness.inputs.services import SERVICE_KINDS, PostgresSpec, RedisSpec, where_from
from harness.runtime.processes import with_parent_death
from harness.services import KINDS, Running, ServiceStartError, kind_of, postgres, redis

PASSWORD = "hunter2-not-for-logs"


def _pilot(**extra: Any) -> dict[str, Any]:
    return {
        "pilot": {"name": "svc"},
        "workflow": {"command": ["python", "-m", "x"], "env": {"DB": "{services.db.url}"}},
        "webhook": {"fixtures": "f.jsonl"},
        "links": {"webhook": {"to": "workflow"}},
        "services": {"db": {"kind": "postgres"}},
        "scenarios": {"s": {}},
        **extra,
    }


def test_registry_holds_one_kind_per_model() -> None:
    assert sorted(KINDS) == sorted(SERVICE_KINDS) == ["postgres", "redis"]
    assert kind_of(PostgresSpec(kind="postgres")) is KINDS["postgres"]
    assert kind_of(RedisSpec(kind="redis", url="redis://127.0.0.1:1/0")) is KINDS["redis"]
    for kind in KINDS.values():
        assert "{address}" in kind.url_template


def test_pilot_reads_services_and_toxics_on_their_links() -> None:
    scenario = {"toxics": [{"link": "db", "type": "reset_peer", "attributes": {"timeout": 0}}]}
    pilot = parse_pilot(_pilot(scenarios={"s": scenario}), Path("p.toml"))
    assert isinstance(pilot.spec.services["db"], PostgresSpec)
    assert pilot.spec.scenarios["s"].toxics[0].link == "db"


@pytest.mark.parametrize(
    ("change", "said"),
    [
        (
            {"links": {"webhook": {"to": "workflow"}, "db": {"to": "workflow"}}},
            "is also [links.db]",
        ),
        ({"services": {"db": {"kind": "postgres", "url": "mysql://h/x"}}}, "[services.db] url:"),
        ({"services": {"db": {"kind": "mongo"}}}, "'mongo' is not a known kind"),
        ({"services": {"db": {"kind": "postgres", "urll": "x"}}}, "[services.db] urll: unknown"),
        ({"services": {}}, "{services.db.url} names no service"),
    ],
)
def test_bad_service_tables_are_one_line(change: dict[str, Any], said: str) -> None:
    with pytest.raises(PilotError) as caught:
        parse_pilot(_pilot(**change), Path("p.toml"))
    assert said in str(caught.value)
    assert "\n" not in str(caught.value)


def test_service_placeholders_are_known() -> None:
    assert placeholders.names_in("{services.db.url}") == ["services.db.url"]
    placeholders.check({"X": "{services.db.url}"}, ["webhook"], ["db"])
    with pytest.raises(ValueError, match="names no service"):
        placeholders.check({"X": "{services.cache.url}"}, ["webhook"], ["db"])


def test_what_is_recorded_never_holds_a_password() -> None:
    url = f"postgresql://drill:{PASSWORD}@db.internal:6543/orders?sslmode=disable"
    assert where_from(url) == "postgresql://db.internal:6543"
    assert where_from(None) == "embedded"
    running = Running(
        name="db",
        kind="postgres",
        address="db.internal:6543",
        source=where_from(url),
        start_s=0.5,
        template=postgres._with_database(url, "chaoslab_1", "{address}"),
        direct=postgres._with_database(url, "chaoslab_1"),
    )
    assert running.url("127.0.0.1:9") == (
        f"postgresql://drill:{PASSWORD}@127.0.0.1:9/chaoslab_1?sslmode=disable"
    )
    assert PASSWORD not in repr(running)
    assert PASSWORD not in str(running.as_meta())
    assert running.as_meta() == {"kind": "postgres", "source": where_from(url), "start_s": 0.5}


def test_redis_commands_are_framed_as_resp() -> None:
    assert redis._command("SELECT", "2") == b"*2\r\n$6\r\nSELECT\r\n$1\r\n2\r\n"


async def test_unreachable_server_is_one_line_without_the_password(tmp_path: Path) -> None:
    spec = PostgresSpec(kind="postgres", url=f"postgresql://u:{PASSWORD}@127.0.0.1:1/postgres")
    with pytest.raises(ServiceStartError) as caught:
        async with KINDS["postgres"].start("db", spec, tmp_path):
            pass
    message = str(caught.value)
    assert message.startswith("[services.db] url: cannot connect to postgresql://127.0.0.1:1")
    assert PASSWORD not in message


@pytest.fixture
def pg_root(monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """This test's own folder for clusters: other workers' drills start clusters too."""
    root = Path(tempfile.mkdtemp(prefix="chaoslab-pg-test-", dir="/tmp"))
    root.chmod(0o755)  # the cluster's user (nobody, under root) must reach its folder
    monkeypatch.setattr(postgres, "_scratch_root", lambda: root)
    yield root
    shutil.rmtree(root, ignore_errors=True)


def _cluster_dirs(root: Path) -> set[Path]:
    return set(root.glob("pg-*"))


def _templates(root: Path) -> set[Path]:
    return set(root.glob("template-*"))


def _pids_under(root: Path) -> list[str]:
    """Live processes whose command line names a path under ``root`` (postgres -D …)."""
    found = []
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            if (proc / "stat").read_text().split(") ")[1].startswith("Z"):
                continue
            if str(root).encode() in (proc / "cmdline").read_bytes():
                found.append(proc.name)
        except (OSError, IndexError):
            continue
    return found


needs_postgres = pytest.mark.skipif(
    postgres.bin_dir(None) is None, reason="no PostgreSQL binaries on this machine"
)


@needs_postgres
async def test_embedded_cluster_is_ready_cleaned_and_gone(tmp_path: Path, pg_root: Path) -> None:
    kind = KINDS["postgres"]
    async with kind.start("db", PostgresSpec(kind="postgres"), tmp_path) as running:
        assert running.source == "embedded" and running.start_s > 0
        assert running.address.startswith("127.0.0.1:")
        assert len(_cluster_dirs(pg_root)) == 1
        assert _pids_under(pg_root), "the cluster's postgres runs from its folder"
        async with await psycopg.AsyncConnection.connect(running.direct) as connection:
            await connection.execute("CREATE TABLE t (x int); INSERT INTO t VALUES (1)")
            await connection.commit()
        await kind.clean(running)
        async with await psycopg.AsyncConnection.connect(running.direct) as connection:
            row = await (await connection.execute("SELECT count(*) FROM t")).fetchone()
        assert row == (0,)
    assert _cluster_dirs(pg_root) == set()
    assert _pids_under(pg_root) == []


@needs_postgres
async def test_clusters_are_copies_of_one_initdb_template(tmp_path: Path, pg_root: Path) -> None:
    logs = []
    for drill in ("first", "second"):
        folder = tmp_path / drill
        folder.mkdir()
        async with KINDS["postgres"].start("db", PostgresSpec(kind="postgres"), folder):
            pass
        logs.append((folder / "service-db.log").read_text())
    initdb_said = "The files belonging to this database system"
    assert initdb_said in logs[0] and initdb_said not in logs[1]
    assert len(_templates(pg_root)) == 1
    assert _cluster_dirs(pg_root) == set()


@needs_postgres
async def test_cluster_goes_when_the_drill_fails_inside(tmp_path: Path, pg_root: Path) -> None:
    with pytest.raises(RuntimeError, match="drill broke"):
        async with KINDS["postgres"].start("db", PostgresSpec(kind="postgres"), tmp_path):
            raise RuntimeError("drill broke")
    assert _cluster_dirs(pg_root) == set()
    assert _pids_under(pg_root) == []


@needs_postgres
async def test_a_server_url_gives_each_drill_a_database_of_its_own(tmp_path: Path) -> None:
    kind = KINDS["postgres"]
    async with kind.start("server", PostgresSpec(kind="postgres"), tmp_path) as server:
        url = f"postgresql://{postgres.USER}@{server.address}/postgres"
        spec = PostgresSpec(kind="postgres", url=url)
        async with kind.start("db", spec, tmp_path) as first:
            async with await psycopg.AsyncConnection.connect(first.direct) as connection:
                await connection.execute("CREATE TABLE inbox (id text)")
                await connection.commit()
        async with kind.start("db", spec, tmp_path) as second:
            assert second.direct != first.direct
            async with await psycopg.AsyncConnection.connect(second.direct) as connection:
                found = await connection.execute("SELECT to_regclass('inbox')")
                assert await found.fetchone() == (None,)
        async with await psycopg.AsyncConnection.connect(url) as connection:
            names = await connection.execute("SELECT datname FROM pg_database")
            assert not [n for (n,) in await names.fetchall() if n.startswith("chaoslab_")]


@pytest.fixture
def open_dir() -> Iterator[Path]:
    """A folder every user can reach (pytest's is 0700: nobody could run a script in it)."""
    folder = Path(tempfile.mkdtemp(prefix="chaoslab-test-svc-", dir="/tmp"))
    folder.chmod(0o755)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def _fake_bin(folder: Path, initdb: str, server: str) -> Path:
    folder.mkdir()
    for name, body in (("initdb", initdb), ("postgres", server)):
        script = folder / name
        script.write_text(f"#!/bin/sh\n{body}\n")
        script.chmod(0o755)
    folder.chmod(0o755)
    return folder


async def test_initdb_that_fails_is_one_line_naming_the_key(tmp_path: Path, open_dir: Path) -> None:
    binaries = _fake_bin(open_dir / "bin", 'echo "initdb: error: disk on fire"; exit 1', "exit 1")
    spec = PostgresSpec(kind="postgres", bin_dir=str(binaries))
    with pytest.raises(ServiceStartError) as caught:
        async with KINDS["postgres"].start("db", spec, tmp_path):
            pass
    assert str(caught.value).startswith("[services.db] initdb failed (code 1): ")
    assert "disk on fire" in str(caught.value)


async def test_postgres_that_will_not_start_is_one_line_naming_the_key(
    tmp_path: Path, open_dir: Path
) -> None:
    binaries = _fake_bin(
        open_dir / "bin", 'mkdir -p "$2"', 'echo "FATAL:  could not create lock file"; exit 1'
    )
    spec = PostgresSpec(kind="postgres", bin_dir=str(binaries), startup_timeout_s=10)
    with pytest.raises(ServiceStartError) as caught:
        async with KINDS["postgres"].start("db", spec, tmp_path):
            pass
    message = str(caught.value)
    assert message.startswith("[services.db] postgres exited with code 1 before it was ready")
    assert "could not create lock file" in message


@pytest.mark.skipif(os.geteuid() != 0, reason="dropping to another user needs root")
def test_launcher_runs_a_command_as_another_user() -> None:
    # As services are started: the launcher the harness builds, a program found on PATH
    # (looking it up imports a module, after the switch to a user who may not reach
    # the interpreter's own library).
    done = subprocess.run(
        with_parent_death(["id"], "nobody"),
        capture_output=True,
        text=True,
        timeout=10,
    )
    assert done.returncode == 0
    assert "uid=65534" in done.stdout and "groups=65534" in done.stdout


def _redis_pids() -> set[str]:
    done = subprocess.run(["pgrep", "-x", "redis-server"], capture_output=True, text=True)
    return set(done.stdout.split())


async def _redis_keys(url: str) -> int:
    """DBSIZE of the database at ``url``, read straight off the socket."""
    parts = urlsplit(url)
    reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
    try:
        writer.write(redis._command("DBSIZE"))
        await writer.drain()
        answer = await asyncio.wait_for(reader.readline(), 5)
    finally:
        writer.close()
    assert answer.startswith(b":"), answer
    return int(answer[1:])


needs_redis = pytest.mark.skipif(
    shutil.which("redis-server") is None, reason="no redis-server on this machine"
)


@needs_redis
async def test_embedded_redis_is_ready_cleaned_and_gone(tmp_path: Path) -> None:
    pids = _redis_pids()
    kind = KINDS["redis"]
    async with kind.start("cache", RedisSpec(kind="redis"), tmp_path) as running:
        assert running.source == "embedded" and running.kind == "redis"
        assert running.address.startswith("127.0.0.1:")
        # The workflow gets the link's address; the lab cleans straight at the server.
        assert running.url("127.0.0.1:9") == "redis://127.0.0.1:9/0"
        await redis._call(running.direct, 5, "SET", "key", "value")
        assert await _redis_keys(running.direct) == 1
        await kind.clean(running)
        assert await _redis_keys(running.direct) == 0
        assert len(_redis_pids() - pids) == 1
    assert _redis_pids() <= pids


async def test_a_missing_redis_server_is_one_line_naming_the_key(tmp_path: Path) -> None:
    spec = RedisSpec(kind="redis", server="no-such-redis-server")
    with pytest.raises(ServiceStartError) as caught:
        async with KINDS["redis"].start("cache", spec, tmp_path):
            pass
    assert str(caught.value).startswith("[services.cache] server: no no-such-redis-server found")
    assert "\n" not in str(caught.value)
