"""The kernel a review runs its notebooks in, with its own log lines kept off our stderr.

A kernel inherits the review command's stderr. Its logging (an interrupt at
shutdown, a socket closed under it on a loaded machine) would then break the
promise that a failing review prints exactly one line; cell errors reach us
as messages, not through this stream, so nothing the review reports is lost.
"""

from __future__ import annotations

import subprocess
from typing import Any

from jupyter_client.manager import AsyncKernelManager


class QuietKernelManager(AsyncKernelManager):
    async def start_kernel(self, **kw: Any) -> None:  # type: ignore[override]
        kw.setdefault("stderr", subprocess.DEVNULL)
        await super().start_kernel(**kw)
