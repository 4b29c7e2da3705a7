"""The kernel a review runs its notebooks in: quiet on our stderr, its key in our scratch.

A kernel inherits the review command's stderr. Its logging (an interrupt at
shutdown, a socket closed under it on a loaded machine) would then break the
promise that a failing review prints exactly one line; cell errors reach us
as messages, not through this stream, so nothing the review reports is lost.

jupyter_client writes a kernel's connection file, which holds the HMAC key
that lets anyone on the machine run code in the kernel, to ``mkstemp`` in
$TMPDIR unless told where. A killed review could not remove it there; ours
goes to the Jupyter runtime folder, which ``review`` points at its scratch.

``SharedKernel`` runs several of our notebooks in one kernel, reset between
them by ``harness.report.fresh``; it is started, and always shut down, here
rather than by papermill, which only borrows it.
"""

from __future__ import annotations

import asyncio
import subprocess
import uuid
from pathlib import Path
from typing import Any

from jupyter_client.manager import AsyncKernelManager
from jupyter_core.paths import jupyter_runtime_dir
from jupyter_core.utils import run_sync


class QuietKernelManager(AsyncKernelManager):
    """A kernel manager whose kernel logs to /dev/null and keeps its key in the runtime folder."""

    async def start_kernel(self, **kw: Any) -> None:  # type: ignore[override]
        if not self.connection_file:
            self.connection_file = await asyncio.to_thread(
                _connection_file, self.kernel_id or str(uuid.uuid4())
            )
        kw.setdefault("stderr", subprocess.DEVNULL)
        await super().start_kernel(**kw)


class _SharedKernelManager(QuietKernelManager):
    """A kernel manager that remembers its clients, so their channels can be closed.

    nbclient closes a client's channels only on kernels it owns; on one it was
    lent it leaves them open, so each notebook's client is closed here instead.
    """

    def __init__(self, **kw: Any) -> None:
        super().__init__(**kw)
        self._clients: list[Any] = []

    def client(self, **kw: Any) -> Any:
        made = super().client(**kw)
        self._clients.append(made)
        return made

    def close_clients(self) -> None:
        """Close the channels of every client handed out so far."""
        while self._clients:
            self._clients.pop().stop_channels()


class SharedKernel:
    """One kernel for a review's own notebooks, as fresh to each one as a new kernel.

    A kernel costs 1.5 to 2 CPU-seconds before its notebook does any work
    (Python, ipykernel, then pandas, matplotlib and the harness at the first
    import), as much as the work itself on a small drill; a review's
    notebooks pay it once. Before each
    notebook after the first, ``fresh.afresh`` runs in the kernel: an empty
    namespace, prompts counting from 1, the notebook's folder as cwd, no
    figures and matplotlib's settings as loaded. A kernel that died or cannot
    be reset is replaced by a new one. ``close`` (or leaving the ``with``)
    shuts it down; a notebook never does.
    """

    def __init__(self, kernel_name: str, extra_arguments: list[str], timeout: float) -> None:
        self._kernel_name = kernel_name
        self._extra_arguments = extra_arguments
        self._timeout = timeout  # for starting the kernel and for resetting it
        self._km: _SharedKernelManager | None = None

    def __enter__(self) -> SharedKernel:
        return self

    def __exit__(self, kind: type[BaseException] | None, *rest: object) -> None:
        # A Ctrl-C or SIGTERM (KeyboardInterrupt) is not an Exception: see ``close``.
        self.close(abandon=kind is not None and not issubclass(kind, Exception))

    def ready(self, cwd: Path) -> AsyncKernelManager:
        """The kernel, started or reset, for a notebook to run in ``cwd``."""
        km: AsyncKernelManager = run_sync(self._ready)(cwd)
        return km

    def close(self, *, abandon: bool = False) -> None:
        """Shut the kernel down (when there is one) and close every client of it.

        ``abandon`` (the review was interrupted) kills the kernel and removes
        its connection file, and leaves the sockets to the process's exit. A
        KeyboardInterrupt may have struck while pyzmq made a socket, after
        libzmq opened it and before its context listed it: ending that context
        now would wait forever for the socket, which the interrupt's traceback
        keeps open. The interrupted process is about to exit anyway.
        """
        run_sync(self._close)(abandon)

    async def _ready(self, cwd: Path) -> AsyncKernelManager:
        km = self._km
        if km is not None and km.has_kernel and await km.is_alive():
            km.close_clients()
            try:  # a kernel already here has run a notebook: wipe what it left
                await self._reset(km, cwd)
                return km
            except Exception:  # whatever went wrong, a new kernel is as fresh
                pass
        await self._stop()
        km = _SharedKernelManager(kernel_name=self._kernel_name)
        self._km = km
        # The arguments nbclient gives a kernel it starts, and the notebook's folder.
        arguments = [*self._extra_arguments, "--HistoryManager.hist_file=:memory:"]
        await km.start_kernel(extra_arguments=arguments, cwd=str(cwd))
        return km

    async def _reset(self, km: _SharedKernelManager, cwd: Path) -> None:
        client = km.client()
        client.start_channels()
        await client.wait_for_ready(timeout=self._timeout)
        reply = await client.execute_interactive(
            f"__import__('harness.report.fresh', fromlist=['afresh']).afresh({str(cwd)!r})",
            silent=True,  # no prompt number taken, nothing published
            store_history=False,
            allow_stdin=False,
            timeout=self._timeout,
            output_hook=lambda _msg: None,
        )
        km.close_clients()
        if reply["content"]["status"] != "ok":
            raise RuntimeError(f"kernel reset failed: {reply['content'].get('evalue', '')}")

    async def _close(self, abandon: bool) -> None:
        # A Ctrl-C leaves the coroutine it interrupted (a kernel starting, a cell
        # running) pending on this loop, and it resumes now; beside a shutdown it
        # would race it for the manager's state. It is cancelled and unwinds first.
        orphans = asyncio.all_tasks() - {asyncio.current_task()}
        for task in orphans:
            task.cancel()
        await asyncio.gather(*orphans, return_exceptions=True)
        if abandon:
            await self._kill()
        else:
            await self._stop(interrupted=bool(orphans))

    async def _kill(self) -> None:
        """Kill the kernel and remove its key; its sockets go with the process."""
        km, self._km = self._km, None
        if km is None:
            return
        try:
            if km.has_kernel:
                await km.provisioner.kill()  # type: ignore[union-attr]
                await km.provisioner.wait()  # type: ignore[union-attr]
        finally:
            km.cleanup_connection_file()

    async def _stop(self, *, interrupted: bool = False) -> None:
        km, self._km = self._km, None
        if km is None:
            return
        try:
            if km.has_kernel and interrupted:
                # Half started or mid-cell: no polite shutdown (it interrupts first), a kill.
                await km.provisioner.kill()  # type: ignore[union-attr]
                await km.provisioner.wait()  # type: ignore[union-attr]
            elif km.has_kernel and await km.is_alive():
                await km.shutdown_kernel()
        finally:
            # As nbclient does: the connection file goes, even if the kernel would not stop.
            await km.cleanup_resources()
            km.close_clients()


def _connection_file(kernel_id: str) -> str:
    """Where the kernel's key goes: the runtime folder, made (private) when it is missing."""
    folder = Path(jupyter_runtime_dir()).resolve()
    # Jupyter's default, ~/.local/share/jupyter/runtime, may not exist on a fresh machine.
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    return str(folder / f"kernel-{kernel_id}.json")
