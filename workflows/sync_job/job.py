"""One pass of the sync job: page through the source's listing, send each record to the CRM.

Two variants share the HTTP plumbing and differ where sync jobs go wrong:

- ``naive`` pages by page number (``?page=N``) and creates each record with a
  plain POST. A record served twice (a repeat at a page boundary, an offset
  that shifted) is created twice, and a 429 or 5xx ends the pass early, so
  the records after it wait for a run that may never come.
- ``fixed`` follows the source's opaque cursor, waits as long as the source's
  Retry-After says (a few bounded tries) and retries the same page, and sends
  each record with the Idempotency-Key ``<id>:<version>``, so a record served
  again changes nothing at the CRM.

``ON_RETRY_AFTER`` (the environment) bends the fixed job's wait, for the lab's
own drills of its politeness check: ``wait`` (the default) as asked,
``ignore`` asks a throttled page again at once (the classic defect), and
``wait-twice`` waits twice as long as asked (slower, and still polite).
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

PAGE_TRIES = 5  # tries of one page before the fixed job gives the pass up
MAX_PAGES = 1000  # one pass never pages for ever, whatever the source says
MAX_WAIT_S = 10.0  # the longest Retry-After the job honours
# What the fixed job does with a page's Retry-After: its factor on the wait asked.
ON_RETRY_AFTER = {"wait": 1.0, "ignore": 0.0, "wait-twice": 2.0}


@dataclass(frozen=True)
class Settings:
    source_url: str
    source_path: str
    page_size: int
    crm_url: str
    crm_timeout_s: float
    source_timeout_s: float
    on_retry_after: str = "wait"  # a key of ON_RETRY_AFTER


def on_retry_after(environ: Mapping[str, str]) -> str:
    """``ON_RETRY_AFTER`` from the environment; a ValueError naming it when unknown."""
    mode = environ.get("ON_RETRY_AFTER", "wait")
    if mode not in ON_RETRY_AFTER:
        raise ValueError(f"ON_RETRY_AFTER: give one of {', '.join(ON_RETRY_AFTER)}, got {mode!r}")
    return mode


class PageFailed(Exception):
    """The source did not answer a page with 2xx."""

    def __init__(self, status: int | None, retry_after: str | None) -> None:
        super().__init__(f"page answered {status}")
        self.status = status
        self.retry_after = retry_after


def _get(s: Settings, query: dict[str, Any]) -> dict[str, Any]:
    url = f"{s.source_url}{s.source_path}?{urllib.parse.urlencode(query)}"
    try:
        with urllib.request.urlopen(url, timeout=s.source_timeout_s) as response:
            return dict(json.loads(response.read(1_000_000)))
    except urllib.error.HTTPError as exc:
        raise PageFailed(exc.code, exc.headers.get("Retry-After")) from None
    except (urllib.error.URLError, TimeoutError, OSError):
        raise PageFailed(None, None) from None


def _send(s: Settings, record: dict[str, Any], key: str | None) -> int:
    """POST the record to the CRM's contacts; its status (0: no answer)."""
    body = json.dumps(
        {"id": record["id"], "email": record.get("email"), "version": record.get("version")}
    ).encode()
    request = urllib.request.Request(f"{s.crm_url}/v1/contacts", data=body, method="POST")
    request.add_header("Content-Type", "application/json")
    if key is not None:
        request.add_header("Idempotency-Key", key)
    try:
        with urllib.request.urlopen(request, timeout=s.crm_timeout_s) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)
    except (urllib.error.URLError, TimeoutError, OSError):
        return 0


def naive_pass(s: Settings) -> dict[str, Any]:
    """Page numbers and plain creates; the first failed page ends the pass."""
    sent = 0
    for page in range(1, MAX_PAGES + 1):
        try:
            answer = _get(s, {"page": page, "limit": s.page_size})
        except PageFailed as exc:
            return {"sent": sent, "stopped": f"page {page}: {exc}"}
        for record in answer.get("records", []):
            _send(s, record, None)
            sent += 1
        if not answer.get("next_page"):
            break
    return {"sent": sent}


def _page_with_retries(s: Settings, query: dict[str, Any]) -> dict[str, Any]:
    for attempt in range(1, PAGE_TRIES + 1):
        try:
            return _get(s, query)
        except PageFailed as exc:
            if attempt == PAGE_TRIES:
                raise
            time.sleep(_pause(s, exc.retry_after or "", attempt))
    raise AssertionError("unreachable: the last try returns or raises")


def _pause(s: Settings, asked: str, attempt: int) -> float:
    """How long to wait before asking a failed page again: as the source asked, if it did."""
    if not asked.isdigit():
        return 0.2 * attempt
    return min(float(asked), MAX_WAIT_S) * ON_RETRY_AFTER[s.on_retry_after]


def fixed_pass(s: Settings) -> dict[str, Any]:
    """The source's cursor, retried pages, and upserts keyed by record id and version."""
    sent, cursor = 0, None
    for _ in range(MAX_PAGES):
        query: dict[str, Any] = {"limit": s.page_size}
        if cursor:
            query["cursor"] = cursor
        answer = _page_with_retries(s, query)
        for record in answer.get("records", []):
            key = f"{record['id']}:{record.get('version')}"
            for _try in range(3):  # a CRM hiccup is retried under the same key
                if 200 <= _send(s, record, key) < 300:
                    break
            sent += 1
        cursor = answer.get("next_cursor")
        if not cursor:
            break
    return {"sent": sent}
