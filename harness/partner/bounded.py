"""Reading a file a declaration names: inside the pilot's folder, a regular file, bounded.

A declaration is written by people but may be copied from anywhere, so the
file it names is treated with suspicion: a path resolving outside the folder
it must stay in (`../../etc/passwd`, a symlink pointing out), something that
is not a regular file (`/dev/zero`, a FIFO that would block forever) and a
file larger than the limit are each refused with one line, before any read.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from .spec import PartnerSpecError

MAX_DOCUMENT_BYTES = 16 * 1024 * 1024  # the largest public OpenAPI documents are about 10 MB


def within(path: Path, root: Path) -> Path:
    """`path` resolved (symlinks followed), refused unless it lies inside `root`."""
    resolved = path.resolve()
    if not resolved.is_relative_to(root.resolve()):
        raise PartnerSpecError(f"{path}: outside the pilot's folder {root}; not read")
    return resolved


def read_bounded(path: Path, *, root: Path | None = None, limit: int = MAX_DOCUMENT_BYTES) -> bytes:
    """The bytes of a regular file of at most `limit` bytes, inside `root` when given."""
    if root is not None:
        within(path, root)
    try:
        # O_NONBLOCK: opening a FIFO must not wait for a writer; it is refused just below.
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except OSError as exc:
        raise PartnerSpecError(f"{path}: cannot read: {exc.strerror}") from None
    with os.fdopen(fd, "rb") as handle:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise PartnerSpecError(f"{path}: not a regular file; not read")
        data = handle.read(limit + 1)
    if len(data) > limit:
        raise PartnerSpecError(f"{path}: larger than {limit:,} bytes; not read")
    return data
