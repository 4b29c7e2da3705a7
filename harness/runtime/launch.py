"""Run a command that dies with the harness: ``python -m harness.runtime.launch PID CMD [ARG...]``.

The harness runs it as ``python -I -S .../launch.py PID CMD ...`` (see
``processes.with_parent_death``), so it imports the standard library only.

``PID --as USER CMD ...`` runs it as that user (a service such as PostgreSQL
refuses to run as root). The parent-death signal is armed after the switch:
the kernel clears it when a process changes its credentials.

The kernel sends the command SIGKILL when the process that started this
launcher dies (PR_SET_PDEATHSIG survives exec), so a harness killed outright
leaves no service behind. Doing this here, in a fresh process, rather than
in a ``preexec_fn`` keeps the harness free of fork-with-threads hazards.
"""

from __future__ import annotations

import ctypes
import os
import pwd
import sys

# os.execvp imports warnings the first time it searches PATH. Under --as that
# is after the switch, when the interpreter's own library may be unreadable to
# the new user (a Python installed under /root): import it while we still can.
import warnings  # noqa: F401

_PR_SET_PDEATHSIG = 1
# signal.SIGKILL, written out: importing `signal` loads `enum`, a few ms per service.
_SIGKILL = 9


def main(argv: list[str]) -> int:
    """Arm the parent-death signal, then exec the command;
    2 on bad usage, 0 if the parent is already gone."""
    if len(argv) < 2 or not argv[0].isdigit():
        print(
            "usage: python -m harness.runtime.launch PARENT_PID COMMAND [ARG...]", file=sys.stderr
        )
        return 2
    parent, command = int(argv[0]), argv[1:]
    if command[0] == "--as":
        if len(command) < 3:
            print("launch: --as needs a user and a command", file=sys.stderr)
            return 2
        problem = _become(command[1])
        if problem:
            print(f"launch: {problem}", file=sys.stderr)
            return 126
        command = command[2:]
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, _SIGKILL)
    if os.getppid() != parent:
        return 0  # the harness died before the signal was armed
    try:
        os.execvp(command[0], command)
    except OSError as exc:
        print(f"launch: cannot start {command[0]!r}: {exc.strerror}", file=sys.stderr)
        return 127
    return 0  # not reached: exec replaces this process


def _become(user: str) -> str | None:
    """Drop to ``user`` (its group, no others); the reason when that is impossible."""
    try:
        entry = pwd.getpwnam(user)
    except KeyError:
        return f"no user {user!r}"
    try:
        os.setgroups([])
        os.setgid(entry.pw_gid)
        os.setuid(entry.pw_uid)
    except OSError as exc:
        return f"cannot run as {user!r}: {exc.strerror}"
    os.environ.update(HOME=entry.pw_dir, USER=user, LOGNAME=user)
    return None


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
