"""SIGTERM and SIGHUP handled like Ctrl-C.

CI runners, ``timeout`` and closed terminals stop a command with SIGTERM or
SIGHUP, whose default is to die on the spot: no cleanup, a run left marked
``running``. Here either signal takes the path Ctrl-C takes: whatever
currently handles SIGINT is called (asyncio's runner cancels its main task,
so a drill unwinds and records ``interrupted``; elsewhere KeyboardInterrupt
is raised), and the signal is remembered so the exit code can say which one
it was (128 + its number, as a shell reports a death by that signal).
"""

from __future__ import annotations

import signal
from types import FrameType

HANDLED = (signal.SIGTERM, signal.SIGHUP)

_received: signal.Signals | None = None


def received() -> signal.Signals | None:
    """The first SIGTERM or SIGHUP this process got, if any."""
    return _received


def exit_code(default: int = 130) -> int:
    """128 + the signal received, else ``default`` (Ctrl-C's 130)."""
    return 128 + _received if _received is not None else default


def _like_ctrl_c(signum: int, frame: FrameType | None) -> None:
    global _received
    if _received is None:
        _received = signal.Signals(signum)
    handler = signal.getsignal(signal.SIGINT)
    if callable(handler):
        handler(signal.SIGINT, frame)
        return
    # SIGINT ignored (a background job) or left to the system: interrupt anyway.
    raise KeyboardInterrupt


def install() -> None:
    """Route SIGTERM and SIGHUP to Ctrl-C's handling (main thread only).

    A signal someone chose to ignore (``nohup`` ignores SIGHUP) stays ignored.
    """
    for sig in HANDLED:
        if signal.getsignal(sig) is not signal.SIG_IGN:
            signal.signal(sig, _like_ctrl_c)
