"""Run a command that dies with the harness: ``python -m harness.runtime.launch PID CMD [ARG...]``.

The kernel sends the command SIGKILL when the process that started this
launcher dies (PR_SET_PDEATHSIG survives exec), so a harness killed outright
leaves no service behind. Doing this here, in a fresh process, rather than
in a ``preexec_fn`` keeps the harness free of fork-with-threads hazards.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys

_PR_SET_PDEATHSIG = 1


def main(argv: list[str]) -> int:
    """Arm the parent-death signal, then exec the command;
    2 on bad usage, 0 if the parent is already gone."""
    if len(argv) < 2 or not argv[0].isdigit():
        print(
            "usage: python -m harness.runtime.launch PARENT_PID COMMAND [ARG...]", file=sys.stderr
        )
        return 2
    parent, command = int(argv[0]), argv[1:]
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:
        return 0  # the harness died before the signal was armed
    try:
        os.execvp(command[0], command)
    except OSError as exc:
        print(f"launch: cannot start {command[0]!r}: {exc.strerror}", file=sys.stderr)
        return 127
    return 0  # not reached: exec replaces this process


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
