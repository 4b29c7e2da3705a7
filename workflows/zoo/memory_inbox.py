"""memory-inbox: acknowledged events queued in memory, lost when the process is killed.

The classic: answer the webhook 200 and put the event on an in-process queue
(an asyncio.Queue, a list, a background task). A crash or a deploy loses every
event acknowledged but not yet done, and the provider will never send them
again; outcomes kept in memory go too. Caught by all_accounted (delivered,
no outcome) when the workflow is killed mid-drill.
"""

from __future__ import annotations

from types import ModuleType

from .memory import MemoryInbox


def install(app: ModuleType) -> None:
    app.Inbox = MemoryInbox  # type: ignore[attr-defined]
