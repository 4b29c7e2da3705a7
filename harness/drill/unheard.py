"""When a link toxic could keep a partner's answers from the caller: spans for the checks.

``retry_after_honoured`` holds a caller to the wait a 429/503 asked for. A
caller that never got that answer cannot honour it: the toxic withheld it, and
a finding would blame the workflow for the lab's own fault. These spans, on the
drill's clock, tell the check which answers may not have arrived:

    timeout      holds every byte, then (with a timeout) closes: in either stream
    reset_peer   resets the connection
    limit_data   closes it after so many bytes
    latency      downstream (answers), when it reaches the link's declared timeout_s:
                 the caller gave up before the answer came

Other toxics only slow an answer down, which makes a caller look later, never
earlier. Toxics on a link to the workflow, the broker or a service are no
partner's answers and are left out.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

from harness.inputs.pilot import LinkSpec

__all__ = ["WITHHOLDING", "unheard_spans"]

WITHHOLDING = frozenset({"timeout", "reset_peer", "limit_data"})


def unheard_spans(
    toxics_applied: Iterable[Mapping[str, Any]], links: Mapping[str, LinkSpec]
) -> list[dict[str, Any]]:
    """Each span (partner, from_s, until_s, toxic) of the run's toxics that could withhold
    a partner's answers; ``toxics_applied`` as run.json keeps it."""
    spans = []
    for toxic in toxics_applied:
        link = links.get(str(toxic.get("link", "")))
        if link is None or link.to == "workflow" or not _withholds(toxic, link):
            continue
        until = toxic.get("until_s")
        spans.append(
            {
                "partner": link.to,
                "from_s": float(toxic.get("from_s") or 0.0),
                "until_s": math.inf if until is None else float(until),
                "toxic": f"{toxic.get('type')} on link {toxic.get('link')}",
            }
        )
    return spans


def _withholds(toxic: Mapping[str, Any], link: LinkSpec) -> bool:
    kind = toxic.get("type")
    if kind in WITHHOLDING:
        return True
    if kind != "latency" or toxic.get("stream") != "downstream" or link.timeout_s is None:
        return False
    attributes = toxic.get("attributes") or {}
    delay_ms = float(attributes.get("latency", 0)) + float(attributes.get("jitter", 0))
    return delay_ms / 1000.0 >= link.timeout_s
