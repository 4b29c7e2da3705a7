"""``chaoslab proxy serve``: the embedded fault proxy, stopped like any chaoslab command.

``python -m harness.proxy`` behaves as toxiproxy-server does: SIGINT or
SIGTERM shut it down and it exits 0. Run as ``chaoslab proxy serve`` it keeps
chaoslab's rules instead: Ctrl-C, SIGTERM and SIGHUP all shut it down cleanly
(listeners closed, every proxy removed) and the exit code names the signal,
128 + its number (130, 143, 129).
"""

from __future__ import annotations

import asyncio
import random
import signal
import sys
from typing import TYPE_CHECKING

import typer

from harness.cli_support import fail

if TYPE_CHECKING:
    from harness.proxy import server as proxy_server

app = typer.Typer(help="The embedded Toxiproxy-compatible fault proxy.", no_args_is_help=True)

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


async def _serve(opts: proxy_server.Options) -> int | signal.Signals:
    """Serve until a stop signal; returns the server's exit code or that signal."""
    from harness.proxy import server as proxy_server

    ready = asyncio.Event()
    server = asyncio.ensure_future(proxy_server.serve(opts, ready))
    listening = asyncio.ensure_future(ready.wait())
    await asyncio.wait({server, listening}, return_when=asyncio.FIRST_COMPLETED)
    if server.done():  # it could not listen
        listening.cancel()
        return server.result()
    stopped_by: list[signal.Signals] = []

    def stop(sig: signal.Signals) -> None:
        if not stopped_by:
            stopped_by.append(sig)
            server.cancel()  # the server's own shutdown runs on cancellation

    # The server installed its own handlers once listening; these replace them
    # so that the exit code can tell which signal it was.
    loop = asyncio.get_running_loop()
    for sig in STOP_SIGNALS:
        loop.add_signal_handler(sig, stop, sig)
    try:
        return await server
    except asyncio.CancelledError:
        if not stopped_by:
            raise
        return stopped_by[0]
    finally:
        loop.remove_signal_handler(signal.SIGHUP)  # the server removes INT and TERM itself


def serve(args: list[str]) -> int | signal.Signals:
    """Run the server with toxiproxy-server's flags; the exit code, or the stop signal."""
    # The server is imported only when it is served: other commands never load it.
    from harness.proxy import server as proxy_server
    from harness.proxy.proxy import run as run_loop

    try:
        opts = proxy_server.parse_flags(args)
    except proxy_server.UsageError as err:
        print(f"chaoslab proxy serve: {err}; see 'chaoslab proxy serve -help'", file=sys.stderr)
        return 2
    if opts.help or opts.version:
        return proxy_server.main(args)
    if opts.seed is not None:
        # Go's -seed has no effect; honouring it makes toxicity draws repeatable.
        random.seed(opts.seed)
    proxy_server._setup_logging()
    return run_loop(_serve(opts))


@app.command("serve", context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def proxy_serve(ctx: typer.Context) -> None:
    """Run the embedded Toxiproxy-compatible server (same flags as toxiproxy-server)."""
    outcome = serve(list(ctx.args))
    if isinstance(outcome, signal.Signals):
        raise fail(f"interrupted by {outcome.name}; every proxy was closed", 128 + outcome)
    raise typer.Exit(outcome)


@app.command("check")
def proxy_check() -> None:
    """Say which Toxiproxy server a drill would use, and that it answers."""
    from harness.runtime.faultproxy import FaultProxyError, open_fault_proxy

    async def probe() -> dict[str, str]:
        async with open_fault_proxy() as proxy:
            return proxy.describe()

    try:
        found = asyncio.run(probe())
    except FaultProxyError as exc:
        raise fail(str(exc)) from None
    except KeyboardInterrupt:
        raise fail("interrupted", 130) from None
    typer.echo(f"{found['source']}: Toxiproxy {found['version']} at {found['url']}")


def register(root: typer.Typer) -> None:
    """Add the `proxy` group (`serve`, `check`) to the `chaoslab` command."""
    root.add_typer(app, name="proxy")
