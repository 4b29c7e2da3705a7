"""Key a HAR import the way a pilot does: its ``[[expectations]]`` say where each
event's entity and version live.

A HAR import alone only knows generic places (``data.object.id``); a pilot
knows its domain (an order id in payment metadata, say). Each imported event
takes the key and version of the first rule that matches it, so the
fixtures agree with what the drill will expect. Nothing is changed silently:
a rule that finds no key, and the events no rule matches, become notes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from harness.inputs.expectations import UNMATCHED, ExpectationRule, expect_for
from harness.inputs.fixtures import CapturedRequest, FixtureError
from harness.inputs.har import HarError, HarImport

# Enough entries to find the unmatched ones in the HAR without flooding stderr.
_SHOWN = 5


def key_by_rules(
    result: HarImport,
    har_name: str,
    pilot_name: str,
    rules: Sequence[ExpectationRule],
    partners: Sequence[str],
) -> HarImport:
    """``result`` with entity_id/entity_version taken from the matching rule."""
    records: list[CapturedRequest] = []
    notes = list(result.notes)
    unmatched: list[int] = []
    for record, entry in zip(result.records, result.entries, strict=True):
        where = f"{har_name}: log.entries[{entry}]"
        want = expect_for(record, rules, partners)
        if want.rule == UNMATCHED:
            unmatched.append(entry)
            records.append(record)
            continue
        rule = rules[want.rule]
        label = f"{pilot_name}: [[expectations]] #{want.rule + 1}"
        entity_id = want.key
        if not entity_id:
            entity_id = record.entity_id
            notes.append(f"{where}: {label} key {rule.key}: empty; entity_id kept {entity_id!r}")
        if not rule.version:
            version = 0  # the rule declares an unversioned entity; 0 spells that here
        elif want.version is None or want.version < 0:
            version = record.entity_version
            notes.append(
                f"{where}: {label} version {rule.version}: not a non-negative integer; "
                f"entity_version kept {version}"
            )
        else:
            version = want.version
        try:
            records.append(replace(record, entity_id=entity_id, entity_version=version))
        except FixtureError as exc:
            raise HarError(f"{where}: {label} {exc.field}: {exc.problem}") from None
    if unmatched:
        shown = ", ".join(f"log.entries[{i}]" for i in unmatched[:_SHOWN])
        more = ", …" if len(unmatched) > _SHOWN else ""
        notes.append(
            f"{har_name}: {len(unmatched)} of {len(result.records)} events match no "
            f"[[expectations]] rule of {pilot_name}; they keep the generic keys "
            f"({shown}{more})"
        )
    return HarImport(records=records, notes=notes, entries=list(result.entries))
