"""The kernel a review runs its notebooks in: quiet on our stderr, its key in our scratch.

A kernel inherits the review command's stderr. Its logging (an interrupt at
shutdown, a socket closed under it on a loaded machine) would then break the
promise that a failing review prints exactly one line; cell errors reach us
as messages, not through this stream, so nothing the review reports is lost.

jupyter_client writes a kernel's connection file, which holds the HMAC key
that lets anyone on the machine run code in the kernel, to ``mkstemp`` in
$TMPDIR unless told where. A killed review could not remove it there; ours
goes to the Jupyter runtime folder, which ``review`` points at its scratch.
"""

from __future__ import annotations

import asyncio
import subprocess
import uuid
from pathlib import Path
from typing import Any

from jupyter_client.manager import AsyncKernelManager
from jupyter_core.paths import jupyter_runtime_dir


class QuietKernelManager(AsyncKernelManager):
    """A kernel manager whose kernel logs to /dev/null and keeps its key in the runtime folder."""

    async def start_kernel(self, **kw: Any) -> None:  # type: ignore[override]
        if not self.connection_file:
            self.connection_file = await asyncio.to_thread(
                _connection_file, self.kernel_id or str(uuid.uuid4())
            )
        kw.setdefault("stderr", subprocess.DEVNULL)
        await super().start_kernel(**kw)


def _connection_file(kernel_id: str) -> str:
    """Where the kernel's key goes: the runtime folder, made (private) when it is missing."""
    folder = Path(jupyter_runtime_dir()).resolve()
    # Jupyter's default, ~/.local/share/jupyter/runtime, may not exist on a fresh machine.
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    return str(folder / f"kernel-{kernel_id}.json")
