"""Reading a declared file safely: inside a root folder, a regular file, bounded in size.

Declarations name files (a pilot's `extends`, a partner's `file`, WireMock's
`bodyFileName`, OpenAPI `$ref`s). What they name is read only when it
resolves (symlinks followed) to a regular file under the folder it is allowed
in, and is no larger than a limit, so a declaration can neither copy
`/proc/self/environ` into a report nor read `/dev/zero` or a FIFO forever.

Standalone like the rest of `harness.partner`: it imports nothing else of harness.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

# The most any one declaration file (pilot, partner declaration, WireMock
# mapping or body file, OpenAPI document) may hold. Big public OpenAPI
# documents are a few MiB; anything past this is a mistake or an attack.
MAX_DECLARATION_BYTES = 8 * 1024 * 1024


class FileRefused(ValueError):
    """A declared file that may not be read; the message says why, without the path."""


def _size(limit: int) -> str:
    return f"{limit // (1024 * 1024)} MiB" if limit % (1024 * 1024) == 0 else f"{limit} bytes"


def confine(path: Path, root: Path) -> Path:
    """``path`` resolved, if it stays inside ``root`` (resolved too); else FileRefused."""
    resolved = Path(path).resolve()
    top = Path(root).resolve()
    if not resolved.is_relative_to(top):
        raise FileRefused(f"outside {top} (files are read only inside it)")
    return resolved


def read_bytes(path: Path, root: Path | None = None, limit: int = MAX_DECLARATION_BYTES) -> bytes:
    """The bytes of a regular file (inside ``root``, if given) of at most ``limit`` bytes.

    Raises FileRefused for a path outside ``root``, anything but a regular file
    (a folder, a device, a FIFO, a socket) and a file over the limit; OSError
    as ``open`` does for a missing or unreadable file.
    """
    target = confine(path, root) if root is not None else Path(path)
    # O_NONBLOCK: opening a FIFO must not wait for a writer before it can be refused.
    fd = os.open(target, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise FileRefused("not a regular file")
        if info.st_size > limit:
            raise FileRefused(f"larger than {_size(limit)} ({info.st_size:,} bytes)")
        with os.fdopen(os.dup(fd), "rb") as handle:
            data = handle.read(limit + 1)  # a file growing while read is still bounded
    finally:
        os.close(fd)
    if len(data) > limit:
        raise FileRefused(f"larger than {_size(limit)}")
    return data


def read_text(path: Path, root: Path | None = None, limit: int = MAX_DECLARATION_BYTES) -> str:
    """``read_bytes`` decoded as UTF-8 (UnicodeDecodeError when it is not)."""
    return read_bytes(path, root, limit).decode("utf-8")
